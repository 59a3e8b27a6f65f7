// Real-cluster benchmarks on the harness's MariaDB primary + 2 replicas: overhead vs a plain
// mysql2 pool, and the shares of a replica slowed by 20 ms per picker.

import mysql from 'mysql2/promise';
import { createPool } from '../../adapters/mysql/index.js';
import type { PickerName } from '../../src/picker.js';
import { startMyCluster, type MyCluster } from '../../test/support/mysql-cluster.js';
import { FaultProxy } from '../../test/support/fault-proxy.js';
import { table, writeResult } from '../lib.js';
import { compare, compareOptions, overheadTable, type Comparison, type Runner } from '../overhead.js';
import { abba, closedLoop, latencySummary, LOAD_CONDITIONS, shareOf, tailRun, type TailRun } from '../real.js';
import { DelayProxyProcess } from '../../test/support/delay-process.js';

export async function runMysqlBench(): Promise<void> {
  const only = (process.env['P2C_MY_ONLY'] ?? '').split(',').filter(Boolean);
  const want = (name: string) => only.length === 0 || only.includes(name);
  const cluster = await startMyCluster({ replicas: 2 });
  try {
    if (want('overhead')) await overhead(cluster);
    if (want('readonly')) await readOnlySessions(cluster);
    if (want('tail')) await tail(cluster);
    if (want('slow')) await slowReplica(cluster);
  } finally {
    await cluster.stop();
  }
}

/**
 * Cost of read-only replica sessions (issue 9): replica reads with `readOnlyReplicas` off (a) and on
 * (b), ABBA. One `SET SESSION TRANSACTION READ ONLY` per new connection; none per query.
 */
async function readOnlySessions(cluster: MyCluster): Promise<void> {
  const make = (readOnlyReplicas: boolean) => createPool({ primary: cluster.primary.url, replicas: [cluster.replicas[0]!.url], connectionLimit: 32, readOnlyReplicas }).promise();
  const pools = { a: make(false), b: make(true) };
  try {
    const r = await abba((w) => closedLoop(async () => { await pools[w].query('SELECT 1'); return 0; }, 32, 3000), 6, 3);
    writeResult('mysql-readonly-sessions', r, `### Cost of read-only replica sessions (MariaDB): 32 concurrent \`SELECT 1\` on a replica, 6 ABBA pairs of 3 s\n\n`
      + table(['', 'q/s off', 'q/s on', 'ratio on/off (median)', 'spread', 'p99 off (ms)', 'p99 on (ms)'],
        [['steady state', r.a.qps, r.b.qps, r.median, `${r.min.toFixed(3)}-${r.max.toFixed(3)}`, r.a.p99, r.b.p99]]));
  } finally {
    await pools.a.end();
    await pools.b.end();
  }
}

/**
 * What the wrapper costs (issue 13): 32 concurrent `SELECT 1` through the promise API, each row
 * p2c-pool/mysql in one form or with one feature on (b) against a plain mysql2 pool on the same
 * server (a), ABBA; the first row is the noise floor, two identical mysql2 pools.
 */
async function overhead(cluster: MyCluster): Promise<void> {
  const o = compareOptions();
  const P = cluster.primary.url;
  const R = cluster.replicas[0]!.url;
  const plain = (uri: string) => () => runner(mysql.createPool({ uri, connectionLimit: 32 }));
  const ours = (config: Parameters<typeof createPool>[0]) => () => runner(createPool(config).promise());
  const rows: Comparison[] = [];
  const only = (process.env['P2C_OVERHEAD_ROWS'] ?? '').split(',').filter(Boolean);
  const row = async (key: string, label: string, b: () => Runner, a = plain(P)) => {
    if (only.length === 0 || only.includes(key)) rows.push(await compare(label, { a, b }, o));
  };
  await row('noise', 'noise floor: a second mysql2 pool', plain(P));
  await row('single', 'single-host form (`uri`)', ours({ uri: P, connectionLimit: 32 }));
  await row('multi', 'multi-host form, primary only', ours({ primary: P, connectionLimit: 32 }));
  await row('telemetry', 'multi-host, `telemetry: true`, no SDK (no-op API)', ours({ primary: P, connectionLimit: 32, telemetry: true }));
  await row('hedge', 'replica reads, hedging configured (1 s), not triggered', ours({ primary: P, replicas: [R], connectionLimit: 32, hedge: { afterMillis: 1000 } }), plain(R));
  await row('readonly', 'replica reads, read-only sessions (default)', ours({ primary: P, replicas: [R], connectionLimit: 32 }), plain(R));
  await row('picker', 'replica reads over two hosts (same server, 16 each): p2c cost + latency signal', ours({ primary: P, replicas: [{ uri: R, name: 'r1' }, { uri: R, name: 'r2' }], connectionLimit: 16 }), plain(R));
  const md = `### MySQL overhead: 32 concurrent \`SELECT 1\` (promise API), ${o.pairs} ABBA pairs of ${o.seconds} s per row\n\n`
    + 'Each row: p2c-pool/mysql (b) against a plain mysql2 pool (connectionLimit 32) on the same MariaDB server (a); medians of the per-pair ratios b/a with their spread. '
    + 'Targets: throughput >= 0.99, p50, p99 and CPU per query <= 1.02. Heap bytes are allocated bytes per query of the whole client process.\n\n'
    + overheadTable(rows, 'mysql2 pool');
  writeResult('mysql-overhead', { rows }, md);
}

const runner = (p: { query(sql: string): Promise<unknown>; end(): Promise<void> }): Runner => ({ query: () => p.query('SELECT 1'), end: () => p.end() });

async function slowReplica(cluster: MyCluster): Promise<void> {
  const rows: { picker: string; share: number; p50: number; p99: number }[] = [];
  for (const picker of ['p2c', 'random', 'round-robin', 'least-connections'] as PickerName[]) {
    const proxies = await Promise.all(cluster.replicas.map((r) => FaultProxy.start({ host: r.host, port: r.port })));
    proxies[0]!.setDelay(20);
    const pool = createPool({
      primary: cluster.primary.url, picker, connectionLimit: 10,
      replicas: proxies.map((p) => ({ host: p.host, port: p.port, user: 'app', password: 'app', database: 'test' })),
    }).promise();
    try {
      const ops = await closedLoop(async () => ((await pool.query('SELECT @@port AS port'))[0] as { port: number }[])[0]!.port, 16, 6000);
      const s = latencySummary(ops.filter((o) => o.at >= 1000));
      rows.push({ picker, share: shareOf(ops, cluster.replicas[0]!.port, 1000), p50: s.p50, p99: s.p99 });
    } finally {
      await pool.end();
      for (const p of proxies) await p.stop();
    }
  }
  const md = `### MySQL: one replica slowed by 20 ms (16 readers, 6 s, first second excluded)\n\n` +
    table(['picker', 'slow replica share', 'p50 (ms)', 'p99 (ms)'], rows.map((r) => [r.picker, `${(100 * r.share).toFixed(1)}%`, r.p50, r.p99]));
  writeResult('mysql-slow-replica', { rows }, md);
}

/** Issue 10's MySQL rows: one replica +20 ms through a delay proxy in another process, per client condition. */
async function tail(cluster: MyCluster): Promise<void> {
  const proxies = await Promise.all(cluster.replicas.map((r) => DelayProxyProcess.start({ host: r.host, port: r.port })));
  const slowPort = cluster.replicas[0]!.port;
  const json: Record<string, unknown> = {};
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  try {
    const measure = async (picker: PickerName, delayMs: number, condition: (typeof LOAD_CONDITIONS)[number]): Promise<TailRun> => {
      proxies[0]!.setDelay(delayMs);
      const pool = createPool({
        primary: cluster.primary.url, picker, connectionLimit: 10,
        replicas: proxies.map((p, i) => ({ host: p.host, port: p.port, user: 'app', password: 'app', database: 'test', name: `replica${i + 1}` })),
      });
      pool.on('error', () => {});
      const p = pool.promise();
      try {
        await p.query('SELECT 1');
        return await tailRun(async () => ((await p.query('SELECT @@port AS port'))[0] as { port: number }[])[0]!.port, condition, slowPort);
      } finally {
        await p.end();
        proxies[0]!.setDelay(0);
      }
    };
    const rows: (string | number)[][] = [];
    for (const condition of LOAD_CONDITIONS) {
      const base = await measure('p2c', 0, condition);
      const p2c = await measure('p2c', 20, condition);
      const rr = await measure('round-robin', 20, condition);
      json[condition] = { base, p2c, rr };
      rows.push([condition, base.p99, pct(p2c.share), p2c.p99, p2c.p99 / base.p99, pct(rr.share), rr.p99 / base.p99, p2c.failed + rr.failed]);
    }
    writeResult('mysql-tail', json, `### MySQL tail latency: one MariaDB replica +20 ms through a delay proxy in another process (16 readers, connectionLimit 10, 6 s runs, first 1.5 s not counted)\n\n`
      + table(['client', 'baseline p99 (ms)', 'p2c slow share', 'p2c p99 (ms)', 'p2c p99 / baseline', 'round-robin slow share', 'round-robin p99 / baseline', 'failed'], rows));
  } finally {
    for (const p of proxies) await p.stop();
  }
}
