// The simulator benchmarks (seeded, pure): (a) balls into bins, (b) heterogeneous replicas,
// (c) many independent app processes, (d) stale load information. Results in bench/results/.

import { runBalls } from './balls.js';
import { simulate, type ServerModel } from './queue.js';
import { table, writeResult } from '../lib.js';
import { heterogeneousChart, manyProcessesChart, processPolicyLabel as label, stalenessChart } from './charts.js';

const SEED = Number(process.env['P2C_BENCH_SEED'] ?? 42);

function heterogeneous(): void {
  const servers: ServerModel[] = [{ slots: 4, meanServiceMs: 3 }, { slots: 4, meanServiceMs: 1 }, { slots: 4, meanServiceMs: 1 }, { slots: 4, meanServiceMs: 1 }];
  const policies = ['random', 'round-robin', 'least-connections', 'p2c'];
  const rows = policies.map((p) => ({ policy: p, ...simulate({ servers, load: 0.8, requests: 200_000, processes: 1, seed: SEED, policy: `local:${p}` }) }));
  const md = `### (b) Heterogeneous replicas: one 3x slower, offered load 80% of capacity (200k requests)\n\n` +
    `Fair share of the slow replica by capacity: ${(100 * (4 / 3) / (4 / 3 + 12)).toFixed(1)}%.\n\n` +
    table(['picker', 'mean time in system (ms)', 'p99 (ms)', 'slow replica share', 'fast replicas share (each)'],
      rows.map((r) => [r.policy, r.meanMs, r.p99Ms, `${(r.shares[0]! * 100).toFixed(1)}%`, r.shares.slice(1).map((s) => `${(s * 100).toFixed(1)}%`).join(' / ')]));
  writeResult('sim-heterogeneous', { seed: SEED, servers, load: 0.8, rows }, md, heterogeneousChart);
}

function manyProcesses(): void {
  const servers: ServerModel[] = [{ slots: 4, meanServiceMs: 3 }, ...Array.from({ length: 7 }, () => ({ slots: 4, meanServiceMs: 1 }))];
  const policies = ['local:random', 'local:least-connections', 'local:p2c', 'stale:least-connections:5'];
  const rows: { processes: number; policy: string; meanMs: number; p99Ms: number; oscillation: number }[] = [];
  for (const processes of [1, 16, 64]) {
    for (const policy of policies) {
      const r = simulate({ servers, load: 0.8, requests: 150_000, processes, seed: SEED, policy });
      rows.push({ processes, policy, meanMs: r.meanMs, p99Ms: r.p99Ms, oscillation: r.oscillation });
    }
  }
  const verdicts = [1, 16, 64].map((n) => {
    const p2c = rows.find((r) => r.processes === n && r.policy === 'local:p2c')!;
    const rnd = rows.find((r) => r.processes === n && r.policy === 'local:random')!;
    return `${n} processes: p2c ${p2c.p99Ms <= rnd.p99Ms && p2c.meanMs <= rnd.meanMs ? 'not worse than' : 'WORSE than'} random (p99 ${p2c.p99Ms.toFixed(2)} vs ${rnd.p99Ms.toFixed(2)} ms)`;
  });
  const md = `### (c) Independent app processes, each balancing on its own local view (8 replicas, one 3x slower, load 80%)\n\n` +
    table(['processes', 'picker', 'mean (ms)', 'p99 (ms)', 'share swing (std dev over 10 ms windows)'], rows.map((r) => [r.processes, label(r.policy), r.meanMs, r.p99Ms, r.oscillation])) +
    `\n\n${verdicts.map((v) => `- ${v}`).join('\n')}`;
  writeResult('sim-many-processes', { seed: SEED, rows }, md, manyProcessesChart);
}

function staleness(): void {
  const servers: ServerModel[] = [{ slots: 4, meanServiceMs: 3 }, ...Array.from({ length: 7 }, () => ({ slots: 4, meanServiceMs: 1 }))];
  const periods = [0.1, 1, 5, 20, 100];
  const pickers = ['p2c', 'least-connections', 'random'] as const;
  const rows: { refreshMs: number; picker: string; meanMs: number; p99Ms: number; oscillation: number }[] = [];
  for (const t of periods) {
    for (const p of pickers) {
      const r = simulate({ servers, load: 0.8, requests: 150_000, processes: 64, seed: SEED, policy: `stale:${p}:${t}` });
      rows.push({ refreshMs: t, picker: p, meanMs: r.meanMs, p99Ms: r.p99Ms, oscillation: r.oscillation });
    }
  }
  const md = `### (d) Stale load information: every balancer sees in-flight counts refreshed every T ms\n\n` +
    table(['T (ms)', 'picker', 'mean (ms)', 'p99 (ms)', 'share swing'], rows.map((r) => [r.refreshMs, r.picker, r.meanMs, r.p99Ms, r.oscillation]));
  // random is overloaded at every T (it ignores load): the chart's log y axis shows it beside the others.
  writeResult('sim-staleness', { seed: SEED, rows }, md, stalenessChart);
}

export function runSimulator(): void {
  console.log(`Simulator, seed ${SEED}`);
  runBalls(SEED);
  heterogeneous();
  manyProcesses();
  staleness();
}
