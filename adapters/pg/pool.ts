// The drop-in pg.Pool face: one real pg.Pool per host behind the pg-pool surface (query, connect, end,
// counters, events), with each statement routed by the core and measured on the connection it ran on.

import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { HostUnavailableError, NoPrimaryError, PoolOverloadedError } from '../../src/errors.js';
import { HealthMonitor } from '../../src/monitor.js';
import { Host, type HostInfo } from '../../src/host.js';
import { Cluster, type PoolStats } from '../../src/pool.js';
import { isMultiHost, normalizeCluster, type Consistency, type CoreOptions, type HostExtras } from '../../src/config.js';
import { classify, type RoleRequest, type StatementKind } from '../../src/routing.js';
import type { Outcome } from '../../src/metrics.js';
import { describeHost, isHostError, pgDriverSpec, READ_ONLY_SQLSTATE } from './options.js';
import { formatLsn, parseLsn, probeHost, REPLAY_POSITION_SQL, WRITE_POSITION_SQL } from './probe.js';

/** One host in the multi-host form: pg.Pool options plus `name` and `weight`. */
export interface HostConfig extends pg.PoolConfig, HostExtras {}

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
export type PoolOptions = pg.PoolConfig | MultiHostConfig;

/** A pg QueryConfig that may force where it runs. */
export interface RoutedQueryConfig<I = unknown[]> extends pg.QueryConfig<I> {
  /** 'primary' or 'replica' overrides the statement's classification. */
  role?: RoleRequest;
  /** Read-your-writes token (from `pool.lastWriteToken()`): only a replica that replayed it may serve this read. */
  after?: string | undefined;
}

/** Options of `pool.connect()`. */
export interface ConnectOptions {
  /** Default 'primary'. 'replica' leases a connection to a replica chosen by the picker. */
  role?: RoleRequest;
}

type Callback<T> = (err: Error | undefined, result?: T) => void;

/** One pool.query call on its way. */
interface Request {
  readonly config: unknown;
  readonly values: unknown;
  readonly kind: StatementKind;
  readonly role: RoleRequest | undefined;
  /** Position a replica must have replayed to serve this read. */
  readonly after: bigint | undefined;
  readonly done: Callback<pg.QueryResult>;
}
type ConnectCallback = (err: Error | undefined, client?: pg.PoolClient, done?: (release?: Error | boolean) => void) => void;
/** pg.Pool's constructor takes the Client class as a second argument; its typings omit it. */
const PgPool = pg.Pool as unknown as new (options?: pg.PoolConfig, Client?: typeof pg.Client) => pg.Pool;

const now = () => performance.now();
const counts = (d: pg.Pool) => ({ total: d.totalCount, idle: d.idleCount, waiting: d.waitingCount });

/**
 * A pg.Pool over a primary and its read replicas.
 *
 * @example
 * const pool = new Pool({ primary: 'postgres://app@db1/app', replicas: ['postgres://app@db2/app'] });
 * await pool.query('SELECT 1');            // a replica
 * await pool.query('INSERT INTO t VALUES (1)'); // the primary
 * const client = await pool.connect();      // the primary, until client.release()
 */
export class Pool extends EventEmitter {
  private readonly cluster: Cluster<pg.Pool>;
  private readonly multiHost: boolean;
  private readonly promiseCtor: PromiseConstructorLike;
  private readonly monitor: HealthMonitor<pg.Pool> | undefined;
  private readonly retryReads: boolean;
  private readonly consistency: Consistency;
  private readonly maxWaitingClients: number | undefined;
  /** Resolves once roles are known (the `hosts` form); undefined when nothing is pending. */
  private ready: Promise<void> | undefined;
  /** A write position being fetched after a leased primary client was released (read-your-writes). */
  private pendingPosition: Promise<void> | undefined;

  constructor(config?: PoolOptions, Client?: typeof pg.Client) {
    super();
    let hosts: Host<pg.Pool>[];
    if (isMultiHost(config)) {
      const spec = normalizeCluster(config as unknown as Record<string, unknown>, pgDriverSpec);
      const clientOptions = new Map<Host<pg.Pool>, pg.ClientConfig>();
      hosts = spec.hosts.map((h) => {
        const options: pg.PoolConfig = spec.queryTimeoutMillis === undefined || h.options.query_timeout !== undefined
          ? h.options : { ...h.options, query_timeout: spec.queryTimeoutMillis };
        const host = new Host(h.name, h.role, h.weight, h.capacity, new PgPool(options, Client), spec, spec.health);
        clientOptions.set(host, options);
        return host;
      });
      this.cluster = new Cluster(hosts, spec, now, counts);
      this.multiHost = true;
      this.retryReads = spec.retryReads;
      this.consistency = spec.consistency;
      this.maxWaitingClients = spec.maxWaitingClients;
      this.monitor = new HealthMonitor(this.cluster, (h) => probeHost(clientOptions.get(h)!, spec.healthCheckTimeoutMillis), spec.healthCheckIntervalMillis);
      this.monitor.start();
      if (spec.discover) this.ready = this.discover();
    } else {
      const single = config as pg.PoolConfig | undefined;
      const driver = new PgPool(single, Client);
      hosts = [new Host(describeHost(single), 'primary', 1, driver.options.max, driver)];
      this.cluster = new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: true, random: Math.random }, now, counts);
      this.multiHost = false;
      this.retryReads = false;
      this.consistency = 'eventual';
      this.maxWaitingClients = undefined;
      this.monitor = undefined;
    }
    this.promiseCtor = (config as pg.PoolConfig | undefined)?.Promise ?? Promise;
    for (const host of hosts) this.forwardEvents(host);
  }

  /** First discovery of the `hosts` form: ask every host its role before dispatching anything. */
  private async discover(): Promise<void> {
    await this.monitor!.checkAll();
    this.ready = undefined;
  }

  private forwardEvents(host: Host<pg.Pool>): void {
    const d = host.driver;
    d.on('connect', (client) => this.emit('connect', client, host.info));
    d.on('acquire', (client) => this.emit('acquire', client, host.info));
    d.on('release', (err, client) => this.emit('release', err, client, host.info));
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
    const routed = typeof config === 'object' && config !== null ? (config as RoutedQueryConfig) : undefined;
    const text = typeof config === 'string' ? config : routed?.text;
    const role = routed?.role;
    try {
      this.cluster.assertOpen();
      const kind: StatementKind = role === 'replica' ? 'read' : role === 'primary' ? 'write' : typeof text === 'string' ? classify(text) : 'write';
      const after = routed?.after === undefined ? undefined : parseLsn(routed.after);
      if (routed?.after !== undefined && after === undefined) throw new TypeError('`after` must be a token returned by pool.lastWriteToken()');
      this.whenReady(() => this.dispatch({ config, values, kind, role, after, done: response.callback }, 0, undefined));
    } catch (err) {
      setImmediate(() => response.callback(err as Error));
    }
    return response.result;
  }

  /**
   * The WAL position after this pool's last write, as an opaque token for `query({ text, after })`.
   * Recorded when `consistency` is 'read-your-writes'; undefined before the first write.
   * @example const token = pool.lastWriteToken(); await pool.query({ text: 'SELECT ...', after: token });
   */
  lastWriteToken(): string | undefined {
    const p = this.cluster.lastWritePosition;
    return p === undefined ? undefined : formatLsn(p);
  }

  /** Runs `fn` now, or once discovery and a pending write position are known. */
  private whenReady(fn: () => void): void {
    const wait = this.ready ?? this.pendingPosition;
    if (wait === undefined) return fn();
    wait.then(fn, fn);
  }

  /** Chooses a host for the request and runs it; `attempt` 1 is the one allowed retry of a read. */
  private dispatch(req: Request, attempt: number, exclude: Host<pg.Pool> | undefined, failure?: Error): void {
    let host: Host<pg.Pool>;
    try {
      host = this.cluster.choose(req.kind, req.role, { exclude });
    } catch (err) {
      if (err instanceof NoPrimaryError) void this.monitor?.requestDiscovery();
      // No other host for a retry: the caller gets the failure that caused it.
      return req.done(failure ?? (err as Error));
    }
    if (this.maxWaitingClients !== undefined && host.driver.waitingCount >= this.maxWaitingClients) {
      return req.done(new PoolOverloadedError(`Host ${host.name} has ${host.driver.waitingCount} requests waiting for a connection (maxWaitingClients ${this.maxWaitingClients})`));
    }
    this.run(host, req, attempt);
  }

  /** The position a read must see, if any. */
  private requiredPosition(req: Request): bigint | undefined {
    return req.after ?? (this.consistency === 'read-your-writes' ? this.cluster.lastWritePosition : undefined);
  }

  /** Runs one statement on `host`; retries and read-only re-runs dispatch again. */
  private run(host: Host<pg.Pool>, req: Request, attempt: number): void {
    host.begin();
    host.driver.connect((connectErr, client) => {
      if (connectErr || client === undefined) {
        const outcome = outcomeOf(connectErr);
        this.cluster.finish(host, outcome, undefined);
        if (outcome === 'host-error') this.onHostError(host);
        // Nothing was sent, so a read may go elsewhere whatever host this was.
        const failure = this.wrap(host, connectErr ?? new Error('no client'));
        if (outcome === 'host-error' && this.mayRetry(req, attempt)) return this.dispatch(req, attempt + 1, host, failure);
        return req.done(failure);
      }
      const needs = host.role === 'replica' && req.kind === 'read' ? this.requiredPosition(req) : undefined;
      if (needs !== undefined && (host.replayLsn === undefined || host.replayLsn < needs)) {
        return this.checkFreshness(host, client, req, needs, attempt);
      }
      this.execute(host, client, req, attempt);
    });
  }

  /** Read-your-writes: asks the replica how far it has replayed; too far behind, the read goes to the primary. */
  private checkFreshness(host: Host<pg.Pool>, client: pg.PoolClient, req: Request, needs: bigint, attempt: number): void {
    client.query(REPLAY_POSITION_SQL, (err: Error | undefined, res: pg.QueryResult) => {
      if (err) {
        client.release(err);
        this.cluster.finish(host, outcomeOf(err), undefined);
        if (isHostError(err) && this.mayRetry(req, attempt)) return this.dispatch(req, attempt + 1, host, this.wrap(host, err));
        return req.done(this.wrap(host, err));
      }
      const replayed = parseLsn(res.rows[0]?.lsn);
      if (replayed !== undefined && (host.replayLsn === undefined || replayed > host.replayLsn)) host.replayLsn = replayed;
      if (replayed !== undefined && replayed >= needs) return this.execute(host, client, req, attempt);
      client.release();
      this.cluster.finish(host, 'ok', undefined, false);
      this.dispatch({ ...req, role: 'primary' }, attempt, undefined);
    });
  }

  private execute(host: Host<pg.Pool>, client: pg.PoolClient, req: Request, attempt: number): void {
    let finished = false;
    const start = now();
    const complete = (err: Error | undefined, res?: pg.QueryResult) => {
      if (finished) return;
      finished = true;
      client.removeListener('error', onError);
      const end = now();
      const outcome = err ? outcomeOf(err) : 'ok';
      const trackWrite = !err && this.consistency === 'read-your-writes' && host.role === 'primary' && req.kind === 'write';
      if (trackWrite) return this.recordWrite(client, () => {
        this.cluster.finish(host, 'ok', end - start);
        req.done(undefined, res);
      });
      // Like pg-pool: a connection that saw an error is destroyed rather than reused.
      client.release(err);
      this.cluster.finish(host, outcome, outcome === 'host-error' ? undefined : end - start);
      if (!err) return req.done(undefined, res);
      if (outcome === 'host-error') {
        this.onHostError(host);
        // A replica is read-only: re-running a read that failed there cannot repeat a side effect.
        if (host.role === 'replica' && this.mayRetry(req, attempt)) return this.dispatch(req, attempt + 1, host, this.wrap(host, err));
      }
      if (host.role === 'replica' && req.role !== 'replica' && (err as { code?: unknown }).code === READ_ONLY_SQLSTATE && attempt < 2) {
        return this.dispatch({ ...req, role: 'primary' }, 2, undefined);
      }
      req.done(this.wrap(host, err));
    };
    // A connection error while the query runs may arrive as an 'error' event instead of a callback.
    const onError = (err: Error) => complete(err);
    client.once('error', onError);
    try {
      (client as unknown as LooseClient).query(req.config, req.values, complete);
    } catch (err) {
      complete(err as Error);
    }
  }

  private mayRetry(req: Request, attempt: number): boolean {
    return this.retryReads && attempt === 0 && req.kind === 'read';
  }

  /** A failing primary may have been replaced: look for the current one. */
  private onHostError(host: Host<pg.Pool>): void {
    if (host.role === 'primary') void this.monitor?.requestDiscovery();
  }

  /** Read-your-writes: records the primary's WAL position on the connection that wrote, then releases it. */
  private recordWrite(client: pg.PoolClient, then: () => void): void {
    client.query(WRITE_POSITION_SQL, (err: Error | undefined, res: pg.QueryResult) => {
      client.release(err);
      if (!err) this.notePosition(parseLsn(res.rows[0]?.lsn));
      then();
    });
  }

  private notePosition(position: bigint | undefined): void {
    const last = this.cluster.lastWritePosition;
    if (position !== undefined && (last === undefined || position > last)) this.cluster.lastWritePosition = position;
  }

  /** A Submittable (pg-cursor, pg-query-stream) runs on a leased client that is released on its end or error. */
  private submit<T extends pg.Submittable>(submittable: T): T {
    const emitter = submittable as unknown as Partial<EventEmitter>;
    try {
      this.cluster.assertOpen();
    } catch (err) {
      setImmediate(() => emitter.emit?.('error', err));
      return submittable;
    }
    this.whenReady(() => this.runSubmittable(submittable, emitter));
    return submittable;
  }

  private runSubmittable(submittable: pg.Submittable, emitter: Partial<EventEmitter>): void {
    let host: Host<pg.Pool>;
    try {
      const text = (submittable as { text?: unknown }).text;
      host = this.cluster.choose(typeof text === 'string' ? classify(text) : 'write');
    } catch (err) {
      emitter.emit?.('error', err);
      return;
    }
    host.begin();
    host.driver.connect((err, client) => {
      if (err || client === undefined) {
        this.cluster.finish(host, outcomeOf(err), undefined);
        emitter.emit?.('error', this.wrap(host, err ?? new Error('no client')));
        return;
      }
      let released = false;
      const finish = (error?: Error) => {
        if (released) return;
        released = true;
        client.release(error);
        this.cluster.finish(host, error ? outcomeOf(error) : 'ok', undefined);
      };
      emitter.once?.('end', () => finish());
      emitter.once?.('close', () => finish());
      emitter.once?.('error', (e: Error) => finish(e));
      client.query(submittable);
    });
  }

  /**
   * Leases a connection, by default on the primary; every statement on it stays on that host
   * until `client.release()`. `release(err)` destroys the connection, as in pg.
   * @example const client = await pool.connect(); try { await client.query('BEGIN'); ... } finally { client.release(); }
   * @example const ro = await pool.connect({ role: 'replica' });
   */
  connect(options?: ConnectOptions): Promise<pg.PoolClient>;
  connect(callback: ConnectCallback): void;
  connect(options: ConnectOptions, callback: ConnectCallback): void;
  connect(a?: ConnectOptions | ConnectCallback, b?: ConnectCallback): Promise<pg.PoolClient> | void {
    const options = typeof a === 'function' ? {} : a ?? {};
    const cb = typeof a === 'function' ? a : b;
    const response = promisify(this.promiseCtor, cb as Callback<pg.PoolClient> | undefined);
    const role = options.role ?? 'primary';
    try {
      this.cluster.assertOpen();
    } catch (err) {
      setImmediate(() => response.callback(err as Error));
      return response.result;
    }
    this.whenReady(() => this.lease(role, response.callback as ConnectCallback));
    return response.result;
  }

  private lease(role: RoleRequest, callback: ConnectCallback): void {
    let host: Host<pg.Pool>;
    try {
      host = this.cluster.choose(role === 'replica' ? 'read' : 'write', role);
    } catch (err) {
      if (err instanceof NoPrimaryError) void this.monitor?.requestDiscovery();
      return callback(err as Error);
    }
    if (this.maxWaitingClients !== undefined && host.driver.waitingCount >= this.maxWaitingClients) {
      return callback(new PoolOverloadedError(`Host ${host.name} has ${host.driver.waitingCount} requests waiting for a connection (maxWaitingClients ${this.maxWaitingClients})`));
    }
    host.begin();
    host.driver.connect((err, client) => {
      if (err || client === undefined) {
        this.cluster.finish(host, outcomeOf(err), undefined, false);
        if (isHostError(err)) this.onHostError(host);
        return callback(this.wrap(host, err ?? new Error('no client')));
      }
      const release = client.release;
      let open = true;
      const wrapped = (releaseErr?: Error | boolean) => {
        if (open) {
          open = false;
          const failed = releaseErr instanceof Error && isHostError(releaseErr);
          this.cluster.finish(host, failed ? 'host-error' : 'ok', undefined, false);
          // Read-your-writes: a primary client may have written; later reads wait for its position.
          if (!failed && this.consistency === 'read-your-writes' && host.role === 'primary') this.fetchWritePosition(host);
        }
        return release.call(client, releaseErr);
      };
      client.release = wrapped;
      callback(undefined, client, wrapped);
    });
  }

  private fetchWritePosition(host: Host<pg.Pool>): void {
    const p = host.driver.query(WRITE_POSITION_SQL).then((res) => this.notePosition(parseLsn(res.rows[0]?.lsn)), () => {});
    const pending = p.finally(() => {
      if (this.pendingPosition === pending) this.pendingPosition = undefined;
    });
    this.pendingPosition = pending;
  }

  /**
   * Closes every host's connections once they are released; a second call fails as in pg.
   * @example await pool.end();
   */
  end(): Promise<void>;
  end(callback: (err?: Error) => void): void;
  end(callback?: (err?: Error) => void): Promise<void> | void {
    if (this.cluster.ending) {
      const err = new Error('Called end on pool more than once');
      if (callback) return callback(err);
      return Promise.reject(err);
    }
    this.cluster.ending = true;
    this.monitor?.stop();
    const done = Promise.all(this.cluster.hosts.map((h) => h.driver.end())).then(() => {
      this.cluster.ended = true;
      this.cluster.close();
    });
    if (!callback) return done;
    done.then(() => callback(), callback);
  }

  /**
   * A snapshot of every host: role, state, in-flight, connection counts, latency EWMA, error rate.
   * @example for (const h of pool.stats().hosts) console.log(h.name, h.role, h.latencyMs);
   */
  stats(): PoolStats {
    return this.cluster.stats();
  }

  /** Connections open, summed over hosts. */
  get totalCount(): number { return this.cluster.sum((d) => d.totalCount); }
  /** Idle connections, summed over hosts. */
  get idleCount(): number { return this.cluster.sum((d) => d.idleCount); }
  /** Requests waiting for a connection, summed over hosts. */
  get waitingCount(): number { return this.cluster.sum((d) => d.waitingCount); }
  /** Connections past their lifetime, summed over hosts. */
  get expiredCount(): number { return this.cluster.sum((d) => d.expiredCount); }
  /** True once `end()` was called. */
  get ending(): boolean { return this.cluster.ending; }
  /** True once `end()` has closed every host. */
  get ended(): boolean { return this.cluster.ended; }
  /** The primary's pg.Pool options (the only host's, in the single-host form). */
  get options(): pg.PoolOptions { return this.cluster.hosts[0]!.driver.options; }
  /** The Client class connections are made with. */
  get Client(): typeof pg.Client { return (this.cluster.hosts[0]!.driver as unknown as { Client: typeof pg.Client }).Client; }

  /** Connection-level failures become HostUnavailableError in the multi-host form; SQL errors pass unchanged. */
  private wrap(host: Host<pg.Pool>, err: Error): Error {
    if (!this.multiHost || !isHostError(err)) return err;
    return new HostUnavailableError(host.name, err);
  }
}

interface LooseClient { query(config: unknown, values: unknown, cb: (err: Error | undefined, res: pg.QueryResult) => void): void }

function outcomeOf(err: unknown): Outcome {
  return isHostError(err) ? 'host-error' : 'sql-error';
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
