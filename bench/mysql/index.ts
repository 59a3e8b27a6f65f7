// Real-cluster benchmarks on the harness's MariaDB primary + 2 replicas: overhead vs a plain
// mysql2 pool, and the shares of a replica slowed by 20 ms per picker.

import mysql from 'mysql2/promise';
import { createPool } from '../../adapters/mysql/index.js';
import type { PickerName } from '../../src/picker.js';
import { startMyCluster, type MyCluster } from '../../test/support/mysql-cluster.js';
import { FaultProxy } from '../../test/support/fault-proxy.js';
import { table, writeResult } from '../lib.js';
import { closedLoop, latencySummary, shareOf } from '../real.js';

export async function runMysqlBench(): Promise<void> {
  const cluster = await startMyCluster({ replicas: 2 });
  try {
    await overhead(cluster);
    await slowReplica(cluster);
  } finally {
    await cluster.stop();
  }
}

async function overhead(cluster: MyCluster): Promise<void> {
  const plain = mysql.createPool({ uri: cluster.primary.url, connectionLimit: 32 });
  const ours = createPool({ primary: cluster.primary.url, connectionLimit: 32 }).promise();
  const run = (p: { query(sql: string): Promise<unknown> }) => closedLoop(async () => { await p.query('SELECT 1'); return 0; }, 32, 3000);
  try {
    await run(plain); await run(ours);
    const tput = { plain: 0, ours: 0 };
    const lat = { plain: [] as { p50: number; p99: number }[], ours: [] as { p50: number; p99: number }[] };
    for (let round = 0; round < 4; round++) {
      for (const [name, p] of [['plain', plain], ['ours', ours]] as const) {
        const ops = await run(p);
        tput[name] += ops.length / 3 / 4;
        lat[name].push(latencySummary(ops));
      }
    }
    const avg = (k: 'plain' | 'ours', q: 'p50' | 'p99') => lat[k].reduce((a, l) => a + l[q], 0) / 4;
    const ratio = tput.ours / tput.plain;
    const md = `### MySQL overhead: 32 concurrent \`SELECT 1\` on one MariaDB server, 4 alternating rounds of 3 s\n\n` + table(['pool', 'queries/s', 'p50 (ms)', 'p99 (ms)'], [
      ['mysql2 pool (connectionLimit 32)', tput.plain, avg('plain', 'p50'), avg('plain', 'p99')],
      ['p2c-pool/mysql (multi-host form, primary only)', tput.ours, avg('ours', 'p50'), avg('ours', 'p99')],
    ]) + `\n\nThroughput ratio: **${ratio.toFixed(3)}** (target >= 0.97).`;
    writeResult('mysql-overhead', { tput, latency: lat, ratio }, md);
  } finally {
    await plain.end();
    await ours.end();
  }
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
