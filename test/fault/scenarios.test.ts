// Fault scenarios as a table: hosts, fault, expected outcomes and traffic shares, each against a
// fresh real primary + 2 replicas. After each, every counter is back to zero and no timer is left.
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { Pool, type PoolOptions } from '../../adapters/pg/index.js';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { readLoad, untilWriteSucceeds, waitFor } from '../support/load.js';

interface Ctx {
  cluster: PgCluster;
  proxies: FaultProxy[];
  pool: Pool;
  /** Real port of replica i (what inet_server_port() returns). */
  replicaPort(i: number): number;
  hostState(name: string): string | undefined;
}

interface Scenario {
  name: string;
  /** Replicas reached through fault proxies. */
  proxied?: boolean;
  options: Partial<PoolOptions> & Record<string, unknown>;
  run(ctx: Ctx): Promise<void>;
}

const FAST_HEALTH = { healthCheckIntervalMillis: 500, healthCheckTimeoutMillis: 500 };
const figures: string[] = [];

const scenarios: Scenario[] = [
  {
    name: 'replica killed with SIGKILL under 32 readers: no failed read, ejected within 1 s',
    options: { ...FAST_HEALTH, ejectionMillis: 60_000 },
    async run({ cluster, pool, replicaPort, hostState }) {
      const load = readLoad(pool, { readers: 32, durationMs: 3000 });
      await new Promise((r) => setTimeout(r, 1000));
      // Watch the host's state from before the kill, so the flip is timed however busy the loop is.
      let ejectedAt = 0;
      const watch = setInterval(() => { if (!ejectedAt && hostState('replica1') === 'ejected') ejectedAt = Date.now(); }, 2);
      const killedAt = Date.now();
      await cluster.replicas[0]!.crash();
      await waitFor(() => ejectedAt > 0, 5000);
      clearInterval(watch);
      const ejectMs = ejectedAt - killedAt;
      const result = await load;
      figures.push(`kill: ${result.failed.length} failed of ${result.samples.length} reads; ejected ${ejectMs} ms after SIGKILL`);
      expect(result.failed.map((s) => s.error?.message)).toEqual([]);
      expect(ejectMs).toBeLessThan(1000);
      expect(result.share(replicaPort(0), 2000)).toBe(0);
      expect(result.share(replicaPort(1), 2000)).toBe(1);
    },
  },
  {
    name: 'replica black-holed: reads time out at queryTimeoutMillis, host ejected, other pools never run dry',
    proxied: true,
    options: { ...FAST_HEALTH, queryTimeoutMillis: 300, connectionTimeoutMillis: 300, ejectionMillis: 60_000 },
    async run({ proxies, pool, replicaPort, hostState }) {
      let maxWaitingElsewhere = 0;
      const watch = setInterval(() => {
        for (const h of pool.stats().hosts) if (h.name !== 'replica1') maxWaitingElsewhere = Math.max(maxWaitingElsewhere, h.waiting);
      }, 5);
      try {
        const loadStart = Date.now();
        const load = readLoad(pool, { readers: 8, durationMs: 4500 });
        await new Promise((r) => setTimeout(r, 500));
        // Black-hole it while it serves reads (an unlucky first sample can keep a fresh pool off a
        // replica until its exploring read, up to latencyStaleMillis): some reads must hit the hole.
        const served = () => pool.stats().hosts.find((h) => h.name === 'replica1')!.queries;
        await waitFor(async () => {
          const before = served();
          await new Promise((r) => setTimeout(r, 50));
          return served() > before;
        }, 2500);
        proxies[0]!.blackhole();
        const holedAt = Date.now() - loadStart;
        const ejectMs = await waitFor(() => hostState('replica1') === 'ejected', 5000);
        const result = await load;
        // reduce, not Math.max(...): a fast run collects more samples than the call stack holds arguments
        const slowest = result.samples.reduce((m, s) => Math.max(m, s.ms), 0);
        figures.push(`black hole: ${result.failed.length} failed of ${result.samples.length}; ejected after ${ejectMs} ms; slowest read ${slowest} ms; max waiting on other hosts ${maxWaitingElsewhere}`);
        expect(result.failed).toEqual([]);
        expect(ejectMs).toBeLessThan(2000);
        expect(slowest).toBeGreaterThanOrEqual(290); // a read that hit the hole waited for the timeout...
        expect(slowest).toBeLessThan(1500); // ...then was retried elsewhere
        expect(maxWaitingElsewhere).toBe(0);
        expect(result.share(replicaPort(1), holedAt + 1500)).toBe(1);
      } finally {
        clearInterval(watch);
      }
    },
  },
  {
    name: 'replica failing 20% of connections: >= 99.9% of reads succeed with retries',
    proxied: true,
    options: { ...FAST_HEALTH, maxUses: 2 },
    async run({ proxies, pool }) {
      proxies[0]!.failConnections(0.2);
      const result = await readLoad(pool, { readers: 8, durationMs: 3000 });
      const success = 1 - result.failed.length / result.samples.length;
      figures.push(`20% connection failures: success ${(success * 100).toFixed(3)}% of ${result.samples.length} reads; ${proxies[0]!.failed} of ${proxies[0]!.accepted} connections reset`);
      expect(proxies[0]!.failed).toBeGreaterThan(0);
      expect(success).toBeGreaterThanOrEqual(0.999);
    },
  },
  {
    name: 'killed replica restarted: probed, back up, ramps up without a burst',
    options: { ...FAST_HEALTH, ejectionMillis: 500, slowStartMillis: 3000 },
    async run({ cluster, pool, replicaPort, hostState }) {
      const load = readLoad(pool, { readers: 16, durationMs: 9000 });
      await new Promise((r) => setTimeout(r, 500));
      await cluster.replicas[0]!.crash();
      await waitFor(() => hostState('replica1') !== 'up', 5000);
      await cluster.replicas[0]!.start();
      const t0 = Date.now();
      await waitFor(() => hostState('replica1') === 'up', 10_000);
      const upAt = Date.now() - t0;
      const result = await load;
      const backAt = result.samples.find((s) => s.at > 1000 && s.port === replicaPort(0))?.at ?? Infinity;
      const early = result.share(replicaPort(0), backAt, backAt + 500);
      const late = result.share(replicaPort(0), backAt + 3000, backAt + 4500);
      figures.push(`restart: back up ${upAt} ms after restart; share first 0.5 s ${(early * 100).toFixed(1)}%, after ramp ${(late * 100).toFixed(1)}%; failed ${result.failed.length}`);
      if (!(late > early)) console.log('diagnosis:', JSON.stringify(pool.stats().hosts.map((h) => [h.name, h.state, h.latencyMs, h.queries, h.errors, h.lastError?.message])));
      expect(Number.isFinite(backAt)).toBe(true);
      expect(result.failed).toEqual([]);
      expect(early).toBeLessThan(0.45); // below its even share of 50% right after return
      expect(late).toBeGreaterThan(early);
    },
  },
  {
    name: 'primary killed and a replica promoted: writes fail fast, then resume on the new primary',
    options: { ...FAST_HEALTH },
    async run({ cluster, pool }) {
      await pool.query('CREATE TABLE IF NOT EXISTS t (id serial PRIMARY KEY, v int)');
      await cluster.primary.crash();
      const promoter = new pg.Client(cluster.replicas[0]!.url);
      await promoter.connect();
      await promoter.query('SELECT pg_promote(wait => true)');
      await promoter.end();
      const r = await untilWriteSucceeds(async () => (await pool.query('INSERT INTO t (v) VALUES (1) RETURNING inet_server_port() AS port')).rows[0].port);
      figures.push(`failover: first successful write ${r.after} ms after promotion; errors meanwhile: ${[...r.codes].join(', ') || 'none'}`);
      expect(r.after).toBeGreaterThanOrEqual(0);
      expect(r.port).toBe(cluster.replicas[0]!.port);
      expect(r.slowestFailure).toBeLessThan(1000); // fails fast
      expect([...r.codes].every((c) => c === 'P2C_NO_PRIMARY' || c === 'P2C_HOST_UNAVAILABLE')).toBe(true);
      expect(pool.stats().hosts.find((h) => h.name === 'replica1')?.role).toBe('primary');
    },
  },
  {
    name: 'primary killed, nobody promoted: writes fail fast with NoPrimaryError, reads go on',
    options: { ...FAST_HEALTH, ejectionMillis: 60_000 },
    async run({ cluster, pool, replicaPort }) {
      await cluster.primary.crash();
      const codes: string[] = [];
      let slowest = 0;
      for (let i = 0; i < 20; i++) {
        const t = Date.now();
        const err = await pool.query('CREATE TABLE never (id int)').then(() => undefined, (e: unknown) => e as { code?: string; p2cCode?: string });
        slowest = Math.max(slowest, Date.now() - t);
        codes.push(err ? (err.p2cCode ?? err.code ?? 'no code') : 'succeeded');
      }
      const reads = await readLoad(pool, { readers: 4, durationMs: 300 });
      figures.push(`no primary: write errors ${[...new Set(codes)].join(' then ')}; slowest failing write ${slowest} ms; ${reads.failed.length} failed reads of ${reads.samples.length}`);
      expect(codes.at(-1)).toBe('P2C_NO_PRIMARY');
      expect(codes.every((c) => c === 'P2C_HOST_UNAVAILABLE' || c === 'P2C_NO_PRIMARY')).toBe(true);
      expect(slowest).toBeLessThan(1000);
      expect(reads.failed).toEqual([]);
      expect(reads.share(replicaPort(0)) + reads.share(replicaPort(1))).toBe(1);
    },
  },
];

describe('fault scenarios on a real cluster', () => {
  it.each(scenarios.map((s) => [s.name, s] as const))('%s', async (_name, scenario) => {
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const cluster = await startPgCluster({ replicas: 2 });
    const proxies: FaultProxy[] = [];
    let pool: Pool | undefined;
    try {
      if (scenario.proxied) for (const r of cluster.replicas) proxies.push(await FaultProxy.start({ host: r.host, port: r.port }));
      const replicas = cluster.replicas.map((r, i) => ({
        host: scenario.proxied ? proxies[i]!.host : r.host,
        port: scenario.proxied ? proxies[i]!.port : r.port,
        user: 'postgres', database: 'postgres', name: `replica${i + 1}`,
      }));
      const hosts = [{ connectionString: cluster.primary.url, name: 'primary' }, ...replicas];
      pool = new Pool({ hosts, max: 10, ...scenario.options } as PoolOptions);
      pool.on('error', () => {}); // idle connections to a killed host report here
      const p = pool;
      await p.query('SELECT 1'); // discovery done
      await scenario.run({
        cluster, proxies, pool: p,
        replicaPort: (i) => cluster.replicas[i]!.port,
        hostState: (name) => p.stats().hosts.find((h) => h.name === name)?.state,
      });
      // Nothing leaked: no query in flight, nobody waiting.
      await waitFor(() => p.stats().hosts.every((h) => h.inflight === 0 && h.waiting === 0), 5000);
      await p.end();
      expect(p.totalCount).toBe(0);
    } finally {
      if (pool && !pool.ending) await pool.end().catch(() => {});
      for (const proxy of proxies) await proxy.stop();
      await cluster.stop();
    }
    const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    expect(timersAfter).toBeLessThanOrEqual(timersBefore);
    console.log(figures.at(-1));
  });
});
