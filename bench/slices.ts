// Two pools measured in turns: side a (the driver's own pool) and side b (p2c-pool in some form)
// run in short slices in ABBA order (a b b a a b ...), one at a time, so a burst of this noisy
// machine hits both alike. Both sides live in one process made for that row alone (its JIT sees
// the driver's pool both directly and through p2c-pool, as an app with p2c-pool does; one row's
// pools never share a process with another row's), and each row runs several times with a fresh
// process.
//
// Why: this VM's speed for a query loop moves by 10-30% from one second to the next, so a few long
// runs one after the other resolve nothing near 1-2% (two identical pg.Pools measured 0.95-1.01 of
// each other that way, single pairs 0.67-1.42). Two processes running at the same time were no
// better (the scheduler's split between them moves as much), and one process per side was worse: a
// process's own state (its JIT's choices, where its memory and core landed) shifted a whole run
// by 3-6%, which hid a known 2% difference. Many short turns in one process, figures summed per
// side, and intervals that cover both resampling and the spread between runs say what a
// difference is and how sure it is.

import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { seeded } from './lib.js';

/** One slice of one side: queries, client CPU (µs), heap bytes allocated, latency histogram (sparse: bucket, count, ...). */
export interface Slice { readonly n: number; readonly cpuUs: number; readonly heapBytes: number; readonly latencies: readonly number[] }

/** Latencies in logarithmic buckets 0.2% wide from 1 µs to 10 s: percentiles to 0.2%, and slices merge by adding. */
const GROWTH = Math.log(1.002);
const BUCKETS = Math.ceil(Math.log(1e7) / GROWTH);
export const bucketOf = (ms: number) => Math.min(BUCKETS - 1, Math.max(0, Math.floor(Math.log(ms * 1000) / GROWTH)));
const bucketMs = (i: number) => Math.exp((i + 0.5) * GROWTH) / 1000;

function freedByGc(profile: unknown): number {
  const stats = (profile as { statistics: { beforeGC: { heapStatistics: { usedHeapSize: number } }; afterGC: { heapStatistics: { usedHeapSize: number } } }[] }).statistics;
  let freed = 0;
  for (const gc of stats) freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
  return freed;
}

/**
 * `workers` closed-loop workers running `query` for `ms`: queries, CPU, heap
 * bytes allocated (growth of the used heap plus what every GC in between freed) and latencies.
 */
async function runSlice(query: () => Promise<unknown>, workers: number, ms: number): Promise<Slice> {
  const histogram = new Uint32Array(BUCKETS);
  let n = 0;
  const profiler = new v8.GCProfiler();
  const heap0 = v8.getHeapStatistics().used_heap_size;
  profiler.start();
  const cpu0 = process.cpuUsage();
  const deadline = performance.now() + ms;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (performance.now() < deadline) {
      const s = performance.now();
      await query();
      const at = bucketOf(performance.now() - s);
      histogram[at] = histogram[at]! + 1;
      n++;
    }
  }));
  const cpu = process.cpuUsage(cpu0);
  const heap1 = v8.getHeapStatistics().used_heap_size;
  const freed = freedByGc(profiler.stop());
  const latencies: number[] = [];
  for (let i = 0; i < BUCKETS; i++) if (histogram[i] !== 0) latencies.push(i, histogram[i]!);
  return { n, cpuUs: cpu.user + cpu.system, heapBytes: heap1 - heap0 + freed, latencies };
}

/** Both sides' slices, pair by pair. */
export interface Turns { readonly a: readonly Slice[]; readonly b: readonly Slice[]; readonly sliceMillis: number }

/** A side's figures over the slices at `index` (repeats allowed: a bootstrap resample). */
export interface Figures {
  readonly qps: number;
  /** Latency percentiles (ms) over all the side's queries. */
  readonly p50: number;
  readonly p99: number;
  /** Client CPU per query, µs. */
  readonly cpuUs: number;
  /** Heap bytes allocated per query, whole process. */
  readonly heapBytes: number;
}

function figures(slices: readonly Slice[], index: readonly number[], sliceMillis: number): Figures {
  let n = 0, cpu = 0, heap = 0;
  const h = new Float64Array(BUCKETS);
  for (const i of index) {
    const s = slices[i]!;
    n += s.n; cpu += s.cpuUs; heap += s.heapBytes;
    const l = s.latencies;
    for (let k = 0; k < l.length; k += 2) h[l[k]!] = h[l[k]!]! + l[k + 1]!;
  }
  const percentile = (p: number) => {
    const rank = Math.ceil((p / 100) * n);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) if ((seen += h[i]!) >= rank) return bucketMs(i);
    return NaN;
  };
  return { qps: n / ((index.length * sliceMillis) / 1000), p50: percentile(50), p99: percentile(99), cpuUs: cpu / n, heapBytes: heap / n };
}

/** A figure of b against a's: `value` with a 95% interval (lo, hi). */
export interface Interval { readonly value: number; readonly lo: number; readonly hi: number }

/**
 * Each side's figures over all slices of all runs, and for each figure b's over a's (`ratio`) and
 * b's minus a's (`difference`). The interval of each is the wider of two: a 95% bootstrap interval
 * (400 resamples of the pairs, a pair's slices kept together), and the range of the runs' own
 * figures. The second is there because a process's own state (its JIT's choices, where its memory
 * and core landed) shifts a run as a whole, which resampling within runs cannot see.
 */
export function summarize(runs: readonly Turns[]): { a: Figures; b: Figures; ratio: Record<keyof Figures, Interval>; difference: Record<keyof Figures, Interval> } {
  const sliceMillis = runs[0]!.sliceMillis;
  const pooled = { a: runs.flatMap((t) => t.a), b: runs.flatMap((t) => t.b) };
  const all = pooled.a.map((_, i) => i);
  const a = figures(pooled.a, all, sliceMillis);
  const b = figures(pooled.b, all, sliceMillis);
  const keys = ['qps', 'p50', 'p99', 'cpuUs', 'heapBytes'] as const;
  const boot = { ratio: new Map<keyof Figures, number[]>(keys.map((k) => [k, []])), difference: new Map<keyof Figures, number[]>(keys.map((k) => [k, []])) };
  const random = seeded(13);
  for (let r = 0; r < 400; r++) {
    const index = all.map(() => Math.floor(random() * all.length));
    const fa = figures(pooled.a, index, sliceMillis);
    const fb = figures(pooled.b, index, sliceMillis);
    for (const k of keys) {
      boot.ratio.get(k)!.push(fb[k] / fa[k]);
      boot.difference.get(k)!.push(fb[k] - fa[k]);
    }
  }
  const perRun = runs.map((t) => {
    const index = t.a.map((_, i) => i);
    return { a: figures(t.a, index, sliceMillis), b: figures(t.b, index, sliceMillis) };
  });
  const interval = (value: number, xs: number[], ofRuns: number[]): Interval => {
    const s = xs.sort((x, y) => x - y);
    return { value, lo: Math.min(s[Math.floor(0.025 * s.length)]!, ...ofRuns), hi: Math.max(s[Math.ceil(0.975 * s.length) - 1]!, ...ofRuns) };
  };
  const ratio = Object.fromEntries(keys.map((k) => [k, interval(b[k] / a[k], boot.ratio.get(k)!, perRun.map((r) => r.b[k] / r.a[k]))])) as Record<keyof Figures, Interval>;
  const difference = Object.fromEntries(keys.map((k) => [k, interval(b[k] - a[k], boot.difference.get(k)!, perRun.map((r) => r.b[k] - r.a[k]))])) as Record<keyof Figures, Interval>;
  return { a, b, ratio, difference };
}

/** The slice of a pool a run needs: one statement, and an end. */
export interface Runner {
  query(): Promise<unknown>;
  end(): Promise<void>;
}

/**
 * The body of a row's process: builds both sides, warms them up, runs `pairs` pairs of slices in
 * ABBA order, sends the slices to the parent, and ends both pools (also when something failed).
 */
export async function serveRow(build: () => { a: Runner; b: Runner }, workers: number, pairs: number, sliceMillis: number): Promise<void> {
  const sides = build();
  try {
    for (let i = 0; i < 3; i++) for (const w of ['a', 'b'] as const) await runSlice(() => sides[w].query(), workers, 500);
    const turns = { a: [] as Slice[], b: [] as Slice[] };
    for (let i = 0; i < pairs; i++) {
      for (const w of i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) turns[w].push(await runSlice(() => sides[w].query(), workers, sliceMillis));
    }
    // Sent before the channel closes: a large message is still being written when send() returns.
    await new Promise<void>((resolve, reject) => process.send!({ ...turns, sliceMillis } satisfies Turns, undefined, {}, (err) => (err ? reject(err) : resolve())));
  } finally {
    await Promise.allSettled([sides.a.end(), sides.b.end()]);
    process.disconnect();
  }
}

/**
 * One run of a row: `script` (which calls serveRow) in a fresh process with `args`; its slices.
 * Bounded: killed after `boundMillis`.
 */
function runRow(script: string, args: readonly string[], boundMillis: number): Promise<Turns> {
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise<Turns>((resolve, reject) => {
    let turns: Turns | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), boundMillis);
    child.on('message', (m: Turns) => { turns = m; });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (turns !== undefined && code === 0) resolve(turns);
      else reject(new Error(`${args.join(' ')}: the row's process exited (${code ?? signal}) without its figures${signal === 'SIGKILL' ? ` (killed after ${boundMillis} ms)` : ''}`));
    });
  });
}

/** `runs` runs of a row, each in a fresh process, one after the other. */
export async function repeatRow(script: string, args: readonly string[], runs: number, pairs: number, sliceMillis: number): Promise<Turns[]> {
  const out: Turns[] = [];
  for (let r = 0; r < runs; r++) out.push(await runRow(script, args, 3 * 2 * pairs * sliceMillis + 60_000));
  return out;
}
