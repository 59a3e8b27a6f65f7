// Charts of the PostgreSQL benchmarks, each drawn from the result's JSON (bench/results/NAME.json):
// by the bench after a run (writeResult) and by bench/charts.ts from the committed files.

import { barChart, lineChart } from '../lib.js';

export interface SlowReplicaData {
  readonly phases: { readonly baseline: number; readonly slow20: number; readonly slow2s: number };
  readonly timelines: readonly { readonly name: string; readonly points: readonly (readonly [number, number])[] }[];
}

export function slowReplicaChart(d: SlowReplicaData): string {
  const at20 = d.phases.baseline / 1000, at2s = (d.phases.baseline + d.phases.slow20) / 1000;
  return lineChart({
    title: 'Share of reads sent to the slowed replica',
    note: `Lower is better once it is slow. 2 replicas, 16 readers; replica1 +20 ms from ${at20} s, +2 s from ${at2s} s.`,
    desc: `Per second, the share of the reads started that replica1 served, per picker. From ${at20} s every query on replica1 takes 20 ms more, from ${at2s} s 2 s more; `
      + 'before that both replicas are equal and every picker sends it about half.',
    xLabel: 'time since start (s)', yLabel: 'share of reads started (%)', yMax: 100,
    markers: [{ x: at20, label: '+20 ms' }, { x: at2s, label: '+2 s' }],
    series: d.timelines,
  });
}

type Share = { readonly share: number };
export type TailData = Readonly<Record<string, unknown>>;

/** Share of reads the +20 ms replica got, per client condition (the `+20 ms, CONDITION` entries). */
export function tailShareChart(d: TailData): string {
  const prefix = '+20 ms, ';
  const runs = Object.keys(d).filter((k) => k.startsWith(prefix)).map((k) => ({ condition: k.slice(prefix.length), ...(d[k] as { p2c: Share; rr: Share }) }));
  const pct = (v: number) => (v > 0 && v < 0.1 ? '<0.1%' : `${v.toFixed(1)}%`);
  return barChart({
    title: 'One replica +20 ms: share of reads sent to it',
    note: 'Lower is better (that replica is slower). 2 replicas, 16 readers, max 10; an even split is 50%.',
    desc: 'Share of reads sent to a replica 20 ms slower than the other, for p2c and round-robin, with the client idle, running a busy loop, or beside a CPU burner process.',
    yLabel: 'share of reads (%)', valueLabel: pct, categories: runs.map((r) => r.condition),
    series: [{ name: 'p2c', values: runs.map((r) => 100 * r.p2c.share) }, { name: 'round-robin', values: runs.map((r) => 100 * r.rr.share) }],
  });
}
