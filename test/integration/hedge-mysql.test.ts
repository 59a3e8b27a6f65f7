// Hedged reads on a real MariaDB primary + 2 replicas: a read stuck on one replica is answered by the
// other, the stuck statement is killed (KILL QUERY) and its connection reused, healthy.
import { afterEach, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../adapters/mysql/index.js';
import { admin, useMyCluster } from '../support/vitest-mysql.js';
import { waitFor } from '../support/load.js';
import { holdProxy, type HoldProxy } from '../support/hold-proxy.js';

const cluster = useMyCluster({ replicas: 2 });
let pool: Pool | undefined;
const holds: HoldProxy[] = [];

afterEach(async () => {
  await pool?.promise().end();
  pool = undefined;
  for (const h of holds.splice(0)) await h.close();
});

/** A proxy that holds any packet carrying `KILL QUERY` for `holdMs` (a slow KILL). */
async function killDelayProxy(target: { host: string; port: number }, holdMs: number): Promise<number> {
  const proxy = await holdProxy(target, (chunk) => chunk.includes('KILL QUERY'), holdMs);
  holds.push(proxy);
  return proxy.port;
}

const stuckOn = (slowPort: number, seconds: number) => `SELECT IF(@@port = ${slowPort}, SLEEP(${seconds}), 0) AS s, @@port AS port /* hedge */`;

describe('hedged reads (mysql)', () => {
  it('a read stuck on one replica is answered by the other; the stuck statement is killed and its connection reused', async () => {
    const c = cluster();
    const [slow, fast] = c.replicas;
    pool = createPool({
      primary: c.primary.url,
      replicas: c.replicas.map((r, i) => ({ uri: r.url, name: `replica${i + 1}` })),
      connectionLimit: 1,
      picker: 'round-robin',
      hedge: { afterMillis: 50, maxExtraLoad: 1 },
    });
    pool.on('error', () => {});
    const p = pool.promise();
    await p.query('SELECT 1');
    const started = Date.now();
    const ports: number[] = [];
    for (let i = 0; i < 6; i++) ports.push(((await p.query(stuckOn(slow!.port, 5)))[0] as { port: number }[])[0]!.port);
    expect(ports).toEqual(Array(6).fill(fast!.port));
    expect(Date.now() - started).toBeLessThan(4000);
    // Each loser is cancelled one hedge delay (50 ms) after its read was answered.
    await waitFor(() => pool!.stats().hedges.cancelled === 3, 3000).catch(() => {});
    expect(pool!.stats().hedges).toMatchObject({ sent: 3, won: 3, cancelled: 3, cancelFailed: 0 });
    // Killed on the server: no SLEEP of the app user left running there.
    const sleeping = async () => ((await admin(slow!.adminUrl, "SELECT id FROM information_schema.PROCESSLIST WHERE INFO LIKE '%/* hedge */%' AND USER = 'app'")) as unknown[]).length;
    await waitFor(async () => (await sleeping()) === 0, 3000);
    await waitFor(() => pool!.stats().hosts.find((h) => h.name === 'replica1')!.inflight === 0, 3000);
    expect(pool.stats().hosts.find((h) => h.name === 'replica1')).toMatchObject({ total: 1, errors: 0, state: 'up' });
    // The same connection serves later statements: a late KILL QUERY would fail one of them.
    for (let i = 0; i < 20; i++) await p.query({ sql: 'SELECT @@port AS port', role: 'replica' } as never);
  });

  it('a loser that fails with its own SQL error before its slow KILL lands is not pooled until the KILL was answered (no 1317 later)', async () => {
    const c = cluster();
    const [slow, fast] = c.replicas;
    const port = await killDelayProxy({ host: slow!.host, port: slow!.port }, 300);
    pool = createPool({
      primary: c.primary.url,
      replicas: [{ host: '127.0.0.1', port, user: 'app', password: 'app', database: 'test', name: 'slow', connectionLimit: 1 }, { uri: fast!.url, name: 'fast' }],
      picker: 'round-robin',
      hedge: { afterMillis: 50, maxExtraLoad: 1 },
    });
    pool.on('error', () => {});
    const p = pool.promise();
    for (let i = 0; i < 2; i++) await p.query({ sql: 'SELECT 1', role: 'replica' } as never);
    // On 'slow' the subquery returns two rows after 200 ms (error 1242); on 'fast' it is not run.
    const q = `SELECT IF(@@port = ${slow!.port}, SLEEP(0.2) + (SELECT v FROM (SELECT 1 AS v UNION SELECT 2) x), 0) AS s, @@port AS port`;
    expect(((await p.query(q))[0] as { port: number }[])[0]!.port).toBe(fast!.port);
    const results = await Promise.all([0, 1].map(async () => {
      const conn = await p.getConnection({ role: 'replica' } as never);
      try {
        return ((await conn.query('SELECT SLEEP(0.6) AS s, @@port AS port'))[0] as { port: number }[])[0]!.port;
      } catch (err) {
        return `FAILED ${(err as { errno?: number }).errno}`;
      } finally {
        conn.release();
      }
    }));
    expect(results.every((r) => typeof r === 'number')).toBe(true);
    expect(results).toContain(slow!.port); // one of them ran on the connection the KILL was aimed at
  });
});
