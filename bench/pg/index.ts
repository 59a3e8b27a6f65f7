// Real-cluster benchmarks on the harness's PostgreSQL primary + 2 replicas with the fault proxy:
// (a) overhead vs plain pg.Pool and the cost of one pick, (b) a slowed replica, (c) a replica
// failing 20% of connections, (d) weights 4:1. Figures are ratios measured side by side in one run.

import pg from 'pg';
import { Pool } from '../../adapters/pg/index.js';
import { Cluster } from '../../src/pool.js';
import { Host } from '../../src/host.js';
import type { PickerName } from '../../src/picker.js';
import { startPgCluster, type PgCluster } from '../../test/support/pg-cluster.js';
import { FaultProxy } from '../../test/support/fault-proxy.js';
import { barChart, lineChart, seeded, table, writeResult } from '../lib.js';
import { closedLoop, latencySummary, shareOf, shareTimeline } from '../real.js';

const PICKERS: PickerName[] = ['p2c', 'random', 'round-robin', 'least-connections'];
const selectPort = (p: { query(sql: string): Promise<{ rows: { port: number }[] }> }) => async () => (await p.query('SELECT inet_server_port() AS port')).rows[0]!.port;

export async function runPgBench(): Promise<void> {
  // P2C_PG_ONLY=overhead,slow,... runs a subset.
  const only = (process.env['P2C_PG_ONLY'] ?? '').split(',').filter(Boolean);
  const want = (name: string) => only.length === 0 || only.includes(name);
  if (want('pick')) pickCost();
  const cluster = await startPgCluster({ replicas: 2 });
  try {
    if (want('overhead')) await overhead(cluster);
    if (want('slow')) await slowReplica(cluster);
    if (want('failing')) await failingReplica(cluster);
    if (want('weights')) await weights(cluster);
  } finally {
    await cluster.stop();
  }
}

/** (a) One pick at 2, 16 and 256 hosts: Cluster.choose('read') over sampled hosts. */
function pickCost(): void {
  const rows: { hosts: number; ns: number }[] = [];
  for (const n of [2, 16, 256]) {
    const hosts = [new Host('p', 'primary', 1, 10, 0), ...Array.from({ length: n }, (_, i) => new Host(`r${i}`, 'replica', 1, 10, i))];
    hosts.forEach((h, i) => h.metrics.observeLatency(0, 1 + (i % 7)));
    const cluster = new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: true, random: seeded(1) }, () => 1000, () => ({ total: 0, idle: 0, waiting: 0 }));
    let sink = 0;
    for (let i = 0; i < 200_000; i++) sink += cluster.choose('read').weight; // warm up
    const iterations = 2_000_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += cluster.choose('read').weight;
    const ns = Number(process.hrtime.bigint() - t0) / iterations;
    if (sink < 0) console.log(sink);
    rows.push({ hosts: n, ns });
  }
  writeResult('pg-pick-cost', { rows }, `### Cost of one pick (Cluster.choose('read'), p2c, hosts with latency samples)\n\n${table(['replicas', 'ns per pick'], rows.map((r) => [r.hosts, r.ns]))}`);
}

/** (a) 32 concurrent SELECT 1: p2c-pool (multi-host form, primary only) vs plain pg.Pool, alternating rounds. */
async function overhead(cluster: PgCluster): Promise<void> {
  const plain = new pg.Pool({ connectionString: cluster.primary.url, max: 32 });
  const ours = new Pool({ primary: cluster.primary.url, max: 32 });
  const run = (p: { query(sql: string): Promise<unknown> }) => closedLoop(async () => { await p.query('SELECT 1'); return 0; }, 32, 3000);
  try {
    await run(plain); await run(ours); // warm up both
    const results = { plain: [] as number[], ours: [] as number[] };
    const lat = { plain: [] as { p50: number; p99: number }[], ours: [] as { p50: number; p99: number }[] };
    for (let round = 0; round < 4; round++) {
      for (const [name, p] of [['plain', plain], ['ours', ours]] as const) {
        const ops = await run(p);
        results[name].push(ops.length / 3);
        lat[name].push(latencySummary(ops));
      }
    }
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const tput = { plain: sum(results.plain) / 4, ours: sum(results.ours) / 4 };
    const p = (k: 'plain' | 'ours', q: 'p50' | 'p99') => sum(lat[k].map((l) => l[q])) / 4;
    const ratio = tput.ours / tput.plain;
    const md = `### Overhead: 32 concurrent \`SELECT 1\` on one server, 4 alternating rounds of 3 s\n\n` + table(['pool', 'queries/s', 'p50 (ms)', 'p99 (ms)'], [
      ['pg.Pool (max 32)', tput.plain, p('plain', 'p50'), p('plain', 'p99')],
      ['p2c-pool (max 32, multi-host form, primary only)', tput.ours, p('ours', 'p50'), p('ours', 'p99')],
    ]) + `\n\nThroughput ratio p2c-pool / pg.Pool: **${ratio.toFixed(3)}** (target >= 0.97); per round: ${results.ours.map((o, i) => (o / results.plain[i]!).toFixed(3)).join(', ')}.`;
    writeResult('pg-overhead', { tput, rounds: results, latency: lat, ratio }, md);
  } finally {
    await plain.end();
    await ours.end();
  }
}

async function proxied(cluster: PgCluster): Promise<FaultProxy[]> {
  return Promise.all(cluster.replicas.map((r) => FaultProxy.start({ host: r.host, port: r.port })));
}

const replicaConfigs = (proxies: FaultProxy[], extra: Record<string, unknown>[] = []) =>
  proxies.map((p, i) => ({ host: p.host, port: p.port, user: 'postgres', database: 'postgres', name: `replica${i + 1}`, ...(extra[i] ?? {}) }));

/** (b) replica1 slowed by 20 ms, then by 2 s for 30 s. */
async function slowReplica(cluster: PgCluster): Promise<void> {
  const PHASES = { baseline: 5000, slow20: 10_000, slow2s: 30_000 };
  const total = PHASES.baseline + PHASES.slow20 + PHASES.slow2s;
  const slowPort = cluster.replicas[0]!.port;
  const rows: Record<string, unknown>[] = [];
  const timelines: { name: string; points: [number, number][] }[] = [];
  for (const picker of PICKERS) {
    const proxies = await proxied(cluster);
    const pool = new Pool({ primary: cluster.primary.url, replicas: replicaConfigs(proxies), max: 10, picker });
    pool.on('error', () => {});
    try {
      const ops = await closedLoop(selectPort(pool), 16, total, (s) => {
        if (s === PHASES.baseline / 1000) proxies[0]!.setDelay(20);
        if (s === (PHASES.baseline + PHASES.slow20) / 1000) proxies[0]!.setDelay(2000);
      });
      // Baseline: the steady state before any slowdown (the first second warms connections up).
      const b = latencySummary(ops.filter((o) => o.at >= 1000 && o.at < PHASES.baseline));
      const s20 = latencySummary(ops.filter((o) => o.at >= PHASES.baseline + 1000 && o.at < PHASES.baseline + PHASES.slow20));
      const start2s = PHASES.baseline + PHASES.slow20;
      const s2 = latencySummary(ops.filter((o) => o.at >= start2s));
      // How long after the 2 s slowdown starts the slow replica's share of reads started from then
      // to the end of the run is under 10% (reads stuck on it count where they started).
      let under10 = -1;
      for (let t = start2s; t < total - 1000; t += 250) if (shareOf(ops, slowPort, t, total) < 0.1) { under10 = t - start2s; break; }
      rows.push({
        picker, baselineP99: b.p99, slow20: s20, slow2s: s2,
        p99RatioSlow20: s20.p99 / b.p99,
        shareSlow20: shareOf(ops, slowPort, PHASES.baseline + 1000, start2s), shareSlow2s: shareOf(ops, slowPort, start2s + 2000, total),
        msUntilUnder10: under10, failed: ops.filter((o) => !o.ok).length, reads: ops.length,
      });
      timelines.push({ name: picker, points: shareTimeline(ops, slowPort, total) });
    } finally {
      await pool.end();
      for (const p of proxies) await p.stop();
    }
  }
  const f = (x: unknown) => (typeof x === 'number' ? x : 0);
  const md = `### Slowed replica: replica1 +20 ms from 5 s, +2 s from 15 s to 45 s (16 readers, 2 replicas)\n\n` + table(
    ['picker', 'p99 baseline (ms)', 'p50/p99/p99.9 at +20 ms', 'p99 ratio vs baseline', 'slow share at +20 ms', 'p50/p99/p99.9 at +2 s', 'slow share at +2 s (after 2 s)', 'ms until slow share stays < 10%', 'reads', 'failed'],
    rows.map((r) => {
      const a = r['slow20'] as { p50: number; p99: number; p999: number };
      const c = r['slow2s'] as { p50: number; p99: number; p999: number };
      return [r['picker'] as string, f(r['baselineP99']), `${a.p50.toFixed(2)} / ${a.p99.toFixed(1)} / ${a.p999.toFixed(1)}`, f(r['p99RatioSlow20']),
        `${(100 * f(r['shareSlow20'])).toFixed(1)}%`, `${c.p50.toFixed(2)} / ${c.p99.toFixed(1)} / ${c.p999.toFixed(1)}`, `${(100 * f(r['shareSlow2s'])).toFixed(1)}%`,
        f(r['msUntilUnder10']) < 0 ? 'never' : f(r['msUntilUnder10']), f(r['reads']), f(r['failed'])];
    }));
  const svg = lineChart('Share of reads to the slowed replica (+20 ms at 5 s, +2 s at 15 s)', 'time (s)', 'share of reads (%)', timelines, { yMax: 100 });
  writeResult('pg-slow-replica', { phases: PHASES, rows, timelines }, md, svg);
}

/** (c) replica1 resets 20% of new connections (maxUses 2 makes connections churn). */
async function failingReplica(cluster: PgCluster): Promise<void> {
  const rows: { picker: string; reads: number; failed: number; success: number }[] = [];
  for (const picker of PICKERS) {
    const proxies = await proxied(cluster);
    proxies[0]!.failConnections(0.2, seeded(7));
    const pool = new Pool({ primary: cluster.primary.url, replicas: replicaConfigs(proxies), max: 10, maxUses: 2, picker });
    pool.on('error', () => {});
    try {
      const ops = await closedLoop(selectPort(pool), 16, 8000);
      const failed = ops.filter((o) => !o.ok).length;
      rows.push({ picker, reads: ops.length, failed, success: 1 - failed / ops.length });
    } finally {
      await pool.end();
      for (const p of proxies) await p.stop();
    }
  }
  const md = `### Replica failing 20% of connections (maxUses 2, retries on, 8 s, 16 readers)\n\n` +
    table(['picker', 'reads', 'failed', 'success rate'], rows.map((r) => [r.picker, r.reads, r.failed, `${(100 * r.success).toFixed(3)}%`]));
  const svg = barChart('Replica failing 20% of connections: success rate', '%', rows.map((r) => r.picker), [{ name: 'success %', values: rows.map((r) => 100 * r.success) }]);
  writeResult('pg-failing-replica', { rows }, md, svg);
}

/** (d) two healthy replicas with weights 4 and 1. */
async function weights(cluster: PgCluster): Promise<void> {
  const rows: { picker: string; heavy: number; light: number }[] = [];
  for (const picker of ['p2c', 'round-robin'] as PickerName[]) {
    const proxies = await proxied(cluster);
    const pool = new Pool({ primary: cluster.primary.url, replicas: replicaConfigs(proxies, [{ weight: 4 }, { weight: 1 }]), max: 10, picker });
    try {
      const ops = await closedLoop(selectPort(pool), 16, 6000);
      rows.push({ picker, heavy: shareOf(ops, cluster.replicas[0]!.port), light: shareOf(ops, cluster.replicas[1]!.port) });
    } finally {
      await pool.end();
      for (const p of proxies) await p.stop();
    }
  }
  const md = `### Weights 4:1 (two healthy replicas, 16 readers, 6 s)\n\n` +
    table(['picker', 'weight-4 replica', 'weight-1 replica'], rows.map((r) => [r.picker, `${(100 * r.heavy).toFixed(1)}%`, `${(100 * r.light).toFixed(1)}%`]));
  writeResult('pg-weights', { rows }, md);
}

