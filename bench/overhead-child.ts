// One overhead row (bench/overhead.ts) in a process of its own: builds side a and side b, warms
// both up, runs them in turns of short slices in ABBA order, and sends the comparison to the parent.
// argv: driver, row key, URLs as JSON, options as JSON.

import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { CompareOptions, Comparison, Ratio, RunFigures } from './overhead.js';
import { OVERHEAD_ROWS, type Driver, type Runner, type Urls } from './overhead-rows.js';
import { seeded } from './lib.js';

const [driver, key, urlsJson, optionsJson] = process.argv.slice(2) as [Driver, string, string, string];
const o = JSON.parse(optionsJson) as CompareOptions;

/** Latencies in logarithmic buckets 0.2% wide from 1 µs: percentiles to 0.2%, and slices merge by adding. */
const GROWTH = Math.log(1.002);
const BUCKETS = Math.ceil(Math.log(1e7) / GROWTH); // up to 10 s
const bucketOf = (ms: number) => Math.min(BUCKETS - 1, Math.max(0, Math.floor(Math.log(ms * 1000) / GROWTH)));
const bucketMs = (i: number) => Math.exp((i + 0.5) * GROWTH) / 1000;

/** One slice of one side. */
interface Slice { readonly n: number; readonly cpuUs: number; readonly heapBytes: number; readonly histogram: Uint32Array }

function freedByGc(profile: unknown): number {
  const stats = (profile as { statistics: { beforeGC: { heapStatistics: { usedHeapSize: number } }; afterGC: { heapStatistics: { usedHeapSize: number } } }[] }).statistics;
  let freed = 0;
  for (const gc of stats) freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
  return freed;
}

/**
 * `o.workers` closed-loop workers running `runner.query` for `ms`: queries, CPU, heap bytes allocated
 * (growth of the used heap plus what every GC in between freed) and the latency histogram.
 */
async function slice(runner: Runner, ms: number): Promise<Slice> {
  const histogram = new Uint32Array(BUCKETS);
  let n = 0;
  const profiler = new v8.GCProfiler();
  const heap0 = v8.getHeapStatistics().used_heap_size;
  profiler.start();
  const cpu0 = process.cpuUsage();
  const deadline = performance.now() + ms;
  await Promise.all(Array.from({ length: o.workers }, async () => {
    while (performance.now() < deadline) {
      const s = performance.now();
      await runner.query();
      const at = bucketOf(performance.now() - s);
      histogram[at] = histogram[at]! + 1;
      n++;
    }
  }));
  const cpu = process.cpuUsage(cpu0);
  const heap1 = v8.getHeapStatistics().used_heap_size;
  const freed = freedByGc(profiler.stop());
  return { n, cpuUs: cpu.user + cpu.system, heapBytes: heap1 - heap0 + freed, histogram };
}

const percentileOf = (h: Uint32Array, total: number, p: number) => {
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < h.length; i++) if ((seen += h[i]!) >= rank) return bucketMs(i);
  return NaN;
};

/** A side's figures over the slices at `index` (repeats allowed: a bootstrap resample). */
function figures(slices: readonly Slice[], index: readonly number[]): RunFigures {
  let n = 0, cpu = 0, heap = 0;
  const h = new Uint32Array(BUCKETS);
  for (const i of index) {
    const s = slices[i]!;
    n += s.n; cpu += s.cpuUs; heap += s.heapBytes;
    const sh = s.histogram;
    for (let k = 0; k < BUCKETS; k++) h[k] = h[k]! + sh[k]!;
  }
  return { qps: n / ((index.length * o.sliceMillis) / 1000), p50: percentileOf(h, n, 50), p99: percentileOf(h, n, 99), cpuUs: cpu / n, heapBytes: heap / n };
}

const spec = OVERHEAD_ROWS[driver]().find((r) => r.key === key);
if (!spec) throw new Error(`no overhead row ${driver}/${key}`);
const urls = JSON.parse(urlsJson) as Urls;
const sides = { a: spec.make('a', urls, o.workers), b: spec.make('b', urls, o.workers) };
try {
  for (let i = 0; i < 3; i++) for (const w of ['a', 'b'] as const) await slice(sides[w], 500);
  const slices = { a: [] as Slice[], b: [] as Slice[] };
  for (let i = 0; i < o.pairs; i++) {
    for (const w of i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) slices[w].push(await slice(sides[w], o.sliceMillis));
  }
  const all = slices.a.map((_, i) => i);
  const a = figures(slices.a, all);
  const b = figures(slices.b, all);
  // 95% intervals: 400 resamples of the pairs (a pair's two slices stay together).
  const random = seeded(13);
  const boot: Record<'qps' | 'p50' | 'p99' | 'cpuUs', number[]> = { qps: [], p50: [], p99: [], cpuUs: [] };
  for (let k = 0; k < 400; k++) {
    const index = all.map(() => Math.floor(random() * all.length));
    const fa = figures(slices.a, index);
    const fb = figures(slices.b, index);
    for (const f of ['qps', 'p50', 'p99', 'cpuUs'] as const) boot[f].push(fb[f] / fa[f]);
  }
  const ratio = (f: 'qps' | 'p50' | 'p99' | 'cpuUs'): Ratio => {
    const s = boot[f].sort((x, y) => x - y);
    return { value: b[f] / a[f], lo: s[Math.floor(0.025 * s.length)]!, hi: s[Math.ceil(0.975 * s.length) - 1]! };
  };
  const c: Comparison = { key, label: spec.label, a, b, qps: ratio('qps'), p50: ratio('p50'), p99: ratio('p99'), cpu: ratio('cpuUs'), pairs: o.pairs, sliceMillis: o.sliceMillis };
  process.send!(c);
} finally {
  await Promise.all([sides.a.end(), sides.b.end()]);
  process.disconnect();
}
