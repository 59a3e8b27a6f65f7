// The drop-in mysql2 pool face: one real mysql2 pool per host behind mysql2's callback pool surface
// (query, execute, getConnection, end, escape, format, events), and `.promise()` as in mysql2.

import { EventEmitter } from 'node:events';
import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import type { FieldPacket, Pool as MyPool, PoolConnection, PoolOptions, QueryOptions } from 'mysql2';
import type { Host } from '../../src/host.js';
import type { PoolStats } from '../../src/pool.js';
import { isMultiHost, normalizeCluster, takeConnectRole, type ConnectRole, type CoreOptions, type HostExtras } from '../../src/config.js';
import { statementKind, type RoleRequest } from '../../src/routing.js';
import { endCore, forwardHostEvents, multiHostCore, singleHostCore, type Core } from '../../src/setup.js';
import { describeHost, mysqlDriverSpec } from './options.js';
import { mysqlDriver, poolCounts } from './driver.js';
import { probeHost } from './probe.js';
import { RoutingConnection } from './routing-connection.js';
import { PoolEndedError } from '../../src/errors.js';

/** One host in the multi-host form: mysql2 pool options plus `name` and `weight`. */
export interface HostConfig extends PoolOptions, HostExtras {}

/** The multi-host form; top-level mysql2 options apply to every host. */
export interface MultiHostConfig extends Omit<PoolOptions, 'host' | 'port' | 'uri'>, CoreOptions {
  primary?: string | HostConfig;
  replicas?: ReadonlyArray<string | HostConfig>;
  hosts?: ReadonlyArray<string | HostConfig>;
}

/** Options every form accepts besides mysql2's. */
export interface FaceOptions {
  /** What `getConnection()` without a role returns: 'primary' (default), 'replica', or 'auto' (a RoutingConnection). */
  connectRole?: RoleRequest | 'auto';
}

export type PoolConfig = ((PoolOptions | MultiHostConfig) & FaceOptions) | string;

/** mysql2 QueryOptions that may force where they run. */
export interface RoutedQueryOptions extends QueryOptions {
  role?: RoleRequest;
  /** Read-your-writes token from `pool.lastWriteToken()`. */
  after?: string | undefined;
}

/** Options of `getConnection()`. */
export interface GetConnectionOptions {
  /** Default 'primary' (or the pool's `connectRole`); 'auto' returns a RoutingConnection. */
  role?: RoleRequest | 'auto';
}

type QueryCallback = (err: Error | null, result?: unknown, fields?: FieldPacket[]) => void;
type Result = [unknown, FieldPacket[] | undefined];

interface PromiseInternals { pool: Pool; Promise: PromiseConstructor; getConnection(): Promise<unknown> }
const { PromisePool, PromisePoolConnection } = mysqlPromise as unknown as {
  PromisePool: new (pool: unknown, P?: PromiseConstructorLike) => PromiseInternals;
  PromisePoolConnection: new (conn: unknown, P?: PromiseConstructorLike) => unknown;
};

/** mysql2's PromisePool, plus `getConnection({ role })`. */
class RoutedPromisePool extends PromisePool {
  override getConnection(options?: GetConnectionOptions): Promise<unknown> {
    if (!options) return super.getConnection();
    return new this.Promise((resolve, reject) => {
      this.pool.getConnection(options, (err, conn) => (err || !conn ? reject(err) : resolve(new PromisePoolConnection(conn, this.Promise))));
    });
  }
}

/**
 * A mysql2 pool over a primary and its replicas.
 * @example
 * const pool = createPool({ primary: 'mysql://app:secret@db1/app', replicas: ['mysql://app:secret@db2/app'] });
 * const [rows] = await pool.promise().query('SELECT * FROM users WHERE id = ?', [1]); // a replica
 */
export class Pool extends EventEmitter {
  private readonly core: Core<MyPool, PoolConnection>;
  /** mysql2 has no pool-wide query timeout: `queryTimeoutMillis` becomes each statement's `timeout`. */
  private readonly queryTimeout: number | undefined;

  private readonly connectRole: ConnectRole;

  constructor(config?: PoolConfig) {
    super();
    const taken = takeConnectRole(config);
    this.connectRole = taken.connectRole;
    config = taken.rest;
    if (isMultiHost(config)) {
      const spec = normalizeCluster(config as unknown as Record<string, unknown>, mysqlDriverSpec);
      this.core = multiHostCore(spec, mysqlDriverSpec, (h) => mysql.createPool(h.options), mysqlDriver, poolCounts, (h, timeout) => () => probeHost(h.options, timeout));
      this.queryTimeout = spec.queryTimeoutMillis;
    } else {
      const single = (typeof config === 'string' ? { uri: config } : config ?? {}) as PoolOptions;
      const pool = mysql.createPool(single);
      this.queryTimeout = undefined;
      this.core = singleHostCore(describeHost(single), pool, single.connectionLimit ?? 10, mysqlDriver, poolCounts);
    }
    for (const host of this.core.cluster.hosts) this.forwardEvents(host);
    forwardHostEvents(this.core.cluster, this);
  }

  private forwardEvents(host: Host<MyPool>): void {
    const d = host.driver;
    d.on('connection', (conn) => this.emit('connection', conn, host.info));
    d.on('acquire', (conn) => this.emit('acquire', conn, host.info));
    d.on('release', (conn) => this.emit('release', conn, host.info));
    d.on('enqueue', () => this.emit('enqueue', host.info));
    (d as unknown as EventEmitter).on('error', (err: Error) => this.emit('error', err, host.info));
  }

  /** The primary's mysql2 pool config (used by `.promise()`, `escape`, `format`). */
  get config(): MyPool['config'] {
    return this.core.cluster.hosts[0]!.driver.config;
  }

  /** True once `end()` was called (mysql2's pool field). */
  get _closed(): boolean {
    return this.core.cluster.ending;
  }

  /**
   * mysql2's `pool.query`, routed: reads to a replica, writes to the primary.
   * @example pool.query('UPDATE users SET name = ? WHERE id = ?', ['x', 1], (err, res) => {});
   */
  query(sql: string | RoutedQueryOptions, callback?: QueryCallback): void;
  query(sql: string | RoutedQueryOptions, values: unknown, callback?: QueryCallback): void;
  query(sql: string | RoutedQueryOptions, values?: unknown, callback?: QueryCallback): void {
    this.dispatch('query', sql, values, callback);
  }

  /**
   * mysql2's `pool.execute` (a prepared statement on the chosen host), routed like `query`.
   * @example pool.execute('SELECT * FROM users WHERE id = ?', [1], (err, rows) => {});
   */
  execute(sql: string | RoutedQueryOptions, callback?: QueryCallback): void;
  execute(sql: string | RoutedQueryOptions, values: unknown, callback?: QueryCallback): void;
  execute(sql: string | RoutedQueryOptions, values?: unknown, callback?: QueryCallback): void {
    this.dispatch('execute', sql, values, callback);
  }

  private dispatch(method: 'query' | 'execute', sql: string | RoutedQueryOptions, values: unknown, callback: QueryCallback | undefined): void {
    if (typeof values === 'function') {
      callback = values as QueryCallback;
      values = undefined;
    }
    const cb: QueryCallback = callback ?? ((err) => { if (err) this.emit('error', err); });
    const options = typeof sql === 'object' && sql !== null ? sql : undefined;
    const text = options ? options.sql : sql;
    const role = options?.role;
    const after = options?.after;
    let statement: string | QueryOptions = sql as string;
    if (options) {
      const { role: _role, after: _after, ...rest } = options;
      statement = rest;
    }
    if (this.queryTimeout !== undefined) {
      statement = typeof statement === 'string' ? { sql: statement, timeout: this.queryTimeout } : { timeout: this.queryTimeout, ...statement };
    }
    const kind = statementKind(text, role, 'mysql');
    this.core.executor.run<Result>({
      kind, role, after, text: typeof text === 'string' ? text : undefined,
      run(conn, done) {
        const handler = (err: Error | null, rows?: unknown, fields?: FieldPacket[]) => done(err ?? undefined, [rows, fields]);
        if (values === undefined) (conn[method] as (s: unknown, cb: unknown) => void)(statement, handler);
        else (conn[method] as (s: unknown, v: unknown, cb: unknown) => void)(statement, values, handler);
      },
    }, (err, result) => (err ? cb(err) : cb(null, result?.[0], result?.[1])));
  }

  /**
   * Leases a connection (the primary unless `{ role: 'replica' }`); statements on it stay on that
   * host until `conn.release()`.
   * @example pool.getConnection((err, conn) => { conn.query('BEGIN', ...); conn.release(); });
   */
  getConnection(callback: (err: Error | null, conn?: PoolConnection) => void): void;
  getConnection(options: GetConnectionOptions, callback: (err: Error | null, conn?: PoolConnection) => void): void;
  getConnection(a: GetConnectionOptions | ((err: Error | null, conn?: PoolConnection) => void), b?: (err: Error | null, conn?: PoolConnection) => void): void {
    const options = typeof a === 'function' ? {} : a;
    const callback = (typeof a === 'function' ? a : b)!;
    const role = options.role ?? this.connectRole;
    if (role === 'auto') {
      setImmediate(() => {
        if (this.core.cluster.ending) return callback(new PoolEndedError());
        callback(null, new RoutingConnection(this) as unknown as PoolConnection);
      });
      return;
    }
    this.core.executor.lease(role, (err, lease) => {
      if (err || !lease) return callback(err ?? new Error('no connection'));
      const conn = lease.conn;
      const proto = Object.getPrototypeOf(conn) as PoolConnection;
      // Each lease gets its own release/destroy that end the lease, then do what mysql2 does.
      conn.release = () => {
        lease.end();
        proto.release.call(conn);
      };
      conn.destroy = () => {
        lease.end(true);
        proto.destroy.call(conn);
      };
      callback(null, conn);
    });
  }

  /** As mysql2: gives a leased connection back. */
  releaseConnection(conn: PoolConnection): void {
    conn.release();
  }

  /**
   * Closes every host's pool.
   * @example pool.end((err) => {});
   */
  end(callback?: (err?: Error | null) => void): void {
    if (this.core.cluster.ending) {
      callback?.(null);
      return;
    }
    endCore(this.core, (p) => new Promise<void>((resolve, reject) => p.end((err) => (err ? reject(err) : resolve())))).then(
      () => callback?.(null),
      (err: Error) => callback?.(err),
    );
  }

  /** mysql2's promise wrapper around this pool: `query`/`execute` resolve to `[rows, fields]`. */
  promise(promiseImpl?: PromiseConstructorLike): PromisePoolLike {
    return new RoutedPromisePool(this, promiseImpl) as unknown as PromisePoolLike;
  }

  private get connectionConfig(): { stringifyObjects?: boolean; timezone?: string } {
    return (this.config as unknown as { connectionConfig: { stringifyObjects?: boolean; timezone?: string } }).connectionConfig;
  }

  escape(value: unknown): string {
    return (mysql.escape as (v: unknown, s?: boolean, tz?: string) => string)(value, this.connectionConfig.stringifyObjects, this.connectionConfig.timezone);
  }

  escapeId(value: string | string[]): string {
    return mysql.escapeId(value);
  }

  format(sql: string, values?: unknown): string {
    return (mysql.format as (q: string, v?: unknown, s?: boolean, tz?: string) => string)(sql, values, this.connectionConfig.stringifyObjects, this.connectionConfig.timezone);
  }

  /** The GTID position after this pool's last write (read-your-writes), as a token for `{ sql, after }`. */
  lastWriteToken(): string | undefined {
    return this.core.executor.lastWriteToken();
  }

  /** Per-host snapshot, as in `p2c-pool/pg`. */
  stats(): PoolStats {
    return this.core.cluster.stats();
  }
}

/** The promise pool mysql2 builds around a callback pool. */
export interface PromisePoolLike extends EventEmitter {
  query<T = unknown>(sql: string | RoutedQueryOptions, values?: unknown): Promise<[T, FieldPacket[]]>;
  execute<T = unknown>(sql: string | RoutedQueryOptions, values?: unknown): Promise<[T, FieldPacket[]]>;
  /** The primary, or `{ role: 'replica' }`; pinned until `conn.release()`. */
  getConnection(options?: GetConnectionOptions): Promise<import('mysql2/promise').PoolConnection>;
  releaseConnection(conn: import('mysql2/promise').PoolConnection): void;
  end(): Promise<void>;
  escape(value: unknown): string;
  escapeId(value: string | string[]): string;
  format(sql: string, values?: unknown): string;
  readonly pool: Pool;
}

/**
 * Creates a pool: the multi-host form (`primary`/`replicas`, or `hosts`) or a plain mysql2 config.
 * @example const pool = createPool({ primary: 'mysql://app@db1/app', replicas: ['mysql://app@db2/app'], connectionLimit: 10 });
 */
export function createPool(config?: PoolConfig): Pool {
  return new Pool(config);
}
