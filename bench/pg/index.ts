// Real-cluster benchmarks on the harness's PostgreSQL primary + 2 replicas with the fault proxy:
// (a) overhead vs plain pg.Pool and the cost of one pick, (b) a slowed replica, (c) a replica
// failing 20% of connections, (d) weights 4:1. Figures are ratios measured side by side in one run.

import { Pool } from '../../adapters/pg/index.js';
import { compare, compareOptions, overheadMarkdown, overheadTable, type Comparison } from '../overhead.js';
import { OVERHEAD_ROWS, selectRows } from '../overhead-rows.js';
import { Cluster } from '../../src/pool.js';
import { Host } from '../../src/host.js';
import { SETTLED_SAMPLES } from '../../src/metrics.js';
import { fastRandom, type PickerName } from '../../src/picker.js';
import { classify } from '../../src/routing.js';
import { isReadText } from '../../src/sql/classify.js';
import { startPgCluster, type PgCluster } from '../../test/support/pg-cluster.js';
import { FaultProxy } from '../../test/support/fault-proxy.js';
import { seeded, table, writeResult } from '../lib.js';
import { slowReplicaChart, tailShareChart } from './charts.js';
import { abba, closedLoop, latencySummary, LOAD_CONDITIONS, openLoop, shareOf, shareTimeline, tailRun, type TailRun } from '../real.js';
import { DelayProxyProcess } from '../../test/support/delay-process.js';
import { noIo } from './no-io.js';
import { withServersPinned } from '../slices.js';

const PICKERS: PickerName[] = ['p2c', 'random', 'round-robin', 'least-connections'];
const selectPort = (p: { query(sql: string): Promise<{ rows: { port: number }[] }> }) => async () => (await p.query('SELECT inet_server_port() AS port')).rows[0]!.port;

export async function runPgBench(): Promise<void> {
  // P2C_PG_ONLY=overhead,slow,... runs a subset.
  const only = (process.env['P2C_PG_ONLY'] ?? '').split(',').filter(Boolean);
  const want = (name: string) => only.length === 0 || only.includes(name);
  if (want('pick')) pickCost();
  if (want('classify')) classifyCost();
  if (want('noio')) await noIo();
  const cluster = await startPgCluster({ replicas: 2 });
  try {
    if (want('overhead')) await overhead(cluster);
    if (want('readonly')) await readOnlySessions(cluster);
    if (want('tail')) await tail(cluster);
    if (want('slow')) await slowReplica(cluster);
    if (want('failing')) await failingReplica(cluster);
    if (want('weights')) await weights(cluster);
  } finally {
    await cluster.stop();
  }
}

/**
 * Nanoseconds per call of `fn`: the fastest of 15 runs of 500,000 calls after a warm-up. On a noisy
 * machine the minimum is what the code costs; interference only ever adds to it.
 */
function nsPerCall(fn: () => number): number {
  let sink = 0;
  for (let i = 0; i < 200_000; i++) sink += fn();
  let best = Infinity;
  for (let run = 0; run < 15; run++) {
    const iterations = 500_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / iterations);
  }
  if (sink === -1) console.log(sink);
  return best;
}

/**
 * (a) One pick at 2, 16 and 256 replicas: Cluster.choose('read') with the default random source,
 * every host's estimate settled, a fixed clock (a real clock adds one performance.now(), ~45 ns here).
 */
function pickCost(): void {
  // One clock function for every cluster, as pools share monotonicNow (a closure per cluster would
  // make the pick's clock call polymorphic across the three clusters measured here: +2-4 ns).
  const fixedClock = () => 1000;
  const rows: { hosts: number; ns: number }[] = [];
  for (const n of [2, 16, 256]) {
    const hosts = [new Host('p', 'primary', 1, 10, 0), ...Array.from({ length: n }, (_, i) => new Host(`r${i}`, 'replica', 1, 10, i))];
    const cluster = new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: true, random: fastRandom }, fixedClock, () => ({ total: 0, idle: 0, waiting: 0 }));
    // Steady state: every estimate settled (SETTLED_SAMPLES samples each) and sampled just now, so
    // that the pick checks each candidate for exploration as it does under traffic.
    hosts.forEach((h, i) => { for (let k = 0; k < SETTLED_SAMPLES; k++) cluster.finish(h, 'ok', 1 + (i % 7), true, 1, 1000); });
    rows.push({ hosts: n, ns: nsPerCall(() => cluster.choose('read').weight) });
  }
  const empty = nsPerCall(() => 1);
  writeResult('pg-pick-cost', { rows, emptyLoopNs: empty }, `### Cost of one pick (Cluster.choose('read'), p2c, default random source, hosts with latency samples)\n\n`
    + `${table(['replicas', 'ns per pick'], rows.map((r) => [r.hosts, r.ns]))}\n\nFastest of 15 runs of 500,000 picks; the loop itself costs ${empty.toFixed(1)} ns per call. Target: <= 50 ns at 16 replicas.`);
}

/**
 * (a) Classifying a statement (read or write) as pool.query does for every statement: a text seen
 * before (the cache), a first sight (the lexer), and INSERTs of 1 KB and 1 MB, which are decided by
 * their first word (never cached: longer than the cache takes), so their length costs nothing.
 */
function classifyCost(): void {
  const typical = 'SELECT u.id, u.name FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.email = $1 AND o.active';
  const insert = (bytes: number) => `INSERT INTO blobs (id, body) VALUES (1, '${'x'.repeat(bytes - 45)}')`;
  const kb = insert(1024);
  const kb64 = insert(64 * 1024);
  const mb = insert(1024 * 1024);
  const bigSelect = `SELECT '${'x'.repeat(1024 * 1024 - 10)}'`;
  const rows: [string, number][] = [
    ['typical SELECT, seen before (cache hit)', nsPerCall(() => (classify(typical) === 'read' ? 1 : 0))],
    ['typical SELECT, first sight (lexer)', nsPerCall(() => (isReadText(typical, 'postgres') ? 1 : 0))],
    ['INSERT of 1 KB (short enough for the cache)', nsPerCall(() => (classify(kb) === 'write' ? 1 : 0))],
    ['INSERT of 64 KB (too long for the cache: lexer, first word decides)', nsPerCall(() => (classify(kb64) === 'write' ? 1 : 0))],
    ['INSERT of 1 MB (too long for the cache: lexer, first word decides)', nsPerCall(() => (classify(mb) === 'write' ? 1 : 0))],
  ];
  // A read must be read to its end (a write may hide anywhere in it): a 1 MB SELECT, for scale.
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 20; i++) classify(bigSelect);
  const bigSelectNs = Number(process.hrtime.bigint() - t0) / 20;
  writeResult('pg-classify-cost', { rows, bigSelectNs }, `### Cost of classifying a statement (read or write)\n\n`
    + table(['statement', 'ns per call'], rows)
    + `\n\nA 1 MB SELECT literal is lexed to its end (a write could follow it): ${(bigSelectNs / 1e6).toFixed(2)} ms per call, on every call, as any text longer than the cache keeps (the last 2,000 texts of up to 4,096 characters) is classified afresh. A typical statement seen for the first time pays the lexer once; after that, the cache hit.`);
}

/**
 * (a) What the wrapper costs (issue 13): each row p2c-pool in one form or with one feature on (b)
 * against a plain pg.Pool on the same server (a), both running at the same time in processes of
 * their own; the first rows are the noise floor (two identical pg.Pools) and a calibration (a known
 * cost added to pg.Pool).
 */
async function overhead(cluster: PgCluster): Promise<void> {
  const o = compareOptions();
  const urls = { primary: cluster.primary.url, replica: cluster.replicas[0]!.url };
  const only = (process.env['P2C_OVERHEAD_ROWS'] ?? '').split(',').filter(Boolean);
  const rows: Comparison[] = [];
  await withServersPinned([cluster.primary, ...cluster.replicas].map((node) => node.pid()), async () => {
    for (const r of selectRows(OVERHEAD_ROWS.pg(), only)) rows.push(await compare('pg', r.key, r.label, urls, o));
  });
  writeResult('pg-overhead', { rows }, overheadMarkdown('Overhead', 'pg.Pool', o) + overheadTable(rows, 'pg.Pool'));
}

/**
 * Cost of read-only replica sessions (issue 9): replica reads with `readOnlyReplicas` off (a) and on
 * (b), ABBA. Steady state pays nothing per query (one SET per new connection); the churn rows
 * replace every connection after 100 queries (pg's maxUses) so the SET is paid on 1% of queries.
 */
async function readOnlySessions(cluster: PgCluster): Promise<void> {
  const rows: (string | number)[][] = [];
  const json: Record<string, unknown> = {};
  for (const [label, extra] of [['steady state', {}], ['connection churn (maxUses 100)', { maxUses: 100 }]] as const) {
    const make = (readOnlyReplicas: boolean) => new Pool({ primary: cluster.primary.url, replicas: [cluster.replicas[0]!.url], max: 32, readOnlyReplicas, ...extra });
    const pools = { a: make(false), b: make(true) };
    try {
      const r = await abba((w) => closedLoop(async () => { await pools[w].query('SELECT 1'); return 0; }, 32, 3000), 6, 3);
      json[label] = r;
      rows.push([label, r.a.qps, r.b.qps, r.median, `${r.min.toFixed(3)}-${r.max.toFixed(3)}`, r.a.p99, r.b.p99]);
    } finally {
      await pools.a.end();
      await pools.b.end();
    }
  }
  writeResult('pg-readonly-sessions', json, `### Cost of read-only replica sessions: 32 concurrent \`SELECT 1\` on a replica, 6 ABBA pairs of 3 s\n\n`
    + table(['', 'q/s off', 'q/s on', 'ratio on/off (median)', 'spread', 'p99 off (ms)', 'p99 on (ms)'], rows));
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
  writeResult('pg-slow-replica', { phases: PHASES, rows, timelines }, md, slowReplicaChart);
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
  // No chart: with retries every picker reads at 100% success, four equal bars that say nothing the table does not.
  writeResult('pg-failing-replica', { rows }, md);
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


const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
/** Arrival rate of the stall rows (reads/s). */
const STALL_RATE = 2000;

/**
 * (e) Tail latency (issue 10): replica1 behind a delay proxy in another process, 16 readers,
 * `max: 10`, 6 s per run (first 1.5 s not counted); each condition against its own baseline with
 * both replicas fast. Conditions: idle loop, a loop 40% busy with synchronous work, a CPU burner.
 */
async function tail(cluster: PgCluster): Promise<void> {
  const proxies = await Promise.all(cluster.replicas.map((r) => DelayProxyProcess.start({ host: r.host, port: r.port })));
  const slowPort = cluster.replicas[0]!.port;
  const json: Record<string, unknown> = {};
  try {
    const measure = async (picker: PickerName, delayMs: number, condition: (typeof LOAD_CONDITIONS)[number], extra: Record<string, unknown> = {}, stall = false, stalling = stall): Promise<TailRun & { hedges: number; hedgeWins: number }> => {
      proxies[0]!.setDelay(delayMs);
      if (stalling) proxies[0]!.setStall(300, 2000);
      const pool = new Pool({ primary: cluster.primary.url, replicas: proxies.map((p, i) => ({ host: p.host, port: p.port, user: 'postgres', database: 'postgres', name: `replica${i + 1}` })), max: 10, picker, ...extra });
      pool.on('error', () => {});
      try {
        await pool.query('SELECT 1');
        const before = pool.stats().hedges;
        let r: TailRun;
        if (stall) {
          // Open loop: a stall holds every read that arrives during it, as in production.
          const counted = (await openLoop(selectPort(pool), STALL_RATE, 12_000)).filter((o) => o.at >= 1500);
          const sum = latencySummary(counted);
          r = { share: shareOf(counted, slowPort), p50: sum.p50, p99: sum.p99, p999: sum.p999, reads: counted.length, failed: counted.filter((o) => !o.ok).length };
        } else {
          r = await tailRun(selectPort(pool), condition, slowPort);
        }
        const after = pool.stats().hedges;
        return { ...r, hedges: after.sent - before.sent, hedgeWins: after.won - before.won };
      } finally {
        await pool.end();
        proxies[0]!.setDelay(0);
        proxies[0]!.setStall(0, 0);
      }
    };
    const rows20: (string | number)[][] = [];
    for (const condition of LOAD_CONDITIONS) {
      const base = await measure('p2c', 0, condition);
      const p2c = await measure('p2c', 20, condition);
      const rr = await measure('round-robin', 20, condition);
      json[`+20 ms, ${condition}`] = { base, p2c, rr };
      rows20.push([condition, base.p99, pct(p2c.share), p2c.p99, p2c.p99 / base.p99, p2c.p999, pct(rr.share), rr.p99 / base.p99, p2c.failed + rr.failed]);
    }
    const base = await measure('p2c', 0, 'idle loop');
    const p2c2 = await measure('p2c', 2, 'idle loop');
    const rr2 = await measure('round-robin', 2, 'idle loop');
    json['+2 ms, idle loop'] = { base, p2c: p2c2, rr: rr2 };
    const md = `### Tail latency: one replica +20 ms through a delay proxy in another process (16 readers, max 10, 6 s runs, first 1.5 s not counted)\n\n`
      + table(['client', 'baseline p99 (ms)', 'p2c slow share', 'p2c p99 (ms)', 'p2c p99 / baseline', 'p2c p99.9 (ms)', 'round-robin slow share', 'round-robin p99 / baseline', 'failed'], rows20)
      + `\n\nOne replica +2 ms (idle loop): p2c sends it ${pct(p2c2.share)} of reads (fair share 50%), p50 ${p2c2.p50.toFixed(2)} ms `
      + `vs round-robin ${pct(rr2.share)}, p50 ${rr2.p50.toFixed(2)} ms (baseline p50 ${base.p50.toFixed(2)} ms).`;
    // A replica stalling 300 ms every 2 s, without and with hedged reads. p99.9 of 21,000 reads is
    // the 21st slowest: one hiccup of this machine sets it. So three rounds, each with its own
    // baseline (no stall) measured next to it, and the median of the ratios.
    const stallRows: (string | number)[][] = [];
    const hedge = { afterMillis: 'p95' as const, maxExtraLoad: 0.05 };
    const ratios = { plain: [] as number[], hedged: [] as number[] };
    for (let round = 1; round <= 3; round++) {
      const base = await measure('p2c', 0, 'idle loop', {}, true, false);
      const plain = await measure('p2c', 0, 'idle loop', {}, true);
      const hedged = await measure('p2c', 0, 'idle loop', { hedge }, true);
      json[`stall round ${round}`] = { base, plain, hedged };
      ratios.plain.push(plain.p999 / base.p999);
      ratios.hedged.push(hedged.p999 / base.p999);
      stallRows.push([`round ${round}: baseline (no stall)`, base.p50, base.p99, base.p999, '-', '-']);
      stallRows.push([`round ${round}: p2c, no hedging`, plain.p50, plain.p99, plain.p999, '-', `${(plain.p999 / base.p999).toFixed(2)}x`]);
      stallRows.push([`round ${round}: p2c, hedge p95`, hedged.p50, hedged.p99, hedged.p999, `${pct(hedged.hedges / hedged.reads)} (${hedged.hedges}, ${hedged.hedgeWins} won)`, `${(hedged.p999 / base.p999).toFixed(2)}x`]);
    }
    // Round-robin keeps sending half the reads into the stall: more than a 5% budget can hedge.
    for (const [label, extra] of [['round-robin, no hedging', {}], ['round-robin, hedge p95', { hedge }]] as const) {
      const r = await measure('round-robin', 0, 'idle loop', extra, true);
      json[`stall, ${label}`] = r;
      stallRows.push([label, r.p50, r.p99, r.p999, 'hedge' in extra ? `${pct(r.hedges / r.reads)} (${r.hedges}, ${r.hedgeWins} won)` : '-', '-']);
    }
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[1]!;
    const hedgedRatios = [...ratios.hedged].sort((x, y) => x - y);
    const mdStall = `\n\n#### One replica stalling 300 ms every 2 s (open loop: ${STALL_RATE} reads/s arriving at a fixed rate, 12 s runs, first 1.5 s not counted; latency from arrival)\n\n`
      + table(['pool', 'p50 (ms)', 'p99 (ms)', 'p99.9 (ms)', 'extra queries (hedges sent, won)', 'p99.9 vs baseline'], stallRows)
      + `\n\nHedge: \`{ afterMillis: 'p95', maxExtraLoad: 0.05 }\`. p99.9 vs the same round's baseline, median of 3 rounds: `
      + `p2c without hedging ${med(ratios.plain).toFixed(2)}x, with hedging **${hedgedRatios[1]!.toFixed(2)}x** (${hedgedRatios.map((x) => x.toFixed(2)).join(', ')}).`;
    // Chart: share of reads sent to the +20 ms replica, per client condition (round-robin: 50%).
    writeResult('pg-tail', json, md + mdStall, tailShareChart);
  } finally {
    for (const p of proxies) await p.stop();
  }
}
