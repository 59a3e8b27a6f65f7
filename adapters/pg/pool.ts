// The drop-in pg.Pool face: one real pg.Pool per host behind the pg-pool surface (query, connect, end,
// counters, events), with each statement routed by the core and measured on the connection it ran on.

import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { HostUnavailableError } from '../../src/errors.js';
import { Host, type HostInfo } from '../../src/host.js';
import { Cluster, type PoolStats } from '../../src/pool.js';
import { isMultiHost, normalizeCluster, type CoreOptions, type HostExtras } from '../../src/config.js';
import { classify, type RoleRequest, type StatementKind } from '../../src/routing.js';
import type { Outcome } from '../../src/metrics.js';
import { describeHost, isHostError, pgDriverSpec, READ_ONLY_SQLSTATE } from './options.js';

/** One host in the multi-host form: pg.Pool options plus `name` and `weight`. */
export interface HostConfig extends pg.PoolConfig, HostExtras {}

/**
 * The multi-host form. Top-level pg.Pool options (`max`, timeouts, `ssl`, ...) apply to every host;
 * a host given as an object overrides them for itself.
 */
export interface MultiHostConfig extends Omit<pg.PoolConfig, 'host' | 'port' | 'connectionString'>, CoreOptions {
  /** The primary: a connection string or pg options. Receives writes, transactions and `connect()`. */
  primary: string | HostConfig;
  /** Read replicas. Reads are balanced over them. */
  replicas?: ReadonlyArray<string | HostConfig>;
}

/** Either a plain pg.Pool config (one host, behaves exactly like pg.Pool) or the multi-host form. */
export type PoolOptions = pg.PoolConfig | MultiHostConfig;

/** A pg QueryConfig that may force where it runs. */
export interface RoutedQueryConfig<I = unknown[]> extends pg.QueryConfig<I> {
  /** 'primary' or 'replica' overrides the statement's classification. */
  role?: RoleRequest;
}

/** Options of `pool.connect()`. */
export interface ConnectOptions {
  /** Default 'primary'. 'replica' leases a connection to a replica chosen by the picker. */
  role?: RoleRequest;
}

type Callback<T> = (err: Error | undefined, result?: T) => void;
type ConnectCallback = (err: Error | undefined, client?: pg.PoolClient, done?: (release?: Error | boolean) => void) => void;
/** pg.Pool's constructor takes the Client class as a second argument; its typings omit it. */
const PgPool = pg.Pool as unknown as new (options?: pg.PoolConfig, Client?: typeof pg.Client) => pg.Pool;

const now = () => performance.now();

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

  constructor(config?: PoolOptions, Client?: typeof pg.Client) {
    super();
    let hosts: Host<pg.Pool>[];
    let options: ConstructorParameters<typeof Cluster>[1];
    if (isMultiHost(config)) {
      const spec = normalizeCluster(config as unknown as Record<string, unknown>, pgDriverSpec);
      hosts = spec.hosts.map((h) => new Host(h.name, h.role, h.weight, h.capacity, new PgPool(h.options, Client), spec));
      options = spec;
      this.multiHost = true;
    } else {
      const single = config as pg.PoolConfig | undefined;
      const driver = new PgPool(single, Client);
      hosts = [new Host(describeHost(single), 'primary', 1, driver.options.max, driver)];
      options = { picker: 'p2c', fallbackToPrimary: true, random: Math.random };
      this.multiHost = false;
    }
    this.cluster = new Cluster(hosts, options, now, (d) => ({ total: d.totalCount, idle: d.idleCount, waiting: d.waitingCount }));
    this.promiseCtor = (config as pg.PoolConfig | undefined)?.Promise ?? Promise;
    for (const host of hosts) this.forwardEvents(host);
  }

  private forwardEvents(host: Host<pg.Pool>): void {
    const info: HostInfo = host.info;
    const d = host.driver;
    d.on('connect', (client) => this.emit('connect', client, info));
    d.on('acquire', (client) => this.emit('acquire', client, info));
    d.on('release', (err, client) => this.emit('release', err, client, info));
    d.on('remove', (client) => this.emit('remove', client, info));
    // An idle client's error reaches pool.on('error'); with no listener it throws, as pg.Pool does.
    d.on('error', (err, client) => this.emit('error', err, client, info));
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
    const text = typeof config === 'string' ? config : (config as RoutedQueryConfig | null)?.text;
    const role = typeof config === 'object' && config !== null ? (config as RoutedQueryConfig).role : undefined;
    let kind: StatementKind;
    let host: Host<pg.Pool>;
    try {
      kind = role === 'replica' ? 'read' : role === 'primary' ? 'write' : typeof text === 'string' ? classify(text) : 'write';
      host = this.cluster.choose(kind, role);
    } catch (err) {
      setImmediate(() => response.callback(err as Error));
      return response.result;
    }
    this.run(host, config, values, response.callback, host.role === 'replica');
    return response.result;
  }

  /** Runs one statement on `host`; a replica's read-only rejection is re-run once on the primary. */
  private run(host: Host<pg.Pool>, config: unknown, values: unknown, done: Callback<pg.QueryResult>, mayRerun: boolean): void {
    host.begin();
    host.driver.connect((connectErr, client) => {
      if (connectErr || client === undefined) {
        this.settle(host, outcomeOf(connectErr), undefined);
        done(this.wrap(host, connectErr ?? new Error('no client')));
        return;
      }
      let finished = false;
      // A connection error while the query runs may arrive as an 'error' event instead of a callback.
      const onError = (err: Error) => {
        if (finished) return;
        finished = true;
        client.release(err);
        this.settle(host, 'host-error', undefined);
        done(this.wrap(host, err));
      };
      client.once('error', onError);
      const start = now();
      try {
        (client as unknown as LooseClient).query(config, values, (err: Error | undefined, res: pg.QueryResult) => {
          client.removeListener('error', onError);
          if (finished) return;
          finished = true;
          const end = now();
          // Like pg-pool: a connection that saw an error is destroyed rather than reused.
          client.release(err);
          this.settle(host, err ? outcomeOf(err) : 'ok', end - start, end);
          if (err && mayRerun && (err as { code?: unknown }).code === READ_ONLY_SQLSTATE) {
            const primary = this.cluster.primary;
            if (primary) return this.run(primary, config, values, done, false);
          }
          done(err ? this.wrap(host, err) : undefined, res);
        });
      } catch (err) {
        client.removeListener('error', onError);
        finished = true;
        client.release(err as Error);
        this.settle(host, 'sql-error', undefined);
        done(err as Error);
      }
    });
  }

  private settle(host: Host<pg.Pool>, outcome: Outcome, latencyMs: number | undefined, at = now()): void {
    host.end(at, outcome, latencyMs);
  }

  /** A Submittable (pg-cursor, pg-query-stream) runs on a leased client that is released on its end or error. */
  private submit<T extends pg.Submittable>(submittable: T): T {
    const emitter = submittable as unknown as Partial<EventEmitter>;
    let host: Host<pg.Pool>;
    try {
      const text = (submittable as { text?: unknown }).text;
      host = this.cluster.choose(typeof text === 'string' ? classify(text) : 'write');
    } catch (err) {
      setImmediate(() => emitter.emit?.('error', err));
      return submittable;
    }
    host.begin();
    host.driver.connect((err, client) => {
      if (err || client === undefined) {
        this.settle(host, outcomeOf(err), undefined);
        emitter.emit?.('error', this.wrap(host, err ?? new Error('no client')));
        return;
      }
      let released = false;
      const finish = (error?: Error) => {
        if (released) return;
        released = true;
        client.release(error);
        this.settle(host, error ? outcomeOf(error) : 'ok', undefined);
      };
      emitter.once?.('end', () => finish());
      emitter.once?.('close', () => finish());
      emitter.once?.('error', (e: Error) => finish(e));
      client.query(submittable);
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
  connect(callback: ConnectCallback): void;
  connect(options: ConnectOptions, callback: ConnectCallback): void;
  connect(a?: ConnectOptions | ConnectCallback, b?: ConnectCallback): Promise<pg.PoolClient> | void {
    const options = typeof a === 'function' ? {} : a ?? {};
    const cb = typeof a === 'function' ? a : b;
    const response = promisify(this.promiseCtor, cb as Callback<pg.PoolClient> | undefined);
    const role = options.role ?? 'primary';
    let host: Host<pg.Pool>;
    try {
      host = this.cluster.choose(role === 'replica' ? 'read' : 'write', role);
    } catch (err) {
      setImmediate(() => response.callback(err as Error));
      return response.result;
    }
    host.begin();
    host.driver.connect((err, client) => {
      if (err || client === undefined) {
        host.end(now(), outcomeOf(err), undefined, false);
        response.callback(this.wrap(host, err ?? new Error('no client')));
        return;
      }
      const release = client.release;
      let open = true;
      const wrapped = (releaseErr?: Error | boolean) => {
        if (open) {
          open = false;
          host.end(now(), releaseErr instanceof Error && isHostError(releaseErr) ? 'host-error' : 'ok', undefined, false);
        }
        return release.call(client, releaseErr);
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
    if (this.cluster.ending) {
      const err = new Error('Called end on pool more than once');
      if (callback) return callback(err);
      return Promise.reject(err);
    }
    this.cluster.ending = true;
    const done = Promise.all(this.cluster.hosts.map((h) => h.driver.end())).then(() => {
      this.cluster.ended = true;
      for (const h of this.cluster.hosts) h.state = 'closed';
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
