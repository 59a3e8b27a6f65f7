// Hedged reads under attack (mysql): a loser whose KILL fails on a black-holed replica; exactly one callback, end() returns.
import { afterEach, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../adapters/mysql/index.js';
import { useMyCluster } from '../support/vitest-mysql.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../support/load.js';

const cluster = useMyCluster({ replicas: 2 });
let pool: Pool | undefined;
const proxies: FaultProxy[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(async () => {
  const p = pool;
  pool = undefined;
  if (p) await Promise.race([p.promise().end(), sleep(5000)]);
  for (const x of proxies.splice(0)) await x.stop();
});

describe('hedged reads under attack (mysql)', () => {
  it('attempt 0 stuck on a black-holed replica loses; its KILL fails; one callback, inflight 0, end() returns', async () => {
    const c = cluster();
    const [a, b] = c.replicas;
    const pa = await FaultProxy.start({ host: '127.0.0.1', port: a!.port });
    proxies.push(pa);
    pool = createPool({
      primary: c.primary.url,
      replicas: [{ uri: `mysql://app:app@127.0.0.1:${pa.port}/test`, name: 'a', connectionLimit: 2 }, { uri: b!.url, name: 'b' }],
      picker: 'round-robin',
      hedge: { afterMillis: 40, maxExtraLoad: 1 },
      healthCheckTimeoutMillis: 500,
      healthCheckIntervalMillis: 0,
    } as never);
    pool.on('error', () => {});
    for (let i = 0; i < 2; i++) await pool.promise().query('SELECT 1');
    pa.blackhole();
    const calls: unknown[] = [];
    const first = new Promise<{ err: unknown; rows: unknown }>((resolve) => pool!.query('SELECT @@port AS port', (err: unknown, rows: unknown) => { calls.push(err ?? rows); resolve({ err, rows }); }));
    const r = await first;
    expect(r.err).toBeNull();
    expect((r.rows as { port: number }[])[0]!.port).toBe(b!.port);
    await waitFor(() => pool!.stats().hosts.find((h) => h.name === 'a')!.inflight === 0, 4000);
    await sleep(300);
    expect(calls).toHaveLength(1);
    expect(pool.stats().hedges).toMatchObject({ sent: 1, won: 1, cancelled: 1, cancelFailed: 1 });
    const ending = pool.promise().end();
    pool = undefined;
    expect(await Promise.race([ending.then(() => true), sleep(4000).then(() => false)])).toBe(true);
  });
});
