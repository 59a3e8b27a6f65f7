// The drop-in pg.Pool face: one real pg.Pool per host behind the pg-pool surface (query, connect, end,
// counters, events), with each statement routed by the core and measured on the connection it ran on.

import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Host, HostInfo, HostStats } from '../../src/host.js';
import type { HostEvents, TypedEmitter } from '../../src/events.js';
import type { PoolStats } from '../../src/pool.js';
import { isMultiHost, normalizeCluster, takeConnectRole, type ConnectRole, type CoreOptions, type HostExtras } from '../../src/config.js';
import { classify, statementKind, type RoleRequest } from '../../src/routing.js';
import { endCore, forwardHostEvents, hostChanges, multiHostCore, singleHostCore, type Core } from '../../src/setup.js';
import type { Callback } from '../../src/driver.js';
import { describeHost, expandMultiHostUrls, pgDriverSpec, splitMultiHostUrl } from './options.js';
import { probeHost } from './probe.js';
import { forgetSessionMode, pgDriver } from './driver.js';
import { failSubmittable, RoutingClient } from './routing-client.js';
import { ConfigError } from '../../src/errors.js';
import { inspect } from 'node:util';
import { describePool } from '../../src/setup.js';

/** One host in the multi-host form: pg.Pool options plus `name` and `weight`. */
export interface HostConfig extends pg.PoolConfig, HostExtras {}

/** Pool options every form accepts besides pg's. */
export interface FaceOptions {
  /** What `connect()` without a role returns: 'primary' (default), 'replica', or 'auto' (a RoutingClient). */
  connectRole?: RoleRequest | 'auto';
}

/**
 * The multi-host form. Top-level pg.Pool options (`max`, timeouts, `ssl`, ...) apply to every host;
 * a host given as an object overrides them for itself.
 */
export interface MultiHostConfig extends Omit<pg.PoolConfig, 'host' | 'port' | 'connectionString'>, CoreOptions {
  /** The primary: a connection string or pg options. Receives writes, transactions and `connect()`. */
  primary?: string | HostConfig;
  /** Read replicas. Reads are balanced over them. */
  replicas?: ReadonlyArray<string | HostConfig>;
  /** Instead of primary/replicas: hosts whose roles the pool discovers (pg_is_in_recovery()) and follows on failover. */
  hosts?: ReadonlyArray<string | HostConfig>;
}

/** Either a plain pg.Pool config (one host, behaves exactly like pg.Pool) or the multi-host form. */
export type PoolOptions = (pg.PoolConfig | MultiHostConfig) & FaceOptions;
/** The same as PoolOptions, under pg's name. */
export type PoolConfig = PoolOptions;

/** A pg QueryConfig that may force where it runs. */
export interface RoutedQueryConfig<I = unknown[]> extends pg.QueryConfig<I> {
  /** 'primary' or 'replica' overrides the statement's classification. */
  role?: RoleRequest;
  /** Read-your-writes token (from `pool.lastWriteToken()`): only a replica that replayed it may serve this read. */
  after?: string | undefined;
}

/** Options of `pool.connect()`. */
export interface ConnectOptions {
  /**
   * 'primary' (default, or the pool's `connectRole`) leases a primary connection; 'replica' a
   * replica connection; 'auto' returns a RoutingClient that routes each statement like
   * `pool.query` and pins to the primary only for transactions and session state.
   */
  role?: RoleRequest | 'auto';
}

type ConnectCallback = (err: Error | undefined, client?: pg.PoolClient, done?: (release?: Error | boolean) => void) => void;
const PgPool = pg.Pool;
const counts = (d: pg.Pool) => ({ total: d.totalCount, idle: d.idleCount, waiting: d.waitingCount });

interface LooseClient { query(config: unknown, values: unknown, cb: (err: Error | undefined, res: pg.QueryResult) => void): void }

/**
 * A pg.Pool over a primary and its read replicas.
 *
 * @example
 * const pool = new Pool({ primary: 'postgres://app@db1/app', replicas: ['postgres://app@db2/app'] });
 * await pool.query('SELECT 1');            // a replica
 * await pool.query('INSERT INTO t VALUES (1)'); // the primary
 * const client = await pool.connect();      // the primary, until client.release()
 */
// At run time Pool extends pg.Pool, so `pool instanceof pg.Pool` holds (Prisma's adapter and Drizzle
// check it); every method and accessor of pg.Pool is overridden, and pg-pool's own state is unused.
// pg-pool's constructor writes options/ending/ended/Client: the setters below keep those writes
// aside (`base`) and the getters answer from them until the core exists.
// pg's own `on` signature is kept beside the typed one, so that a Pool is assignable to pg.Pool.
const PgPoolBase = pg.Pool as unknown as new (options?: unknown) => TypedEmitter<PoolEvents> & Pick<pg.Pool, 'on'>;

/** The events of the pg face: pg.Pool's, each with the host it happened on, and the host events. */
export interface PoolEvents extends HostEvents {
  /** A new connection was made. */
  connect: [client: pg.PoolClient, host: HostInfo];
  /** A connection was handed out. */
  acquire: [client: pg.PoolClient, host: HostInfo];
  /** A connection was given back (`err` as passed to release). */
  release: [err: Error | boolean | undefined, client: pg.PoolClient, host: HostInfo];
  /** A connection was closed and removed. */
  remove: [client: pg.PoolClient, host: HostInfo];
  /** An idle connection failed (the server went away); without a listener it throws, as in pg. */
  error: [err: Error, client: pg.PoolClient, host: HostInfo];
}
interface BaseFields extends Partial<PgPoolState> { options?: pg.PoolOptions; ending?: boolean; ended?: boolean; Client?: typeof pg.Client }
/** pg-pool's internal arrays (not in its typings). */
interface PgPoolState { _clients: unknown[]; _idle: unknown[]; _pendingQueue: unknown[] }
const noop = (): void => {};

export class Pool extends PgPoolBase {
  private readonly core: Core<pg.Pool, pg.PoolClient>;
  private readonly promiseCtor: PromiseConstructorLike;
  private readonly connectRole: ConnectRole;

  /** As pg.Pool: a custom Client class goes in the `Client` option (pg.Pool ignores a second argument). */
  constructor(config?: PoolOptions) {
    super({ max: 1 } as never);
    config = expandMultiHostUrls(config);
    const taken = takeConnectRole(config);
    this.connectRole = taken.connectRole;
    config = taken.rest;
    if (isMultiHost(config)) {
      const spec = normalizeCluster(config as unknown as Record<string, unknown>, pgDriverSpec);
      const withTimeout = (o: pg.PoolConfig): pg.PoolConfig =>
        (spec.queryTimeoutMillis === undefined || o.query_timeout !== undefined ? o : { ...o, query_timeout: spec.queryTimeoutMillis });
      this.core = multiHostCore(spec, pgDriverSpec, (h) => new PgPool(withTimeout(h.options)), pgDriver, counts,
        (h, timeout) => () => probeHost(h.options, timeout), (p) => p.end());
      this.template = () => new PgPool(withTimeout(spec.shared as pg.PoolConfig));
    } else {
      const single = config as pg.PoolConfig | undefined;
      checkSingleHost(single);
      const pool = new PgPool(single);
      this.core = singleHostCore(describeHost(single), pool, pool.options.max, pgDriver, counts);
    }
    this.promiseCtor = (config as pg.PoolConfig | undefined)?.Promise ?? Promise;
    forwardHostEvents(this.core, this, (host) => this.forwardEvents(host));
  }

  /** A pg.Pool of the shared options, for pool-level fields while no host is known (discovery pending). */
  private template: (() => pg.Pool) | undefined;
  private templatePool: pg.Pool | undefined;

  /** The primary's pg.Pool, else any host's, else one of the shared options (it never connects). */
  private primaryDriver(): pg.Pool {
    return this.core.cluster.primaryDriver() ?? (this.templatePool ??= this.template!());
  }

  /**
   * Adds a host at run time (multi-host form): a connection string or pg options, with `name` and
   * `weight`; the pool's shared options apply. It serves once its first health check confirmed its
   * role; resolves with its stats then (a host that cannot be reached is added and stays down).
   * @example await pool.addHost('postgres://app@db4:5432/app');
   */
  async addHost(config: string | HostConfig): Promise<HostStats> {
    if (typeof config === 'string' && splitHosts(config).length > 1) throw new ConfigError('host', 'lists several hosts: call addHost once per host, or setHosts');
    return hostChanges.add(this.core, config);
  }

  /**
   * Removes a host: no new work goes there at once, what runs there finishes, and its connections
   * close once released (after `drainTimeoutMillis` at the latest). Resolves when it is gone.
   * @example await pool.removeHost('db4:5432');
   */
  removeHost(name: string): Promise<void> {
    return hostChanges.remove(this.core, name);
  }

  /**
   * Makes the pool's hosts exactly `hosts` (told apart by name, `host:port` by default): new ones
   * are added, missing ones drained and removed. Resolves when every change is done.
   * @example await pool.setHosts(['postgres://app@db1/app', 'postgres://app@db2/app']);
   */
  async setHosts(hosts: ReadonlyArray<string | HostConfig>): Promise<void> {
    return hostChanges.set(this.core, Array.isArray(hosts) ? hosts.flatMap((h) => (typeof h === 'string' ? splitHosts(h) : [h])) : hosts);
  }

  /** @internal Where routing clients pin transactions and session state (see targetSessionAttrs). */
  get pinRole(): 'primary' | 'replica' {
    return this.core.cluster.pinRole;
  }


  private forwardEvents(host: Host<pg.Pool>): void {
    const d = host.driver;
    d.on('connect', (client) => this.emit('connect', client, host.info));
    // Emitted for every query: nothing is prepared for an event nobody listens to.
    d.on('acquire', (client) => this.listenerCount('acquire') !== 0 && this.emit('acquire', client, host.info));
    d.on('release', (err, client) => this.listenerCount('release') !== 0 && this.emit('release', err, client, host.info));
    d.on('remove', (client) => this.emit('remove', client, host.info));
    // An idle client's error reaches pool.on('error'); with no listener it throws, as pg.Pool does.
    d.on('error', (err, client) => this.emit('error', err, client, host.info));
  }

  /**
   * Runs one statement on the host its text (or `role`) calls for, exactly like pg.Pool#query.
   * @example const { rows } = await pool.query('SELECT * FROM users WHERE id = $1', [1]);
   * @example await pool.query({ text: 'SELECT now()', role: 'primary' });
   */
  query<T extends pg.Submittable>(queryStream: T): T;
  query<R extends pg.QueryResultRow = any, I = any[]>(config: string | RoutedQueryConfig<I>, values?: pg.QueryConfigValues<I>): Promise<pg.QueryResult<R>>;
  query<R extends pg.QueryResultRow = any, I = any[]>(config: string | RoutedQueryConfig<I>, callback: (err: Error, result: pg.QueryResult<R>) => void): void;
  query<R extends pg.QueryResultRow = any, I = any[]>(config: string | RoutedQueryConfig<I>, values: pg.QueryConfigValues<I>, callback: (err: Error, result: pg.QueryResult<R>) => void): void;
  query(config: unknown, values?: unknown, cb?: unknown): unknown {
    if (typeof config === 'function') {
      const response = promisify(this.promiseCtor, config as Callback<unknown>);
      setImmediate(() => response.callback(new Error('Passing a function as the first parameter to pool.query is not supported')));
      return response.result;
    }
    if (typeof values === 'function') {
      cb = values;
      values = undefined;
    }
    if (isSubmittable(config)) return this.submit(config);
    const response = promisify(this.promiseCtor, cb as Callback<pg.QueryResult> | undefined);
    // As pg-pool: an ended pool answers at once (synchronously, for a callback).
    if (this.core.cluster.ending) {
      response.callback(this.core.cluster.endedError());
      return response.result;
    }
    const routed = typeof config === 'object' && config !== null ? (config as RoutedQueryConfig) : undefined;
    const text = typeof config === 'string' ? config : routed?.text;
    const role = routed?.role;
    const kind = statementKind(text, role, 'postgres');
    this.core.executor.run({ kind, text, role, after: routed?.after, run: (client, done) => runOn(client, config, values, done) }, response.callback);
    return response.result;
  }

  /**
   * The WAL position after this pool's last write, as an opaque token for `query({ text, after })`.
   * Recorded when `consistency` is 'read-your-writes'; undefined before the first write.
   * @example const token = pool.lastWriteToken(); await pool.query({ text: 'SELECT ...', after: token });
   */
  lastWriteToken(): string | undefined {
    return this.core.executor.lastWriteToken();
  }

  /** A Submittable (pg-cursor, pg-query-stream) runs on a leased client released on its end, close or error; never retried. */
  private submit<T extends pg.Submittable>(submittable: T): T {
    const emitter = submittable as unknown as Partial<EventEmitter>;
    const text = (submittable as { text?: unknown }).text;
    let started = false;
    this.core.executor.run<void>({
      kind: typeof text === 'string' ? classify(text) : 'write',
      text: typeof text === 'string' ? text : undefined,
      retriable: false,
      measure: false,
      run(client, done) {
        started = true;
        emitter.once?.('end', () => done(undefined));
        emitter.once?.('close', () => done(undefined));
        emitter.once?.('error', (e: Error) => done(e));
        client.query(submittable);
      },
    }, (err) => {
      // Once submitted, the submittable reports its own errors; only failures before that are reported here.
      if (err && !started) failSubmittable(submittable, err);
    });
    return submittable;
  }

  /**
   * Leases a connection, by default on the primary; every statement on it stays on that host
   * until `client.release()`. `release(err)` destroys the connection, as in pg.
   * @example const client = await pool.connect(); try { await client.query('BEGIN'); ... } finally { client.release(); }
   * @example const ro = await pool.connect({ role: 'replica' });
   */
  connect(options?: ConnectOptions): Promise<pg.PoolClient>;
  // pg.Pool's own callback signature, so a Pool is assignable where pg.Pool is expected.
  connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: any) => void) => void): void;
  connect(callback: ConnectCallback): void;
  connect(options: ConnectOptions, callback: ConnectCallback): void;
  connect(a?: ConnectOptions | ConnectCallback | ((...args: any[]) => void), b?: ConnectCallback): Promise<pg.PoolClient> | void {
    const options = typeof a === 'function' ? {} : a ?? {};
    const cb = typeof a === 'function' ? a : b;
    const response = promisify(this.promiseCtor, cb as Callback<pg.PoolClient> | undefined);
    if (this.core.cluster.ending) {
      response.callback(this.core.cluster.endedError()); // as pg-pool: at once, and with (err) only
      return response.result;
    }
    const role = options.role ?? this.connectRole;
    if (role === 'auto') {
      setImmediate(() => {
        if (this.core.cluster.ending) return response.callback(this.core.cluster.endedError());
        const client = new RoutingClient(this);
        (response.callback as ConnectCallback)(undefined, client as unknown as pg.PoolClient, (err) => client.release(err));
      });
      return response.result;
    }
    this.core.executor.lease(role, (err, lease) => {
      // As pg-pool: a failed connect calls back (err, undefined, release), where release does nothing.
      if (err || !lease) return (response.callback as ConnectCallback)(err ?? new Error('no connection'), undefined, noop);
      const client = lease.conn;
      let released = false;
      const wrapped = (releaseErr?: Error | boolean) => {
        if (released) throw new Error('Release called on client which has already been released to the pool.');
        released = true;
        forgetSessionMode(client); // the user may have changed the session's access mode
        lease.end(releaseErr);
      };
      client.release = wrapped;
      (response.callback as ConnectCallback)(undefined, client, wrapped);
    });
    return response.result;
  }

  /**
   * Closes every host's connections once they are released; a second call fails as in pg.
   * @example await pool.end();
   */
  end(): Promise<void>;
  end(callback: (err?: Error) => void): void;
  end(callback?: (err?: Error) => void): Promise<void> | void {
    if (this.core.cluster.ending) {
      const err = new Error('Called end on pool more than once');
      if (callback) return callback(err);
      return Promise.reject(err);
    }
    const done = endCore(this.core, (pool) => pool.end());
    if (!callback) return done;
    done.then(() => callback(), callback);
  }

  /**
   * A snapshot of every host: role, state, in-flight, connection counts, latency EWMA, error rate, lag.
   * @example for (const h of pool.stats().hosts) console.log(h.name, h.role, h.latencyMs);
   */
  stats(): PoolStats {
    return this.core.cluster.stats();
  }

  /** Connections open, summed over hosts. */
  get totalCount(): number { return this.core.cluster.sum((d) => d.totalCount); }
  /** Idle connections, summed over hosts. */
  get idleCount(): number { return this.core.cluster.sum((d) => d.idleCount); }
  /** Requests waiting for a connection, summed over hosts. */
  get waitingCount(): number { return this.core.cluster.sum((d) => d.waitingCount); }
  /** Connections past their lifetime, summed over hosts. */
  get expiredCount(): number { return this.core.cluster.sum((d) => d.expiredCount); }
  /** True once `end()` was called. */
  get ending(): boolean { return this.core ? this.core.cluster.ending : this.base.ending ?? false; }
  set ending(v: boolean) { this.base.ending = v; }
  /** True once `end()` has closed every host. */
  get ended(): boolean { return this.core ? this.core.cluster.ended : this.base.ended ?? false; }
  set ended(v: boolean) { this.base.ended = v; }
  /** The primary's pg.Pool options (the only host's, in the single-host form). */
  get options(): pg.PoolOptions { return this.core ? this.primaryDriver().options : this.base.options!; }
  set options(v: pg.PoolOptions) { this.base.options = v; }
  /** The Client class connections are made with. */
  get Client(): typeof pg.Client { return this.core ? (this.primaryDriver() as unknown as { Client: typeof pg.Client }).Client : this.base.Client!; }
  set Client(v: typeof pg.Client) { this.base.Client = v; }

  /**
   * pg-pool's own state, for tools and tests that read it: the primary's pg.Pool (the only host's
   * in the single-host form). Other hosts' connections are in `stats()`.
   */
  get _clients(): unknown[] { return this.core ? this.primaryPool()._clients : this.base._clients ?? []; }
  set _clients(v: unknown[]) { this.base._clients = v; }
  get _idle(): unknown[] { return this.core ? this.primaryPool()._idle : this.base._idle ?? []; }
  set _idle(v: unknown[]) { this.base._idle = v; }
  get _pendingQueue(): unknown[] { return this.core ? this.primaryPool()._pendingQueue : this.base._pendingQueue ?? []; }
  set _pendingQueue(v: unknown[]) { this.base._pendingQueue = v; }

  private primaryPool(): PgPoolState {
    return this.primaryDriver() as unknown as PgPoolState;
  }

  /** `await using pool = new Pool(...)` ends the pool when the scope exits. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.ending) await this.end();
  }

  /** What `console.log(pool)` shows: hosts and counters, never options (they hold passwords). */
  [inspect.custom](): string {
    return `Pool ${inspect(describePool(this.core.cluster, this.totalCount, this.idleCount, this.waitingCount))}`;
  }

  /** Writes pg-pool's constructor makes before this class's fields exist. */
  private get base(): BaseFields {
    const self = this as unknown as { _p2cBase?: BaseFields };
    return (self._p2cBase ??= {});
  }
}

/** The single-host form is pg's own pool, but a connection string pg cannot parse fails here, not later in a callback. */
function checkSingleHost(config: pg.PoolConfig | undefined): void {
  if (config?.connectionString === undefined) return;
  const reason = pgDriverSpec.check?.('connectionString', config.connectionString);
  if (reason !== undefined) throw new ConfigError('connectionString', reason);
}

/**
 * Runs a statement. No 'error' listener per statement (pg-pool adds one): on a connection error pg
 * fails the active query itself (`_errorAllQueries`, a tick after it emits 'error', 8.11 included),
 * and the connection's lifetime listener (ConnectionStates) takes the event.
 */
function runOn(client: pg.PoolClient, config: unknown, values: unknown, done: Callback<pg.QueryResult>): void {
  (client as unknown as LooseClient).query(config, values, done);
}

function isSubmittable(value: unknown): value is pg.Submittable {
  return typeof value === 'object' && value !== null && typeof (value as { submit?: unknown }).submit === 'function';
}

/** pg-pool's promisify: a callback when given, else a promise of the user's Promise class. */
function promisify<T>(P: PromiseConstructorLike, callback: Callback<T> | undefined): { callback: Callback<T>; result: Promise<T> | undefined } {
  if (callback) return { callback, result: undefined };
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const result = new (P as PromiseConstructor)<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { callback: (err, value) => (err ? reject(err) : resolve(value as T)), result };
}

/** The single-host URLs of a (possibly multi-host) connection string; a bad one is a ConfigError. */
function splitHosts(url: string): string[] {
  try {
    return [...(splitMultiHostUrl(url)?.urls ?? [url])];
  } catch (err) {
    throw new ConfigError('host', `is not a valid multi-host connection string (${(err as Error).message})`);
  }
}
