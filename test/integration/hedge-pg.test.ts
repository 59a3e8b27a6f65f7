// Hedged reads on a real primary + 2 replicas: a read stuck on one replica is answered by the other,
// the stuck statement is cancelled on its server, and its connection is reused, healthy.
import { afterEach, describe, expect, it } from 'vitest';
import { Pool } from '../../adapters/pg/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { holdProxy, type HoldProxy } from '../support/hold-proxy.js';
import { useCluster } from '../support/vitest-cluster.js';
import { sql } from '../support/pg-admin.js';
import { waitFor } from '../support/load.js';

const cluster = useCluster({ replicas: 2 });
const APP = 'p2c-hedge';
let pool: Pool | undefined;
const holds: HoldProxy[] = [];
const proxies: FaultProxy[] = [];

afterEach(async () => {
  await pool?.end();
  pool = undefined;
  for (const h of holds.splice(0)) await h.close();
  for (const p of proxies.splice(0)) await p.stop();
});

/** A proxy that holds a PostgreSQL CancelRequest for `holdMs` (a slow cancel connection). */
async function cancelDelayProxy(target: { host: string; port: number }, holdMs: number): Promise<number> {
  const proxy = await holdProxy(target, (chunk, first) => first && chunk.length === 16 && chunk.readInt32BE(4) === 80877102, holdMs);
  holds.push(proxy);
  return proxy.port;
}

/** A read that sleeps `seconds` on `slowPort` only, and returns the port that served it. */
const stuckOn = (slowPort: number, seconds: number) => `SELECT CASE WHEN inet_server_port() = ${slowPort} THEN pg_sleep(${seconds}) END AS s, inet_server_port() AS port /* hedge */`;

function make(extra: Record<string, unknown> = {}): Pool {
  const c = cluster();
  pool = new Pool({
    primary: c.primary.url,
    replicas: c.replicas.map((r, i) => ({ connectionString: r.url, name: `replica${i + 1}` })),
    application_name: APP,
    picker: 'round-robin',
    hedge: { afterMillis: 50 },
    ...extra,
  });
  pool.on('error', () => {});
  return pool;
}

/** Statements of this test's pool still running on a server. */
const running = (url: string) => sql<{ query: string }>(url, "SELECT query FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE '%/* hedge */%'", [APP]);

/**
 * `hedge_bump()`: a function the classifier cannot see into, which inserts a row into an emptied
 * table and sleeps 300 ms. A replica refuses it (read-only session); the primary runs it slowly,
 * long after the hedge delay of the pool returned (20 ms).
 */
async function writingFunction(): Promise<{ c: ReturnType<typeof cluster>; p: Pool }> {
  const c = cluster();
  await sql(c.primary.url, 'CREATE TABLE IF NOT EXISTS hedge_bumps (id serial PRIMARY KEY)');
  await sql(c.primary.url, 'TRUNCATE hedge_bumps');
  await sql(c.primary.url, `CREATE OR REPLACE FUNCTION hedge_bump() RETURNS int LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO hedge_bumps DEFAULT VALUES; PERFORM pg_sleep(0.3); RETURN 1; END $$`);
  const replicated = async (url: string) => (await sql(url, "SELECT 1 FROM pg_proc WHERE proname = 'hedge_bump'")).length === 1;
  await waitFor(async () => (await replicated(c.replicas[0]!.url)) && (await replicated(c.replicas[1]!.url)), 10_000);
  const p = make({ hedge: { afterMillis: 20, maxExtraLoad: 1 } });
  await p.query('SELECT 1');
  return { c, p };
}

describe('hedged reads (pg)', () => {
  it('a read stuck on one replica is answered by the other; the stuck statement is cancelled and its connection reused', async () => {
    const c = cluster();
    const [slow, fast] = c.replicas;
    const p = make({ max: 1, hedge: { afterMillis: 50, maxExtraLoad: 1 } });
    await p.query('SELECT 1');
    const started = Date.now();
    const ports: number[] = [];
    // Round-robin: every other read starts on the slow replica; each is hedged after 50 ms.
    for (let i = 0; i < 6; i++) ports.push((await p.query(stuckOn(slow!.port, 5))).rows[0].port);
    const elapsed = Date.now() - started;
    expect(ports).toEqual(Array(6).fill(fast!.port));
    expect(elapsed).toBeLessThan(4000); // six reads, none waited for the 5 s sleep
    // Each loser is cancelled one hedge delay (50 ms) after its read was answered.
    await waitFor(() => p.stats().hedges.cancelled === 3, 3000).catch(() => {});
    expect(p.stats().hedges).toMatchObject({ sent: 3, won: 3, cancelled: 3, cancelFailed: 0 });
    // Cancelled on the server, not merely abandoned by the client.
    await waitFor(async () => (await running(slow!.url)).length === 0, 3000);
    // The slow replica's one connection (max 1) survived three cancels and serves the next read.
    await waitFor(() => p.stats().hosts.find((h) => h.name === 'replica1')!.inflight === 0, 3000);
    const r1 = p.stats().hosts.find((h) => h.name === 'replica1')!;
    expect(r1).toMatchObject({ total: 1, errors: 0, state: 'up' });
    const pids = await sql<{ n: number }>(slow!.url, 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [APP]);
    expect(pids[0]!.n).toBe(1);
    // No later statement on that connection is hit by a late cancel.
    for (let i = 0; i < 20; i++) await p.query({ text: 'SELECT inet_server_port() AS port', role: 'replica' });
  });

  it('never hedges writes, transactions, leased clients or reads answered in time', async () => {
    const c = cluster();
    const p = make();
    await p.query('SELECT 1');
    await p.query('CREATE TABLE IF NOT EXISTS hedge_w (v int)');
    await p.query('INSERT INTO hedge_w SELECT 1 FROM pg_sleep(0.2)');
    const client = await p.connect({ role: 'replica' });
    try {
      await client.query(stuckOn(c.replicas[0]!.port, 0.2));
      await client.query(stuckOn(c.replicas[1]!.port, 0.2));
    } finally {
      client.release();
    }
    for (let i = 0; i < 10; i++) await p.query('SELECT 1');
    expect(p.stats().hedges.sent).toBe(0);
  });

  it('caps hedges at maxExtraLoad of reads', async () => {
    const c = cluster();
    const p = make({ hedge: { afterMillis: 10, maxExtraLoad: 0.1 } });
    await p.query('SELECT 1');
    // Both replicas slow: every read would be hedged without the cap.
    const reads = 40;
    for (let i = 0; i < reads; i++) await p.query('SELECT pg_sleep(0.03), inet_server_port() AS port');
    const { hedges } = p.stats();
    // One token at start, then 0.1 per read: at most 1 + 4 + 1.
    expect(hedges.overBudget).toBeGreaterThan(0);
    expect(hedges.sent).toBeLessThanOrEqual(1 + reads * 0.1);
    expect(hedges.sent).toBeGreaterThanOrEqual(3);
    void c;
  });

  it("'p95' waits for enough samples, then hedges after the recent 95th percentile", async () => {
    const c = cluster();
    const p = make({ hedge: { afterMillis: 'p95' } });
    await p.query('SELECT 1');
    for (let i = 0; i < 10; i++) await p.query(stuckOn(c.replicas[0]!.port, 0.3));
    expect(p.stats().hedges.sent).toBe(0); // no percentile yet: nothing hedged
    for (let i = 0; i < 130; i++) await p.query('SELECT 1');
    const started = Date.now();
    const { rows } = await p.query(stuckOn(c.replicas[0]!.port, 5));
    const second = await p.query(stuckOn(c.replicas[0]!.port, 5));
    expect([rows[0].port, second.rows[0].port]).toEqual([c.replicas[1]!.port, c.replicas[1]!.port]);
    expect(Date.now() - started).toBeLessThan(3000);
    // The read that started on the slow replica was hedged (the other may have been too, if it
    // took longer than the tiny p95 of `SELECT 1`).
    expect(p.stats().hedges.won).toBeGreaterThanOrEqual(1);
  });

  it('a loser that answers before its slow cancel lands is not pooled until the server took the cancel (no 57014 on a later statement)', async () => {
    const c = cluster();
    const [slow, fast] = c.replicas;
    const port = await cancelDelayProxy({ host: slow!.host, port: slow!.port }, 300);
    const p = make({
      replicas: [{ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', name: 'slow', max: 1 }, { connectionString: fast!.url, name: 'fast' }],
      hedge: { afterMillis: 50, maxExtraLoad: 1 },
    });
    for (let i = 0; i < 2; i++) await p.query({ text: 'SELECT 1', role: 'replica' });
    // Starts on 'slow' (round-robin), hedged after 50 ms, answered by 'fast'; the loser answers at
    // 200 ms, before its cancel reaches the server at ~350 ms.
    expect((await p.query(stuckOn(slow!.port, 0.2))).rows[0].port).toBe(fast!.port);
    const results = await Promise.all([0, 1].map(async () => {
      const client = await p.connect({ role: 'replica' });
      try {
        return (await client.query('SELECT pg_sleep(0.6), inet_server_port() AS port')).rows[0].port as number;
      } catch (err) {
        return `FAILED ${(err as { code?: string }).code}`;
      } finally {
        client.release();
      }
    }));
    expect(results.every((r) => typeof r === 'number')).toBe(true);
    expect(results).toContain(slow!.port); // one of them ran on the connection the cancel was aimed at
  });

  it('an original that fails with an SQL error answers at once; a hedge stuck on a black-holed replica is abandoned, and end() returns', async () => {
    const c = cluster();
    const [a, b] = c.replicas;
    const proxy = await FaultProxy.start({ host: b!.host, port: b!.port });
    proxies.push(proxy);
    const p = make({
      replicas: [{ connectionString: a!.url, name: 'a', max: 1 }, { host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres', name: 'b', max: 1 }],
      hedge: { afterMillis: 30, maxExtraLoad: 1 },
      healthCheckTimeoutMillis: 500,
      healthCheckIntervalMillis: 0,
    });
    for (let i = 0; i < 2; i++) await p.query({ text: 'SELECT 1', role: 'replica' });
    proxy.blackhole();
    // Round-robin: the next read starts on 'a'; its hedge goes to the black-holed 'b'.
    const started = Date.now();
    const err = await p.query('SELECT 1 / 0 FROM pg_sleep(0.3)').then(() => undefined, (e: unknown) => e as { code?: string });
    expect(err?.code).toBe('22012');
    expect(Date.now() - started).toBeLessThan(1500);
    // A read answered by 'a' while its hedge hangs on 'b': the caller gets the answer, the hedge's
    // connection is given up once its cancel fails (500 ms), so nothing waits on 'b' for ever.
    const second = await p.query('SELECT pg_sleep(0.3), inet_server_port() AS port');
    expect(second.rows[0].port).toBe(a!.port);
    await waitFor(() => p.stats().hosts.find((h) => h.name === 'b')!.inflight === 0, 3000);
    expect(p.stats().hedges.cancelFailed).toBeGreaterThanOrEqual(1);
    const ending = p.end();
    pool = undefined;
    const ended = await Promise.race([ending.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
    expect(ended).toBe(true);
  });

  it('a read that turns out to write leaves its race when it goes to the primary: the caller gets the write\'s answer, never a replica\'s read-only error while the write commits', async () => {
    const { c, p } = await writingFunction();
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => p.query('SELECT hedge_bump() AS one /* hedge */')));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.rows[0].one : (r.reason as Error).message))).toEqual([1, 1, 1, 1]);
    expect((await sql<{ n: string }>(c.primary.url, 'SELECT count(*) AS n FROM hedge_bumps'))[0]!.n).toBe('4');
    // Nothing was hedged once the read had become a write.
    expect(p.stats().hedges.sent).toBe(0);
  });

  it('a hedge refused as a write (read-only session) does not answer the read: the original goes on to the primary', async () => {
    const { c, p } = await writingFunction();
    // On the first replica the statement sleeps before its INSERT is refused: its hedge, on the
    // other replica, is refused at once.
    const text = `SELECT CASE WHEN inet_server_port() = ${c.replicas[0]!.port} THEN pg_sleep(0.3) END AS s, hedge_bump() AS one /* hedge */`;
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => p.query(text)));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.rows[0].one : (r.reason as Error).message))).toEqual([1, 1, 1, 1]);
    expect((await sql<{ n: string }>(c.primary.url, 'SELECT count(*) AS n FROM hedge_bumps'))[0]!.n).toBe('4');
    expect(p.stats().hedges.sent).toBeGreaterThan(0);
  });

  it('rejects a bad hedge option with a ConfigError', () => {
    const c = cluster();
    const bad = [{ afterMillis: -1 }, { afterMillis: 'p99' }, { afterMillis: 1e12 }, { afterMillis: 5, maxExtraLoad: 0 }, { afterMillis: 5, maxExtraLoad: 2 }, { after: 5 }, 'p95'];
    for (const hedge of bad) {
      expect(() => new Pool({ primary: c.primary.url, replicas: [c.replicas[0]!.url], hedge } as never)).toThrowError(expect.objectContaining({ code: 'P2C_CONFIG' }));
    }
  });
});
