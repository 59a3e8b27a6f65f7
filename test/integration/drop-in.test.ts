// Drop-in behaviours that pg-pool's and mysql2's own pool suites check, on real servers: each is
// run against the driver's own pool too where that makes the expectation exact, and against
// both forms of our faces (single host, and multi-host).
import { afterEach, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import Cursor from 'pg-cursor';
import pg from 'pg';
import mysql from 'mysql2';
import { Pool as PgFace, PoolEndedError as PgEnded, HostUnavailableError, type HostStats } from '../../adapters/pg/index.js';
import { createPool, PoolEndedError, type Pool as MyFace } from '../../adapters/mysql/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../support/load.js';
import { useCluster } from '../support/vitest-cluster.js';
import { useMyCluster, waitForReplicas } from '../support/vitest-mysql.js';

/** Set by test/lowest/run.sh: pg 8.11.0 and mysql2 3.9.0 replace the newest (see vitest.config.ts). */
const LOWEST = process.env['P2C_LOWEST'] === '1';
const pgCluster = useCluster({ replicas: 1 });
const myCluster = useMyCluster({ replicas: 1 });
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve().then(cleanups.pop()!).catch(() => {});
});

const endMy = (p: { end(cb?: (err?: Error | null) => void): void }) => new Promise<void>((resolve) => p.end(() => resolve()));
const q = (p: { query(sql: unknown, values: unknown, cb: (err: Error | null, rows?: unknown) => void): unknown }, sql: unknown, values?: unknown) =>
  new Promise<unknown>((resolve, reject) => p.query(sql, values, (err, rows) => (err ? reject(err) : resolve(rows))));

/** The mysql pools under test: mysql2's own, our single-host form, our multi-host form (primary + replica). */
function mysqlPools(extra: Record<string, unknown> = {}): Record<string, MyFace> {
  const c = myCluster();
  // mysql2's own pool is driven through the same (compatible) surface as ours.
  const pools = {
    mysql2: mysql.createPool({ uri: c.primary.url, ...extra }) as unknown as MyFace,
    single: createPool({ uri: c.primary.url, ...extra }),
    multi: createPool({ primary: c.primary.url, replicas: [c.replicas[0]!.url], ...extra }),
  };
  for (const p of Object.values(pools)) cleanups.push(() => endMy(p));
  return pools;
}

describe('mysql2 face', () => {
  it('destroys a connection that got a read-only error (1792), as mysql2 does; keeps it after other SQL errors', async () => {
    const c = myCluster();
    const setup = mysql.createPool({ uri: c.primary.url, connectionLimit: 1 });
    await q(setup, 'CREATE TABLE IF NOT EXISTS dropin_ro (id INT)');
    await endMy(setup);
    const outcomes: Record<string, unknown> = {};
    for (const [name, pool] of Object.entries(mysqlPools({ connectionLimit: 1 }))) {
      const role = name === 'multi' ? { role: 'primary' } : {};
      const id = async () => ((await q(pool, { sql: 'SELECT CONNECTION_ID() AS id', ...role })) as { id: number }[])[0]!.id;
      const first = await id();
      await q(pool, { sql: 'SELECT nope FROM dropin_ro', ...role }).catch(() => undefined); // a SQL error: kept
      const afterSqlError = await id();
      await q(pool, { sql: 'SET SESSION TRANSACTION READ ONLY', ...role });
      const err = (await q(pool, { sql: 'INSERT INTO dropin_ro VALUES (1)', ...role }).catch((e: unknown) => e)) as { errno?: number };
      const afterReadOnly = await id();
      outcomes[name] = { errno: err.errno, keptAfterSqlError: afterSqlError === first, destroyedAfterReadOnly: afterReadOnly !== first };
    }
    const expected = { errno: 1792, keptAfterSqlError: true, destroyedAfterReadOnly: true };
    // mysql2 3.9 still pooled such a connection; the faces destroy it with every mysql2 version.
    expect(outcomes).toEqual({ mysql2: LOWEST ? { ...expected, destroyedAfterReadOnly: false } : expected, single: expected, multi: expected });
  });

  it('query() without a callback returns mysql2\'s Query emitter: result/fields/end events, stream(), errors as events', async () => {
    const c = myCluster();
    for (const [name, pool] of Object.entries(mysqlPools())) {
      const query = pool.query('SELECT @@port AS port, seq FROM seq_1_to_5');
      const rows: { port: number; seq: number }[] = [];
      let fields = 0;
      await new Promise<void>((resolve, reject) => {
        query.on('result', (row: { port: number; seq: number }) => rows.push(row));
        query.on('fields', () => fields++);
        query.on('error', reject);
        query.on('end', () => resolve());
      });
      expect(rows.map((r) => r.seq), name).toEqual([1, 2, 3, 4, 5]);
      expect(fields, name).toBe(1);
      // Reads are routed: the multi-host form served this from the replica.
      expect(rows[0]!.port, name).toBe(name === 'multi' ? c.replicas[0]!.port : c.primary.port);
      const streamed: unknown[] = [];
      const stream = pool.query('SELECT seq FROM seq_1_to_3').stream() as Readable;
      for await (const row of stream) streamed.push(row);
      expect(streamed, name).toEqual([{ seq: 1 }, { seq: 2 }, { seq: 3 }]);
      const failed = await new Promise<Error>((resolve) => pool.query('SELECT * FROM no_such_table_here').on('error', resolve));
      expect(failed, name).toMatchObject({ errno: 1146, code: 'ER_NO_SUCH_TABLE', sqlState: '42S02' });
    }
    expect(await endAndCount(mysqlPools())).toBeUndefined();
  });

  it('the Query emitter of a write goes to the primary; its connection is pooled again afterwards', async () => {
    const c = myCluster();
    const pool = createPool({ primary: c.primary.url, replicas: [c.replicas[0]!.url], connectionLimit: 1 });
    cleanups.push(() => endMy(pool));
    await q(pool, 'CREATE TABLE IF NOT EXISTS dropin_stream (id INT)');
    await new Promise<void>((resolve, reject) => pool.query('INSERT INTO dropin_stream VALUES (1)').on('error', reject).on('end', () => resolve()));
    expect(await q(pool, { sql: 'SELECT COUNT(*) AS n FROM dropin_stream', role: 'primary' })).toEqual([{ n: 1 }]);
    expect(pool.stats().hosts.every((h) => h.inflight === 0)).toBe(true);
  });

  it('a routing connection (connectRole auto) returns mysql2\'s Query without a callback: stream() works routed and pinned', async () => {
    const c = myCluster();
    const pool = createPool({ primary: c.primary.url, replicas: [c.replicas[0]!.url], connectRole: 'auto' });
    cleanups.push(() => endMy(pool));
    const conn = await new Promise<mysql.PoolConnection>((resolve, reject) => pool.getConnection((e, x) => (e ? reject(e) : resolve(x!))));
    const collect = async (sql: string) => {
      const out: { port: number; seq: number }[] = [];
      for await (const row of (conn.query(sql) as unknown as mysql.Query).stream()) out.push(row as { port: number; seq: number });
      return out;
    };
    const routed = await collect('SELECT @@port AS port, seq FROM seq_1_to_3');
    expect(routed.map((r) => [r.port, r.seq])).toEqual([1, 2, 3].map((n) => [c.replicas[0]!.port, n]));
    await new Promise<void>((resolve, reject) => conn.query('START TRANSACTION', (e: Error | null) => (e ? reject(e) : resolve())));
    const pinned = await collect('SELECT @@port AS port, seq FROM seq_1_to_2');
    expect(pinned.map((r) => r.port)).toEqual([c.primary.port, c.primary.port]);
    await new Promise<void>((resolve, reject) => conn.query('COMMIT', (e: Error | null) => (e ? reject(e) : resolve())));
    conn.release();
    await waitFor(() => pool.stats().hosts.every((h) => h.inflight === 0), 2000);
  });

  it('a stream whose connection is cut mid-statement releases its host (no in-flight count left behind)', async () => {
    const c = myCluster();
    const proxy = await FaultProxy.start({ host: c.replicas[0]!.host, port: c.replicas[0]!.port });
    cleanups.push(() => proxy.stop());
    const pool = createPool({ primary: c.primary.url, replicas: [{ host: proxy.host, port: proxy.port, user: 'app', password: 'app', database: 'test', name: 'replica1' }], healthCheckIntervalMillis: 0 });
    cleanups.push(() => endMy(pool));
    pool.on('error', () => {});
    await q(pool, 'SELECT 1');
    const query = pool.query('SELECT SLEEP(2) AS s');
    query.on('error', () => {});
    await waitFor(() => pool.stats().hosts.find((h) => h.name === 'replica1')!.inflight === 1, 2000);
    proxy.reset();
    await waitFor(() => pool.stats().hosts.every((h) => h.inflight === 0), 3000);
  });

  it("mysql2's own pool fields show the primary's pool; a PoolConnection.prototype.release patched after load is called (APM)", async () => {
    const c = myCluster();
    const pool = createPool({ uri: c.primary.url, connectionLimit: 2 });
    cleanups.push(() => endMy(pool));
    await q(pool, 'SELECT 1');
    const fields = pool as unknown as { _allConnections: { length: number }; _freeConnections: { length: number }; _connectionQueue: { length: number } };
    expect([fields._allConnections.length, fields._freeConnections.length, fields._connectionQueue.length]).toEqual([1, 1, 0]);
    const proto = (mysql as unknown as { PoolConnection: { prototype: { release(): void } } }).PoolConnection.prototype;
    const original = proto.release;
    let calls = 0;
    proto.release = function (this: unknown) { calls++; return original.call(this); };
    cleanups.push(() => { proto.release = original; });
    await q(pool, 'SELECT 1');
    expect(calls).toBe(1);
  });

  it('Symbol.dispose ends the pool; the promise pool has Symbol.asyncDispose', async () => {
    const c = myCluster();
    const pool = createPool({ primary: c.primary.url, replicas: [c.replicas[0]!.url] });
    await q(pool, 'SELECT 1');
    pool[Symbol.dispose]();
    expect(pool._closed).toBe(true);
    const promised = createPool({ primary: c.primary.url }).promise();
    await promised.query('SELECT 1');
    await (promised as unknown as { [Symbol.asyncDispose](): Promise<void> })[Symbol.asyncDispose]();
    expect(promised.pool._closed).toBe(true);
  });

  it('after end(), every form fails with mysql2\'s "Pool is closed.", still a PoolEndedError; a request queued at end() fares as with mysql2', async () => {
    const outcomes: Record<string, unknown> = {};
    for (const [name, pool] of Object.entries(mysqlPools({ connectionLimit: 1 }))) {
      const role = name === 'multi' ? { role: 'primary' } : {};
      const held = await new Promise<mysql.PoolConnection>((resolve, reject) => (pool.getConnection as (o: unknown, cb: (e: Error | null, c?: mysql.PoolConnection) => void) => void)
        .apply(pool, name === 'multi' ? [{ role: 'primary' }, (e: Error | null, conn?: mysql.PoolConnection) => (e ? reject(e) : resolve(conn!))] : [(e: Error | null, conn?: mysql.PoolConnection) => (e ? reject(e) : resolve(conn!))] as never));
      const queued = q(pool, { sql: 'SELECT 1 AS one', ...role }).then((rows) => rows, (e: unknown) => (e as Error).message);
      await new Promise((r) => setTimeout(r, 20));
      const ended = endMy(pool);
      held.release();
      const messages = [
        ((await q(pool, 'SELECT 1').catch((e: unknown) => e)) as Error).message,
        await new Promise<string>((resolve) => pool.getConnection((err) => resolve(err!.message))),
        ((await pool.promise().query('SELECT 1').catch((e: unknown) => e)) as Error).message,
      ];
      await ended;
      expect(messages, name).toEqual(['Pool is closed.', 'Pool is closed.', 'Pool is closed.']);
      if (name !== 'mysql2') {
        expect(await q(pool, 'SELECT 1').catch((e: unknown) => e), name).toBeInstanceOf(PoolEndedError);
        expect(await pool.promise().query('SELECT 1').catch((e: unknown) => e), name).toBeInstanceOf(PoolEndedError);
      }
      // mysql2 3.10+ fails a request queued at end() with "Pool is closed."; 3.9 leaves it waiting.
      outcomes[name] = await Promise.race([queued, new Promise((r) => setTimeout(() => r('still waiting after 1 s'), 1000))]);
    }
    expect(outcomes.single).toEqual(outcomes.mysql2);
    expect(outcomes.multi).toEqual(outcomes.mysql2);
    expect(outcomes.mysql2).toBe(LOWEST ? 'still waiting after 1 s' : 'Pool is closed.');
  });

  it('a host that refuses: the caller gets mysql2\'s own error (code, errno, fatal kept), marked with the host', async () => {
    const c = myCluster();
    const proxy = await FaultProxy.start({ host: c.primary.host, port: c.primary.port });
    cleanups.push(() => proxy.stop());
    const pool = createPool({ primary: { host: proxy.host, port: proxy.port, user: 'root', database: 'test', name: 'primary' }, connectionLimit: 1, healthCheckIntervalMillis: 0 });
    cleanups.push(() => endMy(pool));
    pool.on('error', () => {});
    await q(pool, 'SELECT 1');
    await proxy.refuse(); // the idle connection is reset and new ones are refused
    await new Promise((r) => setTimeout(r, 50));
    const err = await q(pool, 'CREATE TABLE IF NOT EXISTS dropin_never (id INT)').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ECONNREFUSED', errno: -111, fatal: true, host: 'primary', p2cCode: 'P2C_HOST_UNAVAILABLE' });
    expect(err).toBeInstanceOf(HostUnavailableError);
    // Marks are not enumerable: the error logs and serialises as mysql2's.
    expect(Object.keys(err as object)).not.toContain('p2cCode');
  });

  it('pool.config changes after creation reach every host (namedPlaceholders)', async () => {
    const c = myCluster();
    await waitForReplicas(c);
    const pool = createPool({ primary: c.primary.url, replicas: [c.replicas[0]!.url] });
    cleanups.push(() => endMy(pool));
    const config = pool.config as unknown as { connectionConfig: { namedPlaceholders?: boolean; port?: number } }; // as in mysql2 (its typings omit it)
    config.connectionConfig.namedPlaceholders = true;
    expect(config.connectionConfig.namedPlaceholders).toBe(true);
    const onReplica = (await q(pool, 'SELECT :x AS x, @@port AS port', { x: 7 })) as { x: number; port: number }[];
    expect(onReplica).toEqual([{ x: 7, port: c.replicas[0]!.port }]);
    const onPrimary = (await q(pool, { sql: 'SELECT :x AS x, @@port AS port', role: 'primary' }, { x: 8 })) as { x: number; port: number }[];
    expect(onPrimary).toEqual([{ x: 8, port: c.primary.port }]);
    // Each host keeps its own address, also when the whole connectionConfig is replaced.
    expect(config.connectionConfig.port).toBe(c.primary.port);
    const current = config.connectionConfig as object;
    config.connectionConfig = Object.assign(Object.create(Object.getPrototypeOf(current) as object) as object, current, { namedPlaceholders: true });
    await q(pool, 'SELECT 1'); // the replica's existing connection
    const fresh = createPool({ primary: c.primary.url, replicas: [c.replicas[0]!.url], connectionLimit: 1 });
    cleanups.push(() => endMy(fresh));
    const freshConfig = fresh.config as unknown as { connectionConfig: object };
    freshConfig.connectionConfig = Object.assign(Object.create(Object.getPrototypeOf(freshConfig.connectionConfig) as object) as object, freshConfig.connectionConfig, { namedPlaceholders: true });
    expect(await q(fresh, 'SELECT :x AS x, @@port AS port', { x: 9 })).toEqual([{ x: 9, port: c.replicas[0]!.port }]);
  });

  it('a host added after a pool.config change gets the change too (found by review)', async () => {
    const c = myCluster();
    await waitForReplicas(c);
    const pool = createPool({ primary: c.primary.url });
    cleanups.push(() => endMy(pool));
    const config = pool.config as unknown as { connectionConfig: { namedPlaceholders?: boolean } };
    config.connectionConfig.namedPlaceholders = true;
    await pool.addHost(c.replicas[0]!.url);
    expect(await q(pool, 'SELECT :x AS x, @@port AS port', { x: 5 })).toEqual([{ x: 5, port: c.replicas[0]!.port }]);
    expect(await q(pool, { sql: 'SELECT :x AS x, @@port AS port', role: 'primary' }, { x: 6 })).toEqual([{ x: 6, port: c.primary.port }]);
    // Removed again, the change stays on the hosts the pool has.
    delete (config.connectionConfig as { namedPlaceholders?: boolean }).namedPlaceholders;
    await pool.removeHost(`127.0.0.1:${c.replicas[0]!.port}`);
    await pool.addHost(c.replicas[0]!.url);
    expect((pool.config as unknown as { connectionConfig: { namedPlaceholders?: boolean } }).connectionConfig.namedPlaceholders).toBeUndefined();
  });
});

async function endAndCount(pools: Record<string, MyFace>): Promise<undefined> {
  for (const p of Object.values(pools)) await endMy(p);
  return undefined;
}

describe('pg face', () => {
  it('connect(cb) on a connection error calls back (err, undefined, release) with a release that does nothing, as pg.Pool', async () => {
    const c = pgCluster();
    const proxy = await FaultProxy.start({ host: c.primary.host, port: c.primary.port });
    cleanups.push(() => proxy.stop());
    const config = { host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres' };
    const pools = {
      pg: new pg.Pool(config),
      single: new PgFace(config) as pg.Pool,
      multi: new PgFace({ primary: { ...config, name: 'primary' }, healthCheckIntervalMillis: 0 }) as pg.Pool,
    };
    for (const p of Object.values(pools)) {
      p.on('error', () => {});
      cleanups.push(() => p.end());
      await p.query('SELECT 1');
    }
    await proxy.refuse();
    await new Promise((r) => setTimeout(r, 50));
    for (const [name, pool] of Object.entries(pools)) {
      const args = await new Promise<unknown[]>((resolve) => (pool as pg.Pool).connect((...a: unknown[]) => resolve(a)));
      expect(args.length, name).toBe(3);
      expect(args[0], name).toMatchObject({ code: 'ECONNREFUSED' });
      expect(args[1], name).toBeUndefined();
      expect(typeof args[2], name).toBe('function');
      expect(() => (args[2] as () => void)(), name).not.toThrow();
    }
  });

  it('an ended pool fails at once with pg\'s own error (no code), still a PoolEndedError', async () => {
    const c = pgCluster();
    for (const pool of [new pg.Pool({ connectionString: c.primary.url }), new PgFace({ connectionString: c.primary.url }) as pg.Pool, new PgFace({ primary: c.primary.url }) as pg.Pool]) {
      await pool.end();
      let called = false;
      let error: (Error & { code?: unknown }) | undefined;
      pool.connect((err) => {
        called = true;
        error = err as Error;
      });
      expect(called).toBe(true); // synchronously, as pg-pool
      expect(error?.message).toBe('Cannot use a pool after calling end on the pool');
      expect(error?.code).toBeUndefined();
      await expect(pool.query('SELECT 1')).rejects.toThrow('Cannot use a pool after calling end on the pool');
      if (pool instanceof PgFace) expect(error).toBeInstanceOf(PgEnded);
      else expect(error).not.toBeInstanceOf(PgEnded); // pg's own error is not marked
    }
  });

  it('health checks and read-your-writes positions use the pool\'s Client class; a Client whose connect rejects never surfaces as an unhandled rejection', async () => {
    const c = pgCluster();
    const seen: string[] = [];
    class Recording extends pg.Client {
      override query(...args: unknown[]): never {
        const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
        if (text) seen.push(text);
        return (super.query as (...a: unknown[]) => never)(...args);
      }
    }
    const pool = new PgFace({ primary: c.primary.url, replicas: [c.replicas[0]!.url], Client: Recording, healthCheckIntervalMillis: 100 });
    cleanups.push(() => pool.end());
    await pool.query('SELECT 1');
    expect(seen.some((t) => t.includes('pg_is_in_recovery()'))).toBe(true); // the probe ran on a Recording client
    expect(pool.Client).toBe(Recording);

    // A Client that only takes callbacks (pg-pool only calls connect(cb)) serves the checks too.
    class CallbackOnly extends pg.Client {
      override connect(callback?: unknown): never {
        if (typeof callback !== 'function') throw new TypeError('cb is not a function');
        return (super.connect as unknown as (cb: unknown) => never).call(this, callback);
      }
    }
    const callbackOnly = new PgFace({ primary: c.primary.url, replicas: [c.replicas[0]!.url], Client: CallbackOnly });
    cleanups.push(() => callbackOnly.end());
    expect((await callbackOnly.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(callbackOnly.stats().hosts.map((h) => h.state)).toEqual(['up', 'up']);

    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(() => process.off('unhandledRejection', onUnhandled));
    class Refusing extends pg.Client {
      override connect(): never {
        return Promise.reject(new Error('refused by a patched client')) as never;
      }
    }
    const broken = new PgFace({ primary: c.primary.url, Client: Refusing, healthCheckIntervalMillis: 50, healthCheckTimeoutMillis: 200 });
    cleanups.push(() => broken.end());
    broken.on('error', () => {});
    const err = await broken.query('SELECT 1').catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 300)); // several checks
    expect(unhandled).toEqual([]);
  });

  it('pg-pool\'s _clients, _idle and _pendingQueue show the pool\'s connections (the primary\'s in the multi-host form)', async () => {
    const c = pgCluster();
    for (const pool of [new PgFace({ connectionString: c.primary.url, max: 1 }), new PgFace({ primary: c.primary.url, replicas: [c.replicas[0]!.url], max: 1 })]) {
      cleanups.push(() => (pool.ending ? undefined : pool.end()));
      const held = await pool.connect();
      expect(pool._clients).toHaveLength(1);
      expect(pool._idle).toHaveLength(0);
      const waiting = pool.connect();
      await new Promise((r) => setImmediate(r));
      expect(pool._pendingQueue).toHaveLength(1);
      held.release();
      const second = await waiting;
      second.release();
      expect(pool._idle).toHaveLength(1);
      // What pg-pool's own tests do: end the client of a running query behind the pool's back; the query fails.
      pool.on('error', () => {});
      const sleeping = pool.query({ text: 'SELECT pg_sleep(5)', role: 'primary' }).catch((e: unknown) => e);
      await waitFor(() => pool._idle.length === 0, 2000);
      await (pool._clients[0] as pg.Client).end();
      expect(await sleeping).toBeInstanceOf(Error);
      await pool.end();
    }
  });

  it('hostEjected/hostDown say why: the host\'s stats carry the last error blamed on it, without the password', async () => {
    const c = pgCluster();
    const proxy = await FaultProxy.start({ host: c.replicas[0]!.host, port: c.replicas[0]!.port });
    cleanups.push(() => proxy.stop());
    const pool = new PgFace({
      primary: c.primary.url,
      replicas: [{ host: proxy.host, port: proxy.port, user: 'postgres', password: 'hunter2-secret', database: 'postgres', name: 'replica1' }],
      healthCheckIntervalMillis: 100, healthCheckTimeoutMillis: 300,
    });
    cleanups.push(() => pool.end());
    pool.on('error', () => {});
    await pool.query('SELECT 1');
    expect(pool.stats().hosts.find((h) => h.name === 'replica1')!.lastError).toBeNull();
    const out = new Promise<HostStats>((resolve) => {
      pool.on('hostEjected', (h) => { if (h.name === 'replica1') resolve(h); });
      pool.on('hostDown', (h) => { if (h.name === 'replica1') resolve(h); });
    });
    await proxy.refuse();
    const before = Date.now();
    const host = await out;
    // The proxy resets the open connections and refuses new ones: whichever the pool saw first.
    expect(host.lastError).toMatchObject({ code: expect.stringMatching(/^ECONN(RESET|REFUSED)$/), at: expect.any(Number) });
    expect(host.lastError!.at).toBeGreaterThanOrEqual(before - 1000);
    expect(JSON.stringify(pool.stats())).not.toContain('hunter2');
  });

  it('a cursor or pg.Query that a replica refuses as read-only fails once and is never re-run on the primary (it already reported)', async () => {
    const c = pgCluster();
    const pool = new PgFace({ primary: c.primary.url, replicas: [c.replicas[0]!.url] });
    cleanups.push(() => pool.end());
    await pool.query('CREATE TABLE IF NOT EXISTS dropin_hidden (x int)');
    await pool.query('CREATE OR REPLACE FUNCTION dropin_w() RETURNS int AS $$ INSERT INTO dropin_hidden VALUES (1) RETURNING 1 $$ LANGUAGE sql');
    await pool.query('TRUNCATE dropin_hidden');
    await waitForReplay(pool, c);
    const cursor = pool.query(new Cursor('SELECT dropin_w() AS v'));
    await expect(cursor.read(10)).rejects.toMatchObject({ code: '25006' });
    const query = new pg.Query('SELECT dropin_w() AS v');
    const events: string[] = [];
    await new Promise<void>((resolve) => {
      query.on('error', (e: Error & { code?: string }) => { events.push(`error ${e.code}`); resolve(); });
      query.on('row', () => events.push('row'));
      pool.query(query);
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(events).toEqual(['error 25006']);
    expect((await pool.query({ text: 'SELECT count(*)::int AS n FROM dropin_hidden', role: 'primary' })).rows[0].n).toBe(0);
    await waitFor(() => pool.stats().hosts.every((h) => h.inflight === 0), 2000);
  });

  it('a cursor given to an ended pool (or with no host to run on) fails its read(); nothing crashes the process', async () => {
    const c = pgCluster();
    const pool = new PgFace({ primary: c.primary.url, replicas: [c.replicas[0]!.url] });
    await pool.end();
    const cursor = pool.query(new Cursor('SELECT 1'));
    await expect(cursor.read(1)).rejects.toThrow('Cannot use a pool after calling end on the pool');
    const noReplica = new PgFace({ primary: c.primary.url, replicas: [{ host: '127.0.0.1', port: 1, user: 'postgres', name: 'gone' }], fallbackToPrimary: false, healthCheckTimeoutMillis: 300 });
    cleanups.push(() => noReplica.end());
    noReplica.on('error', () => {});
    const orphan = noReplica.query(new Cursor('SELECT 1')); // nobody listens for 'error' on it
    await expect(orphan.read(1)).rejects.toMatchObject({ p2cCode: 'P2C_NO_HOST_AVAILABLE' });
  });

  it('end() right after queries were issued lets them finish, also while the first role checks run (as pg-pool)', async () => {
    const c = pgCluster();
    for (const make of [() => new PgFace({ connectionString: c.primary.url, max: 20 }), () => new PgFace({ primary: c.primary.url, replicas: [c.replicas[0]!.url], max: 20 })]) {
      const pool = make();
      const one = pool.query('SELECT $1::text AS name', ['brianc']);
      let completed = 0;
      // 20 in all, max 20: none waits in pg-pool's own queue (which pg-pool never serves once ending).
      const all = Array.from({ length: 19 }, () => pool.query('SELECT $1::text AS name', ['brianc']).then(() => completed++));
      await pool.end();
      expect((await one).rows[0].name).toBe('brianc');
      await Promise.all(all);
      expect(completed).toBe(19);
    }
  });

  it('a stream or cursor is not retried, and mysql2 queued requests at end() carry the ended mark', async () => {
    const c = myCluster();
    const pool = createPool({ primary: c.primary.url, replicas: [c.replicas[0]!.url], connectionLimit: 1 });
    const held = await new Promise<mysql.PoolConnection>((resolve, reject) => pool.getConnection({ role: 'primary' }, (e, x) => (e ? reject(e) : resolve(x!))));
    const queued = q(pool, { sql: 'SELECT 1', role: 'primary' }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    const ended = endMy(pool);
    held.release();
    await ended;
    const outcome = await Promise.race([queued, new Promise((r) => setTimeout(() => r('still waiting'), 1000))]);
    if (LOWEST) expect(outcome).toBe('still waiting'); // mysql2 3.9 never answers it (nor does mysql2's own pool)
    else expect(outcome).toBeInstanceOf(PoolEndedError);
  });

  it('`await using` ends the pool (Symbol.asyncDispose)', async () => {
    const c = pgCluster();
    const pool = new PgFace({ primary: c.primary.url });
    await pool.query('SELECT 1');
    await pool[Symbol.asyncDispose]();
    expect(pool.ended).toBe(true);
  });
});

/** Waits until the replica has replayed everything the primary wrote so far. */
async function waitForReplay(pool: PgFace, c: { replicas: readonly { port: number }[] }): Promise<void> {
  const { rows } = await pool.query({ text: 'SELECT pg_current_wal_insert_lsn()::text AS lsn', role: 'primary' });
  const lsn = rows[0].lsn as string;
  await waitFor(async () => {
    const r = await pool.query({ text: 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok, inet_server_port() AS port', values: [lsn], role: 'replica' });
    return r.rows[0].ok === true && c.replicas.some((x) => x.port === r.rows[0].port);
  }, 10_000);
}
