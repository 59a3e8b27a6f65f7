// p2c-pool/mysql under faults on a real MariaDB primary + 2 GTID replicas: a slowed replica,
// a replica killed under load, and the primary killed with a replica promoted.
import { describe, expect, it } from 'vitest';
import { createPool, type Pool, type PoolConfig } from '../../adapters/mysql/index.js';
import { startMyCluster, type MyCluster } from '../support/mysql-cluster.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { readLoad, untilWriteSucceeds, waitFor } from '../support/load.js';
import { admin, waitForReplicas } from '../support/vitest-mysql.js';

const read = (pool: Pool) => async () => ((await pool.promise().query('SELECT @@port AS port'))[0] as { port: number }[])[0]!.port;

async function withCluster(proxied: boolean, options: Record<string, unknown>, body: (c: MyCluster, pool: Pool, proxies: FaultProxy[]) => Promise<void>): Promise<void> {
  const cluster = await startMyCluster({ replicas: 2 });
  const proxies: FaultProxy[] = [];
  let pool: Pool | undefined;
  try {
    if (proxied) for (const r of cluster.replicas) proxies.push(await FaultProxy.start({ host: r.host, port: r.port }));
    const replicas = cluster.replicas.map((r, i) => (proxied
      ? { host: proxies[i]!.host, port: proxies[i]!.port, user: 'app', password: 'app', database: 'test', name: `replica${i + 1}` }
      : { uri: r.url, name: `replica${i + 1}` }));
    pool = createPool({ hosts: [{ uri: cluster.primary.url, name: 'primary' }, ...replicas], connectionLimit: 10, healthCheckIntervalMillis: 500, healthCheckTimeoutMillis: 500, ...options } as PoolConfig);
    await pool.promise().query('SELECT 1');
    await body(cluster, pool, proxies);
    await waitFor(() => pool!.stats().hosts.every((h) => h.inflight === 0 && h.waiting === 0), 5000);
  } finally {
    if (pool) await pool.promise().end().catch(() => {});
    for (const p of proxies) await p.stop();
    await cluster.stop();
  }
}

describe('mysql fault scenarios', () => {
  it('one replica slowed by 20 ms gets under 15% of reads with p2c, ~50% with round-robin', async () => {
    const shares: Record<string, number> = {};
    for (const picker of ['p2c', 'round-robin']) {
      await withCluster(true, { picker }, async (cluster, pool, proxies) => {
        proxies[0]!.setDelay(20);
        const counts = new Map<number, number>();
        let issued = 0;
        await Promise.all(Array.from({ length: 16 }, async () => {
          while (issued < 1000) {
            issued++;
            const port = await read(pool)();
            counts.set(port, (counts.get(port) ?? 0) + 1);
          }
        }));
        shares[picker] = (counts.get(cluster.replicas[0]!.port) ?? 0) / 1000;
      });
    }
    console.log(`mysql reads to slow replica: p2c ${(shares['p2c']! * 100).toFixed(1)}%, round-robin ${(shares['round-robin']! * 100).toFixed(1)}%`);
    expect(shares['p2c']).toBeLessThan(0.15);
    expect(shares['round-robin']).toBeGreaterThan(0.4);
    expect(shares['round-robin']).toBeLessThan(0.6);
  });

  it('replica killed under 32 readers: no failed read, ejected within 2 s', async () => {
    await withCluster(false, { ejectionMillis: 60_000 }, async (cluster, pool) => {
      const load = readLoad(read(pool), { readers: 32, durationMs: 3000 });
      await new Promise((r) => setTimeout(r, 1000));
      let ejectedAt = 0;
      const watch = setInterval(() => { if (!ejectedAt && pool.stats().hosts[1]!.state === 'ejected') ejectedAt = Date.now(); }, 2);
      const killedAt = Date.now();
      await cluster.replicas[0]!.crash();
      await waitFor(() => ejectedAt > 0, 5000);
      clearInterval(watch);
      const result = await load;
      console.log(`mysql kill: ${result.failed.length} failed of ${result.samples.length} reads; ejected ${ejectedAt - killedAt} ms after SIGKILL`);
      expect(result.failed.map((s) => s.error?.message)).toEqual([]);
      // Typically ~20 ms; the bound leaves room for a machine where another process holds a core
      // (1022 ms seen once there: the kill itself, waiting for the PIDs, counts in it).
      expect(ejectedAt - killedAt).toBeLessThan(2000);
      expect(result.share(cluster.replicas[1]!.port, 2500)).toBe(1);
    });
  });

  it('primary killed and a replica promoted: writes resume on it', async () => {
    await withCluster(false, {}, async (cluster, pool) => {
      const p = pool.promise();
      await p.query('CREATE TABLE IF NOT EXISTS t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)');
      await waitForReplicas(cluster); // on a loaded machine the table may not have reached the replica yet
      await cluster.primary.crash();
      await admin(cluster.replicas[0]!.adminUrl, 'STOP SLAVE');
      await admin(cluster.replicas[0]!.adminUrl, 'RESET SLAVE ALL');
      await admin(cluster.replicas[0]!.adminUrl, 'SET GLOBAL read_only = 0');
      const r = await untilWriteSucceeds(async () => {
        await p.query('INSERT INTO t (v) VALUES (1)');
        const [rows] = await p.query({ sql: 'SELECT @@port AS port', role: 'primary' });
        return (rows as { port: number }[])[0]!.port;
      });
      console.log(`mysql failover: first successful write ${r.after} ms after promotion; errors meanwhile: ${[...r.codes].join(', ') || 'none'}`);
      expect(r.after).toBeGreaterThanOrEqual(0);
      expect(r.port).toBe(cluster.replicas[0]!.port);
      expect(r.slowestFailure).toBeLessThan(1000);
      expect([...r.codes].every((c) => c === 'P2C_NO_PRIMARY' || c === 'P2C_HOST_UNAVAILABLE')).toBe(true);
    });
  });
});
