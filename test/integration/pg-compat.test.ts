// pg.Pool behaviours the drop-in face must keep, against real servers.
import { afterEach, describe, expect, it } from 'vitest';
import Cursor from 'pg-cursor';
import { Pool, PoolEndedError, HostUnavailableError, type HostInfo } from '../../adapters/pg/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../support/load.js';
import { useCluster } from '../support/vitest-cluster.js';

const cluster = useCluster({ replicas: 1 });
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

function multi(extra: Record<string, unknown> = {}): Pool {
  const c = cluster();
  const pool = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), max: 3, ...extra });
  cleanups.push(() => (pool.ending ? Promise.resolve() : pool.end()));
  return pool;
}

const tick = () => new Promise((r) => setImmediate(r));

describe('pg.Pool surface', () => {
  it('an idle client error reaches pool.on("error") with the host attached', async () => {
    const pool = multi();
    const client = await pool.connect();
    const pid = (client as unknown as { processID: number }).processID;
    client.release();
    const seen = new Promise<[Error, unknown, HostInfo]>((resolve) => pool.once('error', (err, c, host) => resolve([err, c, host])));
    const admin = multi();
    await admin.query({ text: 'SELECT pg_terminate_backend($1)', values: [pid], role: 'primary' });
    const [err, errClient, host] = await seen;
    expect(err).toBeInstanceOf(Error);
    expect(errClient).toBe(client);
    expect(host).toMatchObject({ role: 'primary', name: `127.0.0.1:${cluster().primary.port}` });
    // The broken client was removed; the pool still works.
    await expect(pool.query({ text: 'SELECT 1 AS x', role: 'primary' })).resolves.toMatchObject({ rows: [{ x: 1 }] });
  });

  it('release(err) destroys the connection; releasing twice throws', async () => {
    const pool = multi();
    const removed = new Promise<HostInfo>((resolve) => pool.once('remove', (_c, host) => resolve(host)));
    const client = await pool.connect();
    expect(pool.totalCount).toBe(1);
    client.release(new Error('broken'));
    expect(pool.totalCount).toBe(0);
    expect(await removed).toMatchObject({ role: 'primary' });
    expect(() => client.release()).toThrow(/already been released/);
    expect(pool.stats().hosts[0]!.inflight).toBe(0);
  });

  it('counters are summed over hosts, and events carry the host', async () => {
    const pool = multi();
    const events: string[] = [];
    for (const e of ['connect', 'acquire', 'release'] as const) pool.on(e, (...args: unknown[]) => events.push(`${e}:${(args.at(-1) as HostInfo).role}`));
    const a = await pool.connect();
    const b = await pool.connect({ role: 'replica' });
    expect([pool.totalCount, pool.idleCount, pool.waitingCount]).toEqual([2, 0, 0]);
    a.release();
    b.release();
    expect([pool.totalCount, pool.idleCount, pool.expiredCount]).toEqual([2, 2, 0]);
    expect(events).toEqual(['connect:primary', 'acquire:primary', 'connect:replica', 'acquire:replica', 'release:primary', 'release:replica']);
  });

  it('waitingCount counts queued requests; connectionTimeoutMillis bounds the wait', async () => {
    const pool = multi({ max: 1, connectionTimeoutMillis: 300 });
    const held = await pool.connect();
    const waiting = pool.connect();
    await tick();
    expect(pool.waitingCount).toBe(1);
    const t0 = Date.now();
    await expect(waiting).rejects.toThrow(/timeout/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(pool.waitingCount).toBe(0);
    held.release();
    expect(pool.stats().hosts.every((h) => h.inflight === 0)).toBe(true);
  });

  it('connectionTimeoutMillis fails a connect to a host that never answers, as HostUnavailableError', async () => {
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: cluster().primary.port });
    cleanups.push(() => proxy.stop());
    const pool = new Pool({ primary: { host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres' }, connectionTimeoutMillis: 300, healthCheckIntervalMillis: 0 });
    cleanups.push(() => pool.end());
    // The host answers its first check (roles are verified before anything is served), then goes silent.
    await pool.query('SELECT 1');
    const errorsBefore = pool.stats().hosts[0]!.errors;
    pool.on('error', () => {}); // the idle connection reset below
    proxy.reset();
    await new Promise((r) => setTimeout(r, 50));
    proxy.blackhole();
    const t0 = Date.now();
    const err = await pool.query('SELECT 1').catch((e: unknown) => e);
    const elapsed = Date.now() - t0;
    expect(err).toBeInstanceOf(HostUnavailableError);
    expect(err).toMatchObject({ p2cCode: 'P2C_HOST_UNAVAILABLE', host: `127.0.0.1:${proxy.port}` });
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(5000);
    // A connect timeout is blamed once the host also fails a check of its own (it is black-holed).
    await waitFor(() => pool.stats().hosts[0]!.errors === errorsBefore + 1, 5000);
    expect(pool.stats().hosts[0]).toMatchObject({ inflight: 0 });
    expect(pool.stats().hosts[0]!.errorRate).toBeGreaterThan(0);
  });

  it('a reset connection fails as HostUnavailableError and the pool reconnects after the fault heals', async () => {
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: cluster().primary.port });
    cleanups.push(() => proxy.stop());
    const pool = new Pool({ primary: { host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres' }, max: 2 });
    cleanups.push(() => pool.end());
    const idleErrors: Error[] = [];
    pool.on('error', (err) => idleErrors.push(err));
    await pool.query('SELECT 1');
    const running = pool.query('SELECT pg_sleep(1)');
    await new Promise((r) => setTimeout(r, 100));
    proxy.reset();
    await expect(running).rejects.toMatchObject({ p2cCode: 'P2C_HOST_UNAVAILABLE', code: 'ECONNRESET', errno: expect.any(Number), syscall: 'read' }); // the driver's error, fields kept
    await expect(pool.query('SELECT 1')).rejects.toBeInstanceOf(HostUnavailableError);
    await proxy.heal();
    await expect(pool.query('SELECT 1 AS ok')).resolves.toMatchObject({ rows: [{ ok: 1 }] });
    expect(pool.stats().hosts[0]).toMatchObject({ inflight: 0, errors: 2 });
  });

  it('end() while busy lets running queries finish, then refuses new work', async () => {
    const pool = multi();
    const slow = pool.query('SELECT pg_sleep(0.3), 1 AS done');
    const held = await pool.connect();
    await tick();
    const ended = pool.end();
    expect(pool.ending).toBe(true);
    expect(pool.ended).toBe(false);
    await expect(pool.query('SELECT 1')).rejects.toBeInstanceOf(PoolEndedError);
    const endedErr = (await pool.connect().catch((e: unknown) => e)) as Error & { code?: unknown };
    // pg's own error (its message, no code), marked as p2c's in a non-enumerable property.
    expect(endedErr).toMatchObject({ message: 'Cannot use a pool after calling end on the pool', p2cCode: 'P2C_POOL_ENDED' });
    expect(endedErr.code).toBeUndefined();
    expect(Object.keys(endedErr)).toEqual([]);
    await expect(slow).resolves.toMatchObject({ rows: [{ done: 1 }] });
    await expect(held.query('SELECT 2 AS two')).resolves.toMatchObject({ rows: [{ two: 2 }] });
    held.release();
    await ended;
    expect(pool.ended).toBe(true);
    expect(pool.totalCount).toBe(0);
    expect(pool.stats().hosts.every((h) => h.state === 'closed' && h.inflight === 0)).toBe(true);
    await expect(pool.end()).rejects.toThrow('Called end on pool more than once');
  });

  it('callback forms, never called synchronously', async () => {
    const pool = multi();
    let sync = true;
    const r1 = await new Promise((resolve, reject) => {
      pool.query('SELECT 1 AS x', (err, res) => (err ? reject(err) : resolve(res.rows)));
    });
    const r2 = await new Promise((resolve, reject) => {
      pool.query('SELECT $1::int AS x', [2], (err, res) => (err ? reject(err) : resolve(res.rows)));
    });
    expect([r1, r2]).toEqual([[{ x: 1 }], [{ x: 2 }]]);
    const viaConnect = await new Promise((resolve, reject) => {
      pool.connect((err, client, done) => {
        if (err || !client || !done) return reject(err);
        client.query('SELECT 3 AS x', (qerr, res) => {
          done();
          return qerr ? reject(qerr) : resolve(res.rows);
        });
      });
    });
    expect(viaConnect).toEqual([{ x: 3 }]);
    const ended = new Promise<Error | undefined>((resolve) => {
      pool.end((err) => resolve(err));
    });
    sync = false;
    expect(await ended).toBeUndefined();
    const afterEnd = await new Promise<unknown>((resolve) => {
      pool.query('SELECT 1', (err) => resolve([err, sync]));
    });
    expect(afterEnd).toEqual([expect.any(PoolEndedError), false]);
    expect(await new Promise((resolve) => (pool.query as (cb: unknown) => void)((err: Error) => resolve(err.message)))).toMatch(/function as the first parameter/);
  });

  it('runs a Submittable (pg-cursor) on a replica and releases its connection on close', async () => {
    const pool = multi();
    const cursor = pool.query(new Cursor('SELECT inet_server_port() AS port, g FROM generate_series(1, 10) g'));
    const rows = await cursor.read(4);
    expect(rows).toHaveLength(4);
    expect(rows[0].port).toBe(cluster().replicas[0]!.port);
    await cursor.close();
    await tick();
    expect(pool.idleCount).toBe(1);
    expect(pool.stats().hosts.every((h) => h.inflight === 0)).toBe(true);
  });

  it('the plain single-host form behaves like pg.Pool, with raw pg errors', async () => {
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: cluster().primary.port });
    cleanups.push(() => proxy.stop());
    const pool = new Pool({ host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres', max: 2, connectionTimeoutMillis: 300 });
    cleanups.push(() => (pool.ending ? Promise.resolve() : pool.end()));
    pool.on('error', () => {});
    expect((await pool.query('SELECT inet_server_port() AS port')).rows[0].port).toBe(cluster().primary.port);
    expect(pool.options.max).toBe(2);
    expect(pool.stats().hosts).toEqual([expect.objectContaining({ name: `127.0.0.1:${proxy.port}`, role: 'primary' })]);
    await proxy.refuse();
    await new Promise((r) => setTimeout(r, 50));
    const err = await pool.query('SELECT 1').catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(HostUnavailableError);
    expect(err).toMatchObject({ code: 'ECONNREFUSED' });
  });
});
