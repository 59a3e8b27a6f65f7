// What the wrapper costs (issue 13): two pools measured side by side on the same server, in ABBA
// order, for throughput, p50/p99 latency, client CPU and heap bytes allocated per query.

import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { percentile, table } from './lib.js';

/** The slice of a pool a run needs: one statement, and an end. */
export interface Runner {
  query(): Promise<unknown>;
  end(): Promise<void>;
}

/** One run's figures. */
export interface RunFigures {
  readonly qps: number;
  readonly p50: number;
  readonly p99: number;
  /** Client CPU (user + system) per query, microseconds. */
  readonly cpuUs: number;
  /** Heap bytes allocated per query (all of this process: the benchmark loop, the driver, the pool). */
  readonly heapBytes: number;
}

/** A comparison of b against a: the median of the per-pair ratios b/a, and their spread. */
export interface Ratio { readonly median: number; readonly min: number; readonly max: number }

export interface Comparison {
  readonly label: string;
  readonly a: RunFigures;
  readonly b: RunFigures;
  readonly qps: Ratio;
  readonly p50: Ratio;
  readonly p99: Ratio;
  readonly cpu: Ratio;
  readonly pairs: number;
  readonly seconds: number;
}

/**
 * Heap bytes allocated while `fn` runs: growth of the used heap plus what every garbage collection
 * in between freed (V8's GCProfiler reports the used size before and after each one).
 */
async function allocatedDuring<T>(fn: () => Promise<T>): Promise<{ value: T; bytes: number }> {
  const profiler = new v8.GCProfiler();
  const before = v8.getHeapStatistics().used_heap_size;
  profiler.start();
  const value = await fn();
  const after = v8.getHeapStatistics().used_heap_size;
  const stats = profiler.stop() as unknown as { statistics: { beforeGC: { heapStatistics: { usedHeapSize: number } }; afterGC: { heapStatistics: { usedHeapSize: number } } }[] };
  let freed = 0;
  for (const gc of stats.statistics) freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
  return { value, bytes: after - before + freed };
}

/** `workers` closed-loop workers running `runner.query` for `ms`. */
async function oneRun(runner: Runner, workers: number, ms: number): Promise<RunFigures> {
  const cpu0 = process.cpuUsage();
  const { value: latencies, bytes } = await allocatedDuring(async () => {
    const out: number[] = [];
    const deadline = performance.now() + ms;
    await Promise.all(Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        const s = performance.now();
        await runner.query();
        out.push(performance.now() - s);
      }
    }));
    return out;
  });
  const cpu = process.cpuUsage(cpu0);
  const n = latencies.length;
  // A typed array sorts numerically without a comparator call per pair, and leaves no garbage behind.
  const sorted = Float64Array.from(latencies).sort();
  return { qps: n / (ms / 1000), p50: percentile(sorted as unknown as readonly number[], 50), p99: percentile(sorted as unknown as readonly number[], 99), cpuUs: (cpu.user + cpu.system) / n, heapBytes: bytes / n };
}

const ratio = (xs: number[]): Ratio => {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: mid, min: s[0]!, max: s[s.length - 1]! };
};
const meanOf = (runs: RunFigures[], k: keyof RunFigures) => runs.reduce((s, r) => s + r[k], 0) / runs.length;

/** Options of a comparison: concurrency, pairs of runs (a b, then b a), seconds per run. */
export interface CompareOptions { readonly workers: number; readonly pairs: number; readonly seconds: number }

export function compareOptions(): CompareOptions {
  const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback) || fallback;
  // Many short pairs rather than a few long ones: this machine's noise comes in bursts of a second
  // or two, which the median of many pair ratios rides out.
  return { workers: 32, pairs: num('P2C_OVERHEAD_PAIRS', 16), seconds: num('P2C_OVERHEAD_SECONDS', 1.5) };
}

/**
 * a and b side by side: both warmed up, then `pairs` pairs in ABBA order (a b, b a, ...) so drift of
 * a noisy machine hits both alike; each figure of b over a's in the same pair, the median of those.
 */
export async function compare(label: string, make: { a: () => Runner; b: () => Runner }, o: CompareOptions): Promise<Comparison> {
  const runners = { a: make.a(), b: make.b() };
  try {
    const ms = o.seconds * 1000;
    await oneRun(runners.a, o.workers, Math.min(ms, 1500));
    await oneRun(runners.b, o.workers, Math.min(ms, 1500));
    const runs = { a: [] as RunFigures[], b: [] as RunFigures[] };
    for (let i = 0; i < o.pairs; i++) {
      for (const w of i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) runs[w].push(await oneRun(runners[w], o.workers, ms));
    }
    const per = (k: keyof RunFigures) => ratio(runs.a.map((a, i) => runs.b[i]![k] / a[k]));
    const mean = (w: 'a' | 'b'): RunFigures => ({ qps: meanOf(runs[w], 'qps'), p50: meanOf(runs[w], 'p50'), p99: meanOf(runs[w], 'p99'), cpuUs: meanOf(runs[w], 'cpuUs'), heapBytes: meanOf(runs[w], 'heapBytes') });
    const c: Comparison = { label, a: mean('a'), b: mean('b'), qps: per('qps'), p50: per('p50'), p99: per('p99'), cpu: per('cpuUs'), pairs: o.pairs, seconds: o.seconds };
    console.log(`  ${label}: q/s ${c.qps.median.toFixed(3)} p50 ${c.p50.median.toFixed(3)} p99 ${c.p99.median.toFixed(3)} cpu ${c.cpu.median.toFixed(3)} heap ${c.a.heapBytes.toFixed(0)} -> ${c.b.heapBytes.toFixed(0)} B/query`);
    return c;
  } finally {
    await runners.a.end();
    await runners.b.end();
  }
}

const fmtRatio = (r: Ratio, digits = 3) => `**${r.median.toFixed(digits)}** (${r.min.toFixed(digits)}-${r.max.toFixed(digits)})`;
const meets = (r: Ratio, target: number, atLeast: boolean) => (atLeast ? r.median >= target : r.median <= target) ? 'yes' : 'no';

/**
 * The table of comparisons: each row b against a, as the median of pair ratios with its spread,
 * and whether each target (throughput >= 0.99x, p50/p99 <= 1.02x, CPU <= 1.02x) is met.
 */
export function overheadTable(rows: readonly Comparison[], baseline: string): string {
  return table(
    ['pool (b) vs ' + baseline + ' (a)', 'q/s a', 'q/s b', 'throughput b/a', 'p50 b/a', 'p99 b/a', 'CPU/query b/a', 'heap B/query a', 'heap B/query b', 'targets met'],
    rows.map((r) => [r.label, Math.round(r.a.qps), Math.round(r.b.qps), fmtRatio(r.qps), fmtRatio(r.p50), fmtRatio(r.p99), fmtRatio(r.cpu), Math.round(r.a.heapBytes), Math.round(r.b.heapBytes),
      [meets(r.qps, 0.99, true), meets(r.p50, 1.02, false), meets(r.p99, 1.02, false), meets(r.cpu, 1.02, false)].join(' / ')]),
  );
}
