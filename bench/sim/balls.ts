// Simulator (a): n balls into n bins with one random choice, P2C and d = 3, 4 choices, driving the
// real pickers of src/picker.ts. Expected (Azar et al.): ~ln n / ln ln n vs ~ln ln n / ln d.

import { createPicker, PowerOfDPicker, type Candidate } from '../../src/picker.js';
import { mean, seeded, table, writeResult } from '../lib.js';
import { ballsChart } from './charts.js';

type Strategy = { name: string; make: (random: () => number) => { pick(c: readonly Candidate[], cost: (i: number) => number): number } };

const STRATEGIES: Strategy[] = [
  { name: 'random', make: (r) => createPicker('random', r) },
  { name: 'p2c (d=2)', make: (r) => createPicker('p2c', r) },
  { name: 'd=3', make: (r) => new PowerOfDPicker(3, r) },
  { name: 'd=4', make: (r) => new PowerOfDPicker(4, r) },
];

export function runBalls(seed = 1): void {
  const ns = [10, 100, 1000, 10_000, 100_000, 1_000_000];
  const results: { n: number; trials: number; maxLoad: Record<string, number> }[] = [];
  for (const n of ns) {
    const trials = n <= 10_000 ? 20 : n <= 100_000 ? 5 : 2;
    const maxLoad: Record<string, number> = {};
    for (const s of STRATEGIES) {
      const maxima: number[] = [];
      for (let t = 0; t < trials; t++) {
        const random = seeded(seed * 1_000_003 + n + t);
        const picker = s.make(random);
        const bins = Array.from({ length: n }, () => ({ inflight: 0 }));
        const cost = (i: number) => bins[i]!.inflight;
        let max = 0;
        for (let ball = 0; ball < n; ball++) {
          const b = bins[picker.pick(bins, cost)]!;
          b.inflight++;
          if (b.inflight > max) max = b.inflight;
        }
        maxima.push(max);
      }
      maxLoad[s.name] = mean(maxima);
    }
    results.push({ n, trials, maxLoad });
  }
  const md = `### (a) n balls into n bins: mean maximum load\n\n${table(['n', 'trials', ...STRATEGIES.map((s) => s.name)],
    results.map((r) => [r.n, r.trials, ...STRATEGIES.map((s) => r.maxLoad[s.name]!)]))}`;
  writeResult('sim-balls-into-bins', { seed, results }, md, ballsChart);
}
