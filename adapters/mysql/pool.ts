// The drop-in mysql2 pool face: one real mysql2 pool per host behind mysql2's callback pool surface
// (query, execute, getConnection, end, escape, format, events), and `.promise()` as in mysql2.

import { EventEmitter } from 'node:events';
import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';

const createQuery = (mysql as unknown as { createQuery(sql: unknown, values: unknown, cb: unknown, config: unknown): Query }).createQuery;
import type { FieldPacket, Pool as MyPool, PoolConnection, PoolOptions, Query, QueryOptions } from 'mysql2';
import type { Host, HostInfo, HostStats } from '../../src/host.js';
import type { HostEvents, TypedEmitter } from '../../src/events.js';
import type { PoolStats } from '../../src/pool.js';
import { isMultiHost, normalizeCluster, takeConnectRole, type ConnectRole, type CoreOptions, type HostExtras } from '../../src/config.js';
import { sessionEffect, statementKind, type RoleRequest, type StatementKind } from '../../src/routing.js';
import { hasRawValue, lastStatus, leavesTransaction, watchTransactions } from './transactions.js';
import { describePool, endCore, forwardHostEvents, hostChanges, multiHostCore, singleHostCore, type Core } from '../../src/setup.js';
import { describeHost, mysqlDriverSpec } from './options.js';
import { connectionPrototype, forgetSessionMode, hideConfig, mysqlDriver, poolCounts } from './driver.js';
import { probeHost } from './probe.js';
import { createHostPool } from './cancel.js';
import { RoutingConnection } from './routing-connection.js';
import { ConfigError } from '../../src/errors.js';
import { inspect } from 'node:util';

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

/** The events of the mysql face: mysql2's pool events, each with the host it happened on, and the host events. */
export interface PoolEvents extends HostEvents {
  /** A new connection was made. */
  connection: [conn: PoolConnection, host: HostInfo];
  /** A connection was handed out. */
  acquire: [conn: PoolConnection, host: HostInfo];
  /** A connection was given back. */
  release: [conn: PoolConnection, host: HostInfo];
  /** A request waits for a connection. */
  enqueue: [host: HostInfo];
  /** A pool-level error (an idle connection failed, or a callback-less query failed). */
  error: [err: Error, host?: HostInfo];
}

/** A mysql2 Query command with what routing needs to know of its statement. @internal */
export interface Command {
  readonly query: Query;
  readonly prepared: { readonly text: string | undefined; readonly role: RoleRequest | undefined; readonly after: string | undefined; readonly kind: StatementKind };
}

/** Options of `getConnection()`. */
export interface GetConnectionOptions {
  /** Default 'primary' (or the pool's `connectRole`); 'auto' returns a RoutingConnection. */
  role?: RoleRequest | 'auto';
}

type QueryCallback = (err: Error | null, result?: unknown, fields?: FieldPacket[]) => void;
type Result = [unknown, FieldPacket[] | undefined];

interface PromiseInternals { pool: Pool; Promise: PromiseConstructor; getConnection(): Promise<unknown>; query(sql: unknown, args?: unknown): Promise<unknown>; execute(sql: unknown, args?: unknown): Promise<unknown>; end(): Promise<void> }
const { PromisePool, PromisePoolConnection } = mysqlPromise as unknown as {
  PromisePool: new (pool: unknown, P?: PromiseConstructorLike) => PromiseInternals;
  PromisePoolConnection: new (conn: unknown, P?: PromiseConstructorLike) => unknown;
};

/**
 * mysql2's PromisePool, plus `getConnection({ role })`. `query`/`execute` reject with the error the
 * callback pool gave (as mysql2 3.10+ does; 3.9 copied a few fields onto a new Error, which would
 * drop `fatal` and p2c's `p2cCode`/`host`), with the caller's stack when mysql2's `trace` is on.
 */
class RoutedPromisePool extends PromisePool {
  override getConnection(options?: GetConnectionOptions): Promise<unknown> {
    if (!options) return super.getConnection();
    return new this.Promise((resolve, reject) => {
      this.pool.getConnection(options, (err, conn) => (err || !conn ? reject(err) : resolve(new PromisePoolConnection(conn, this.Promise))));
    });
  }

  override query(sql: unknown, args?: unknown): Promise<unknown> {
    return this.call('query', sql, args, RoutedPromisePool.prototype.query);
  }

  override execute(sql: unknown, args?: unknown): Promise<unknown> {
    return this.call('execute', sql, args, RoutedPromisePool.prototype.execute);
  }

  /** As mysql2: `await using pool = createPool(...).promise()` ends the pool (also on mysql2 versions without it). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.pool._closed) await this.end();
  }

  private call(method: 'query' | 'execute', sql: unknown, args: unknown, from: (...a: never[]) => unknown): Promise<unknown> {
    if (typeof args === 'function') throw new Error('Callback function is not available with promise clients.');
    const caller: { stack?: string } = {};
    const trace = this.pool.connectionConfig.trace !== false;
    if (trace) Error.captureStackTrace(caller, from);
    return new this.Promise((resolve, reject) => {
      const done = (err: Error | null, rows?: unknown, fields?: unknown) => {
        if (!err) return resolve([rows, fields]);
        if (caller.stack) err.stack = `${err.name}: ${err.message}${caller.stack.slice(caller.stack.indexOf('\n'))}`;
        reject(err);
      };
      if (args !== undefined) (this.pool[method] as (s: unknown, v: unknown, cb: unknown) => void)(sql, args, done);
      else (this.pool[method] as (s: unknown, cb: unknown) => void)(sql, done);
    });
  }
}

/**
 * A mysql2 pool over a primary and its replicas.
 * @example
 * const pool = createPool({ primary: 'mysql://app:secret@db1/app', replicas: ['mysql://app:secret@db2/app'] });
 * const [rows] = await pool.promise().query('SELECT * FROM users WHERE id = ?', [1]); // a replica
 */
export class Pool extends (EventEmitter as unknown as new () => TypedEmitter<PoolEvents>) {
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
      this.core = multiHostCore(spec, mysqlDriverSpec, (h) => createHostPool(h.options), mysqlDriver, poolCounts, (h, timeout) => () => probeHost(h.options, timeout),
        (p) => new Promise<void>((resolve) => p.end(() => resolve())));
      this.template = () => createHostPool(spec.shared as PoolOptions);
      this.queryTimeout = spec.queryTimeoutMillis;
    } else {
      const single = (typeof config === 'string' ? { uri: config } : config ?? {}) as PoolOptions;
      // mysql2 throws the URL parser's TypeError, whose `input` holds the password: say it without.
      const reason = single.uri === undefined ? undefined : mysqlDriverSpec.check?.('uri', single.uri);
      if (reason !== undefined) throw new ConfigError('uri', reason);
      const pool = mysql.createPool(single);
      this.queryTimeout = undefined;
      this.core = singleHostCore(describeHost(single), pool, single.connectionLimit ?? 10, mysqlDriver, poolCounts);
    }
    forwardHostEvents(this.core, this, (host) => {
      // A host added after changes made through pool.config gets them too (none yet at creation).
      replayConfigChanges(host.driver.config as unknown as Record<string | symbol, unknown>, this.configChanges);
      this.forwardEvents(host);
      this.sharedConfig = undefined; // the shared view covers the hosts there are now
    });
    this.core.cluster.onMembership({ removed: () => { this.sharedConfig = undefined; } });
  }

  /** A mysql2 pool of the shared options, for pool-level fields while no host is known (discovery pending). */
  private template: (() => MyPool) | undefined;
  private templatePool: MyPool | undefined;

  /** The primary's mysql2 pool, else any host's, else one of the shared options (it never connects). */
  private primaryDriver(): MyPool {
    return this.core.cluster.primaryDriver() ?? (this.templatePool ??= this.template!());
  }

  /**
   * Adds a host at run time (multi-host form): a `mysql://` URL or mysql2 options, with `name` and
   * `weight`; the pool's shared options apply. It serves once its first health check confirmed its
   * role; resolves with its stats then.
   * @example await pool.addHost({ host: 'db4', port: 3306 });
   */
  addHost(config: string | HostConfig): Promise<HostStats> {
    return hostChanges.add(this.core, config);
  }

  /**
   * Removes a host: no new work goes there at once, what runs there finishes, its connections close
   * once released (after `drainTimeoutMillis` at the latest). Resolves when it is gone.
   */
  removeHost(name: string): Promise<void> {
    return hostChanges.remove(this.core, name);
  }

  /** Makes the pool's hosts exactly `hosts` (told apart by name): new ones added, missing ones drained and removed. */
  setHosts(hosts: ReadonlyArray<string | HostConfig>): Promise<void> {
    return hostChanges.set(this.core, hosts);
  }

  /** @internal Where routing clients pin transactions and session state (see targetSessionAttrs). */
  get pinRole(): 'primary' | 'replica' {
    return this.core.cluster.pinRole;
  }


  private forwardEvents(host: Host<MyPool>): void {
    const d = host.driver;
    d.on('connection', (conn) => this.emit('connection', hideConfig(conn), host.info));
    // Emitted for every query: nothing is prepared for an event nobody listens to.
    d.on('acquire', (conn) => this.listenerCount('acquire') !== 0 && this.emit('acquire', hideConfig(conn), host.info));
    d.on('release', (conn) => this.listenerCount('release') !== 0 && this.emit('release', hideConfig(conn), host.info));
    d.on('enqueue', () => this.emit('enqueue', host.info));
    (d as unknown as EventEmitter).on('error', (err: Error) => this.emit('error', err, host.info));
  }

  /**
   * The pool config, read from the primary's mysql2 pool. A change made through it after creation
   * (e.g. `pool.config.connectionConfig.namedPlaceholders = true`) reaches every host, except
   * where each host has its own value (host, port, user, password, database, socketPath).
   */
  get config(): MyPool['config'] {
    if (this.sharedConfig !== undefined) return this.sharedConfig as unknown as MyPool['config'];
    const configs = this.core.cluster.hosts.length > 0 ? this.core.cluster.hosts.map((h) => h.driver.config) : [this.primaryDriver().config];
    return (this.sharedConfig ??= sharedConfig(configs as unknown as Record<string | symbol, unknown>[], this.configChanges)) as unknown as MyPool['config'];
  }
  private sharedConfig: object | undefined;
  /** Changes made through `pool.config`, for hosts added later. */
  private readonly configChanges: ConfigChange[] = [];

  /** True once `end()` was called (mysql2's pool field). */
  get _closed(): boolean {
    return this.core.cluster.ending;
  }

  /**
   * mysql2's own pool fields, for tools and tests that read them: the primary's pool (the only
   * host's in the single-host form). Other hosts' connections are in `stats()`.
   */
  get _allConnections(): unknown { return this.primaryPool()._allConnections; }
  get _freeConnections(): unknown { return this.primaryPool()._freeConnections; }
  get _connectionQueue(): unknown { return this.primaryPool()._connectionQueue; }

  private primaryPool(): { _allConnections?: unknown; _freeConnections?: unknown; _connectionQueue?: unknown } {
    return this.primaryDriver() as unknown as { _allConnections?: unknown; _freeConnections?: unknown; _connectionQueue?: unknown };
  }

  /**
   * mysql2's `pool.query`, routed: reads to a replica, writes to the primary. Without a callback
   * it returns mysql2's Query emitter (`.on('result')`, `.on('fields')`, `.on('end')`, `.stream()`),
   * as mysql2 does; rows then flow to the caller as they come, so such a statement is never re-run.
   * @example pool.query('UPDATE users SET name = ? WHERE id = ?', ['x', 1], (err, res) => {});
   * @example pool.query('SELECT * FROM big').stream().pipe(sink);
   */
  query(sql: string | RoutedQueryOptions, callback: QueryCallback): void;
  query(sql: string | RoutedQueryOptions, values: unknown, callback: QueryCallback): void;
  query(sql: string | RoutedQueryOptions, values?: unknown): Query;
  query(sql: string | RoutedQueryOptions, values?: unknown, callback?: QueryCallback): Query | void {
    if (callback === undefined && typeof values !== 'function') return this.stream(sql, values);
    this.dispatch('query', sql, values, callback);
  }

  /** The callback-less form of `query`: mysql2's own Query command, run on the chosen host's connection. */
  private stream(sql: string | RoutedQueryOptions, values: unknown): Query {
    const command = this.command(sql, values);
    this.runCommand(command, () => {});
    return command.query;
  }

  /** mysql2's Query command for a statement (its options, with the pool's timeout), classified, not yet run. @internal */
  command(sql: string | RoutedQueryOptions, values: unknown): Command {
    const prepared = this.prepare(sql, values);
    const config = this.connectionConfig;
    const query = createQuery(prepared.statement, values, undefined, config) as Query & { namedPlaceholders?: boolean | undefined };
    if (query.namedPlaceholders === undefined) query.namedPlaceholders = config.namedPlaceholders;
    return { query, prepared };
  }

  /**
   * Runs a command routed like `query`; `done` once it ended. Rows reach the command's consumer as
   * they come, so it is never re-run. @internal
   */
  runCommand({ query: command, prepared }: Command, done: (err?: Error) => void): void {
    const { text, role, after, kind } = prepared;
    const emitter = command as unknown as EventEmitter;
    let status: number | undefined;
    let failed = false;
    this.core.executor.run<void>({
      kind, role, after, text, retriable: false, measure: false,
      leftTransaction: () => (status !== undefined ? leavesTransaction(status) : typeof text !== 'string' || opens(text, failed)),
      inTransaction: () => (status !== undefined ? leavesTransaction(status) : undefined),
      run(conn, finish) {
        forgetIfSessionOnReplica(conn, role, text);
        let error: Error | undefined;
        emitter.on('result', (row: unknown) => { status = lastStatus(row, undefined) ?? status; });
        emitter.once('error', (err: Error) => { error = err; failed = true; });
        // mysql2 never ends a callback-less command whose connection died: the connection's own end
        // or error ends it here, so the host's in-flight count and the lease are released.
        const lost = (err?: Error) => finish(err ?? new Error('Connection lost: the server closed the connection.'));
        conn.once('end', lost);
        conn.once('error', lost);
        conn.query(command as never).once('end', () => {
          conn.removeListener('end', lost);
          conn.removeListener('error', lost);
          finish(error);
        });
      },
    }, (err) => {
      // Once running, the command reports its own errors; a failure to get a connection is emitted here, as mysql2 does.
      if (err && !failed && emitter.listenerCount('error') > 0) emitter.emit('error', err);
      done(err);
    });
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

  /** What routing needs of a statement: its text, role, token, the statement for mysql2 and its kind. */
  private prepare(sql: string | RoutedQueryOptions, values: unknown): { text: string | undefined; role: RoleRequest | undefined; after: string | undefined; statement: string | QueryOptions; kind: StatementKind } {
    const options = typeof sql === 'object' && sql !== null ? sql : undefined;
    const text = options ? options.sql : sql;
    const role = options?.role;
    let statement: string | QueryOptions = sql as string;
    if (options) {
      const { role: _role, after: _after, ...rest } = options;
      statement = rest;
    }
    if (this.queryTimeout !== undefined) {
      statement = typeof statement === 'string' ? { sql: statement, timeout: this.queryTimeout } : { timeout: this.queryTimeout, ...statement };
    }
    // Raw SQL in the values (mysql.raw(), toSqlString()) is pasted into the text by mysql2, unseen
    // by the classifier: such a statement is a write unless a role says otherwise.
    const raw = hasRawValue(values) || hasRawValue(options?.values);
    const kind = raw && role === undefined ? 'write' : statementKind(text, role, 'mysql');
    return { text: typeof text === 'string' ? text : undefined, role, after: options?.after, statement, kind };
  }

  private dispatch(method: 'query' | 'execute', sql: string | RoutedQueryOptions, values: unknown, callback: QueryCallback | undefined): void {
    if (typeof values === 'function') {
      callback = values as QueryCallback;
      values = undefined;
    }
    const cb: QueryCallback = callback ?? ((err) => { if (err) this.emit('error', err); });
    const { text, role, after, statement, kind } = this.prepare(sql, values);
    const raw = hasRawValue(values) || (typeof sql === 'object' && sql !== null && hasRawValue(sql.values));
    let status: number | undefined;
    let failed = false;
    this.core.executor.run<Result>({
      kind, role, after, text,
      // The server's status flags (OK packets) say whether a transaction is open; a result set
      // carries none, so then the statement's own text decides (after a failure, any session
      // effect counts: `SET autocommit = 0; <failing statement>` leaves autocommit off).
      leftTransaction: () => (status !== undefined ? leavesTransaction(status) : raw || (typeof text === 'string' && opens(text, failed))),
      inTransaction: () => (status !== undefined ? leavesTransaction(status) : undefined),
      run(conn, done) {
        forgetIfSessionOnReplica(conn, role, text);
        const handler = (err: Error | null, rows?: unknown, fields?: FieldPacket[]) => {
          status = lastStatus(rows, fields);
          failed = err !== null && err !== undefined;
          done(err ?? undefined, [rows, fields]);
        };
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
        if (this.core.cluster.ending) return callback(this.core.cluster.endedError());
        callback(null, new RoutingConnection(this) as unknown as PoolConnection);
      });
      return;
    }
    this.core.executor.lease(role, (err, lease) => {
      if (err || !lease) return callback(err ?? new Error('no connection'));
      const conn = lease.conn;
      const own = conn as unknown as Record<string, unknown>;
      const leftOpen = watchTransactions(conn, connectionPrototype);
      // Each lease gets its own release/destroy, removed when it ends: a stale override left on
      // the connection would turn mysql2's own later destroy() (its idle reaper) into a no-op.
      const end = (destroy: boolean) => {
        delete own['release'];
        delete own['destroy'];
        forgetSessionMode(conn); // the user may have changed the session's access mode
        // Still inside a transaction or with autocommit off: pooled, it would take the next
        // request's writes into a transaction nobody commits. mysql2 pools it; we destroy it.
        const open = leftOpen();
        lease.end(destroy || open ? true : undefined);
      };
      conn.release = () => end(false);
      conn.destroy = () => end(true);
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

  /** As mysql2: `using pool = createPool(...)` ends the pool when the scope exits. */
  [Symbol.dispose](): void {
    if (!this.core.cluster.ending) this.end();
  }

  /** mysql2's promise wrapper around this pool: `query`/`execute` resolve to `[rows, fields]`. */
  promise(promiseImpl?: PromiseConstructorLike): PromisePoolLike {
    return new RoutedPromisePool(this, promiseImpl) as unknown as PromisePoolLike;
  }

  /**
   * The first host's connection config: what `pool.config` shows and writes through to every host,
   * read without its view (per statement; a change made through the view is in it too). @internal
   */
  get connectionConfig(): { stringifyObjects?: boolean; timezone?: string; namedPlaceholders?: boolean; trace?: boolean } {
    const first = this.core.cluster.hosts[0]?.driver ?? this.primaryDriver();
    return (first.config as unknown as { connectionConfig: { stringifyObjects?: boolean; timezone?: string; namedPlaceholders?: boolean; trace?: boolean } }).connectionConfig;
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

  /** What `console.log(pool)` shows: hosts and counters, never options (they hold passwords). */
  [inspect.custom](): string {
    const c = this.core.cluster;
    return `Pool ${inspect(describePool(c, c.sum((p) => poolCounts(p).total), c.sum((p) => poolCounts(p).idle), c.sum((p) => poolCounts(p).waiting)))}`;
  }

  /** Per-host snapshot, as in `p2c-pool/pg`. */
  stats(): PoolStats {
    return this.core.cluster.stats();
  }
}

/**
 * Only an explicit replica role runs a session statement on a replica (the classifier sends them to
 * the primary): it may change the session's access mode, which is then set again before next use.
 */
function forgetIfSessionOnReplica(conn: PoolConnection, role: RoleRequest | undefined, text: string | undefined): void {
  if (role === 'replica' && typeof text === 'string' && sessionEffect(text, 'mysql') !== 'none') forgetSessionMode(conn);
}

/** Options each host keeps for itself when a config is changed through `pool.config`. */
const PER_HOST_KEYS = new Set<string | symbol>(['host', 'port', 'user', 'password', 'database', 'socketPath', 'uri']);

/** A change made through `pool.config` (not of a per-host key), replayed on hosts added later. */
export interface ConfigChange {
  readonly path: readonly (string | symbol)[];
  readonly key: string | symbol;
  readonly value?: unknown;
  readonly deleted?: boolean;
}

/**
 * A view of the first config that writes through to all (nested objects such as connectionConfig
 * too), and records each change in `log` for the hosts added later (see replayConfigChanges).
 */
function sharedConfig(configs: readonly Record<string | symbol, unknown>[], log: ConfigChange[], path: readonly (string | symbol)[] = []): object {
  const first = configs[0]!;
  const nested = new Map<string | symbol, object>();
  return new Proxy(first, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== 'object' || value === null || Array.isArray(value) || !configs.every((c) => typeof c[key] === 'object' && c[key] !== null)) return value;
      let view = nested.get(key);
      if (!view) nested.set(key, (view = sharedConfig(configs.map((c) => c[key] as Record<string | symbol, unknown>), log, [...path, key])));
      return view;
    },
    set(_target, key, value) {
      nested.delete(key);
      if (PER_HOST_KEYS.has(key)) {
        first[key] = value;
        return true;
      }
      log.push({ path, key, value });
      for (const c of configs) setShared(c, key, value, c === first);
      return true;
    },
    deleteProperty(_target, key) {
      nested.delete(key);
      if (!PER_HOST_KEYS.has(key)) log.push({ path, key, deleted: true });
      for (const c of PER_HOST_KEYS.has(key) ? [first] : configs) delete c[key];
      return true;
    },
  });
}

/** Sets a shared key on one host's config; a whole object replaced keeps the host's own address and login. */
function setShared(c: Record<string | symbol, unknown>, key: string | symbol, value: unknown, isFirst: boolean): void {
  const old = c[key];
  if (!isFirst && isPlainRecord(value) && isPlainRecord(old)) {
    const copy = Object.assign(Object.create(Object.getPrototypeOf(value) as object) as Record<string | symbol, unknown>, value);
    for (const k of PER_HOST_KEYS) if (k in old) copy[k] = old[k];
    c[key] = copy;
  } else {
    c[key] = value;
  }
}

/** Applies the changes made through `pool.config` to the config of a host added since. */
function replayConfigChanges(config: Record<string | symbol, unknown>, log: readonly ConfigChange[]): void {
  for (const change of log) {
    let target: unknown = config;
    for (const k of change.path) target = isPlainRecord(target) ? target[k] : undefined;
    if (!isPlainRecord(target)) continue;
    if (change.deleted) delete target[change.key];
    else setShared(target, change.key, change.value, false);
  }
}

function isPlainRecord(value: unknown): value is Record<string | symbol, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether a text may have left a transaction open, by its session effect (when no OK packet tells). */
function opens(text: string, failed: boolean): boolean {
  const effect = sessionEffect(text, 'mysql');
  return effect === 'begin' || (failed && effect === 'session');
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
