// Charts of the simulator benchmarks, each drawn from the result's JSON (bench/results/NAME.json):
// by the simulator after a run (writeResult) and by bench/charts.ts from the committed files.

import { barChart, lineChart } from '../lib.js';

const SETUP = '8 replicas, one 3x slower, offered load 80% of capacity';

export interface BallsData { readonly results: readonly { readonly n: number; readonly maxLoad: Readonly<Record<string, number>> }[] }

export function ballsChart(d: BallsData): string {
  const names = Object.keys(d.results[0]?.maxLoad ?? {});
  return lineChart({
    title: 'n balls into n bins: maximum load',
    note: 'Lower is better. Mean over the trials of the fullest bin; n on a log scale.',
    desc: 'n balls placed one by one into n bins, each by the picker shown; the mean load of the fullest bin as n grows from 10 to 1,000,000. '
      + d.results.map((r) => `n ${r.n}: ${names.map((s) => `${s} ${r.maxLoad[s]}`).join(', ')}`).join('; ') + '.',
    xLabel: 'n (balls = bins, log scale)', yLabel: 'max load (balls in the fullest bin)', logX: true,
    series: names.map((name) => ({ name, points: d.results.map((r) => [r.n, r.maxLoad[name] ?? NaN] as const) })),
  });
}

export interface HeterogeneousData { readonly rows: readonly { readonly policy: string; readonly meanMs: number; readonly p99Ms: number }[] }

export function heterogeneousChart(d: HeterogeneousData): string {
  return barChart({
    title: 'Heterogeneous replicas: time in system',
    note: 'Lower is better. Log scale. 4 replicas, one 3x slower, load 80%.',
    desc: 'Simulated mean and p99 time in system per picker with 4 replicas, one 3 times slower, at 80% of capacity. Random and round-robin give the slow replica a quarter of the requests, more than it can serve, so its queue grows for the whole run.',
    yLabel: 'time in system (ms, log scale)', logY: true, categories: ['mean', 'p99'],
    series: d.rows.map((r) => ({ name: r.policy, values: [r.meanMs, r.p99Ms] })),
  });
}

/** Picker names of the many-processes rows as the table and chart print them. */
export const processPolicyLabel = (p: string) => p.replace('local:', '').replace('stale:least-connections:5', 'least-connections, shared view 5 ms stale');

export interface ManyProcessesData { readonly rows: readonly { readonly processes: number; readonly policy: string; readonly p99Ms: number }[] }

export function manyProcessesChart(d: ManyProcessesData): string {
  const counts = [...new Set(d.rows.map((r) => r.processes))];
  const policies = [...new Set(d.rows.map((r) => r.policy))];
  return barChart({
    title: 'Independent app processes: p99 time in system',
    note: `Lower is better. Log scale. ${SETUP}.`,
    desc: `Simulated p99 time in system when 1, 16 or 64 app processes each balance on their own view of in-flight requests; ${SETUP}.`,
    yLabel: 'p99 time in system (ms, log scale)', logY: true,
    categories: counts.map((n) => `${n} process${n === 1 ? '' : 'es'}`),
    series: policies.map((p) => ({ name: processPolicyLabel(p), values: counts.map((n) => d.rows.find((r) => r.processes === n && r.policy === p)?.p99Ms ?? NaN) })),
  });
}

export interface StalenessData { readonly rows: readonly { readonly refreshMs: number; readonly picker: string; readonly p99Ms: number }[] }

export function stalenessChart(d: StalenessData): string {
  const pickers = [...new Set(d.rows.map((r) => r.picker))];
  return lineChart({
    title: 'Stale load information: p99 vs refresh period',
    note: `Lower is better. Both axes log scale. 64 processes, ${SETUP}.`,
    desc: `Simulated p99 time in system when every balancer sees in-flight counts refreshed only every T ms; 64 processes, ${SETUP}. `
      + pickers.map((p) => `${p}: ${d.rows.filter((r) => r.picker === p).map((r) => `T ${r.refreshMs} ms ${r.p99Ms.toFixed(1)} ms`).join(', ')}`).join('; ') + '.',
    xLabel: 'refresh period T (ms, log scale)', yLabel: 'p99 time in system (ms, log scale)', logX: true, logY: true,
    series: pickers.map((p) => ({ name: p, points: d.rows.filter((r) => r.picker === p).map((r) => [r.refreshMs, r.p99Ms] as const) })),
  });
}
