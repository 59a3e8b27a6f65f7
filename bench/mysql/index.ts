// Real-cluster benchmarks on the harness's MariaDB primary + 2 replicas: overhead vs a plain
// mysql2 pool, and the shares of a replica slowed by 20 ms per picker.

import { createPool } from '../../adapters/mysql/index.js';
import type { PickerName } from '../../src/picker.js';
import { startMyCluster, type MyCluster } from '../../test/support/mysql-cluster.js';
import { FaultProxy } from '../../test/support/fault-proxy.js';
import { table, writeResult } from '../lib.js';
import { compare, compareOptions, overheadMarkdown, overheadTable, type Comparison } from '../overhead.js';
import { OVERHEAD_ROWS, selectRows } from '../overhead-rows.js';
import { abba, closedLoop, latencySummary, LOAD_CONDITIONS, shareOf, tailRun, type TailRun } from '../real.js';
import { DelayProxyProcess } from '../../test/support/delay-process.js';
import { mysqlNoIo } from './no-io.js';
import { withServersPinned } from '../slices.js';

export async function runMysqlBench(): Promise<void> {
  const only = (process.env['P2C_MY_ONLY'] ?? '').split(',').filter(Boolean);
  const want = (name: string) => only.length === 0 || only.includes(name);
  if (want('noio')) await mysqlNoIo();
  if (only.length > 0 && !only.some((name) => name !== 'noio')) return;
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
 * What the wrapper costs (issue 13): each row p2c-pool/mysql in one form or with one feature on (b)
 * against a plain mysql2 pool on the same server (a), both running at the same time in processes of
 * their own; the first rows are the noise floor and a calibration, as for pg.
 */
async function overhead(cluster: MyCluster): Promise<void> {
  const o = compareOptions();
  const urls = { primary: cluster.primary.url, replica: cluster.replicas[0]!.url };
  const only = (process.env['P2C_OVERHEAD_ROWS'] ?? '').split(',').filter(Boolean);
  const rows: Comparison[] = [];
  await withServersPinned([cluster.primary, ...cluster.replicas].map((node) => node.pid()), async () => {
    for (const r of selectRows(OVERHEAD_ROWS.mysql(), only)) rows.push(await compare('mysql', r.key, r.label, urls, o));
  });
  writeResult('mysql-overhead', { rows }, overheadMarkdown('MySQL overhead', 'mysql2 pool', o) + overheadTable(rows, 'mysql2 pool'));
}


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
