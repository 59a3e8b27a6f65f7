// What the wrapper costs (issue 13): a pool (b) against the driver's own pool (a) on the same
// server: throughput, p50/p99 latency, client CPU and heap bytes allocated per query. The two sides
// take turns in short slices, each in a process of its own (bench/slices.ts says why); a
// calibration row adds a known CPU cost to the driver's pool, as a check that the method sees a
// difference of that size.

import { fileURLToPath } from 'node:url';
import { table } from './lib.js';
import { repeatTurns, summarize, type Figures, type Interval } from './slices.js';
import { calibrationCpuNs, CALIBRATION_NS, type Driver, type Urls } from './overhead-rows.js';

/** b's figure over a's, with its 95% interval. */
export type Ratio = Interval;

export interface Comparison {
  readonly key: string;
  readonly label: string;
  readonly a: Figures;
  readonly b: Figures;
  readonly qps: Ratio;
  readonly p50: Ratio;
  readonly p99: Ratio;
  readonly cpu: Ratio;
  readonly pairs: number;
  readonly sliceMillis: number;
}

/** Options of a comparison: closed-loop workers (and connections) per side, slice pairs, slice length. */
export interface CompareOptions { readonly workers: number; readonly runs: number; readonly pairs: number; readonly sliceMillis: number }

export function compareOptions(): CompareOptions {
  const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback) || fallback;
  return { workers: 32, runs: num('P2C_OVERHEAD_RUNS', 6), pairs: num('P2C_OVERHEAD_PAIRS', 40), sliceMillis: num('P2C_OVERHEAD_SLICE_MS', 100) };
}

/** Row `key` of `driver`: its two sides in turns (bench/overhead-child.ts), and b against a. */
export async function compare(driver: Driver, key: string, label: string, urls: Urls, o: CompareOptions): Promise<Comparison> {
  const script = fileURLToPath(new URL('./overhead-child.js', import.meta.url));
  const { a, b, ratio } = summarize(await repeatTurns(script, [driver, key, JSON.stringify(urls), String(o.workers)], o.runs, o.pairs, o.sliceMillis));
  const c: Comparison = { key, label, a, b, qps: ratio.qps, p50: ratio.p50, p99: ratio.p99, cpu: ratio.cpuUs, pairs: o.pairs, sliceMillis: o.sliceMillis };
  console.log(`  ${label}: q/s ${fmtRatio(c.qps)} p50 ${fmtRatio(c.p50)} p99 ${fmtRatio(c.p99)} cpu ${fmtRatio(c.cpu)}`);
  return c;
}

const fmtRatio = (r: Ratio, digits = 3) => `**${r.value.toFixed(digits)}** (${r.lo.toFixed(digits)}-${r.hi.toFixed(digits)})`;
const meets = (r: Ratio, target: number, atLeast: boolean) => (atLeast ? r.value >= target : r.value <= target) ? 'yes' : 'no';

/**
 * The table of comparisons: each row b against a with its 95% interval, and whether each target
 * (throughput >= 0.99x, p50/p99 <= 1.02x, CPU <= 1.02x) is met by the measured value.
 */
export function overheadTable(rows: readonly Comparison[], baseline: string): string {
  return table(
    ['pool (b) vs ' + baseline + ' (a)', 'q/s a', 'q/s b', 'throughput b/a', 'p50 b/a', 'p99 b/a', 'CPU/query b/a', 'heap B/query a', 'heap B/query b', 'targets met'],
    rows.map((r) => [r.label, Math.round(r.a.qps), Math.round(r.b.qps), fmtRatio(r.qps), fmtRatio(r.p50), fmtRatio(r.p99), fmtRatio(r.cpu), Math.round(r.a.heapBytes), Math.round(r.b.heapBytes),
      r.key === 'noise' || r.key === 'calibration' ? '-' : [meets(r.qps, 0.99, true), meets(r.p50, 1.02, false), meets(r.p99, 1.02, false), meets(r.cpu, 1.02, false)].join(' / ')]),
  );
}

/** The heading and method of an overhead table. */
export function overheadMarkdown(title: string, baseline: string, o: CompareOptions): string {
  return `### ${title}: ${o.workers} concurrent \`SELECT 1\`, ${o.runs} runs x ${o.pairs} ABBA pairs of ${o.sliceMillis} ms slices per row\n\n`
    + `Each row: the pool (b) against a plain ${baseline} (a) with ${o.workers} connections on the same server, each in a process of its own (as an app has one kind of pool); the two take turns in ${o.sliceMillis} ms slices in ABBA order (one runs at a time). `
    + `Each figure is b's over a's, summed over all slices of each (latency percentiles over all queries), from ${o.runs} runs with fresh processes; in brackets a 95% interval from a two-level bootstrap (resampling the runs, then the slice pairs within them). `
    + `The noise floor row is two identical driver pools; the calibration row adds a known CPU cost to the driver's pool (a busy wait of ${CALIBRATION_NS} ns per query, which costs ${Math.round(calibrationCpuNs())} ns of CPU here), to show what size of difference the method resolves. `
    + 'Targets: throughput >= 0.99, p50, p99 and CPU per query <= 1.02 ("targets met" judges the measured value; the interval says how sure that is). Heap bytes are allocated bytes per query of the whole client process (benchmark loop and driver included).\n\n';
}
