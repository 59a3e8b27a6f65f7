// Two pools measured in turns: side a (the driver's own pool) and side b (p2c-pool in some form),
// each in a process of its own, as an app has one kind of pool per process. The parent makes them
// take turns in short slices in ABBA order (a b b a a b ...), one running at a time, so a burst of
// this noisy machine hits both alike; each row runs several times with fresh processes.
//
// Why: this VM's speed for a query loop moves by 10-30% from one second to the next, so a few long
// runs one after the other resolve nothing near 1-2% (two identical pg.Pools measured 0.95-1.01 of
// each other that way, single pairs 0.67-1.42), and two processes running at the same time were no
// better (the scheduler's split between them moves as much). Both pools in one process was tried
// too and misleads: they share the heap, so one side's garbage is collected in the other's slices,
// and the driver's call sites see two callers (mysql2's promise pool measured 8% cheaper than ours
// that way, 10-30% dearer in processes of their own). A process's own state (its JIT's choices,
// where its memory and core landed) shifts a whole run by a few percent, so the intervals
// resample runs as well as the slice pairs within them.

import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { seeded } from './lib.js';

/** One slice of one side: queries, the time they took (ms, to the last one's end), client CPU (µs), heap bytes allocated, latency histogram (sparse: bucket, count, ...). */
export interface Slice { readonly n: number; readonly ms: number; readonly cpuUs: number; readonly heapBytes: number; readonly latencies: readonly number[] }

/** Latencies in logarithmic buckets 0.2% wide from 1 µs to 10 s: percentiles to 0.2%, and slices merge by adding. */
const GROWTH = Math.log(1.002);
const BUCKETS = Math.ceil(Math.log(1e7) / GROWTH);
export const bucketOf = (ms: number) => Math.min(BUCKETS - 1, Math.max(0, Math.floor(Math.log(ms * 1000) / GROWTH)));
const bucketMs = (i: number) => Math.exp((i + 0.5) * GROWTH) / 1000;

type ToSide = { slice: number } | { end: true };
type FromSide = { ready: true } | { slice: Slice } | { ended: true } | { failed: string };

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
  const start = performance.now();
  const deadline = start + ms;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (performance.now() < deadline) {
      const s = performance.now();
      await query();
      const at = bucketOf(performance.now() - s);
      histogram[at] = histogram[at]! + 1;
      n++;
    }
  }));
  // Queries still running at the deadline count, and so does the time they took.
  const took = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const heap1 = v8.getHeapStatistics().used_heap_size;
  const freed = freedByGc(profiler.stop());
  const latencies: number[] = [];
  for (let i = 0; i < BUCKETS; i++) if (histogram[i] !== 0) latencies.push(i, histogram[i]!);
  return { n, ms: took, cpuUs: cpu.user + cpu.system, heapBytes: heap1 - heap0 + freed, latencies };
}

/** Both sides' slices, pair by pair. */
export interface Turns { readonly a: readonly Slice[]; readonly b: readonly Slice[]; readonly sliceMillis: number }

/** The slice of a pool a side needs: one statement, and an end. */
export interface Runner {
  query(): Promise<unknown>;
  end(): Promise<void>;
}

/**
 * The body of a side's process: warms `pool` up for `warmupMillis`, then runs a slice whenever the
 * parent asks, and ends the pool when told to.
 */
export async function serveSlices(pool: Runner, workers: number, warmupMillis: number): Promise<void> {
  const send = (m: FromSide) => process.send!(m);
  let ending = false;
  // A parent that went away (killed) leaves no side behind.
  process.on('disconnect', () => {
    if (!ending) process.exit(1);
  });
  const warm = runSlice(() => pool.query(), workers, warmupMillis);
  // Listening before the warm-up ends: an `end` sent meanwhile is not lost.
  process.on('message', (m: ToSide) => {
    if ('end' in m) {
      ending = true;
      void warm.catch(() => {}).then(() => pool.end()).then(() => send({ ended: true }), (e: Error) => send({ failed: e.message })).finally(() => process.disconnect());
      return;
    }
    runSlice(() => pool.query(), workers, m.slice).then((slice) => send({ slice }), (e: Error) => send({ failed: e.message }));
  });
  await warm;
  send({ ready: true });
}

/**
 * Where the benchmark's processes run: the sides (clients) on CPU 0, the servers the harness starts
 * on CPU 1, so that the scheduler does not move either between runs (a side sharing a CPU with its
 * server backend in one run and not in the next shifts the whole run). P2C_BENCH_PIN_CLIENT /
 * P2C_BENCH_PIN_SERVER set other taskset CPU lists; an empty value, one CPU or no taskset: no pinning.
 */
export function pinnedCpus(kind: 'client' | 'server'): string | undefined {
  const set = process.env[kind === 'client' ? 'P2C_BENCH_PIN_CLIENT' : 'P2C_BENCH_PIN_SERVER'];
  if (set !== undefined) return set === '' ? undefined : set;
  if (cpus().length < 2 || !hasTaskset()) return undefined;
  return kind === 'client' ? '0' : '1';
}

/** Runs `fn` with the servers `pids` on their CPUs (see pinnedCpus; processes they fork meanwhile inherit them), then on every CPU again. */
export async function withServersPinned<T>(pids: readonly (number | undefined)[], fn: () => Promise<T>): Promise<T> {
  const cpuList = pinnedCpus('server');
  for (const pid of pids) pin(pid, cpuList);
  try {
    return await fn();
  } finally {
    if (cpuList !== undefined) for (const pid of pids) pin(pid, `0-${cpus().length - 1}`);
  }
}

let tasksetFound: boolean | undefined;
function hasTaskset(): boolean {
  if (tasksetFound === undefined) {
    try {
      execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
      tasksetFound = true;
    } catch {
      tasksetFound = false;
    }
  }
  return tasksetFound;
}

/** Pins a process (all its threads; threads and processes it starts later inherit it) to `cpus` (a taskset list). */
export function pin(pid: number | undefined, cpuList: string | undefined): void {
  if (pid === undefined || cpuList === undefined) return;
  execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

/** A side's process seen from the parent, with a bounded wait for each answer. */
class Side {
  private readonly child: ChildProcess;
  private readonly inbox: FromSide[] = [];
  private waiting: { readonly resolve: (m: FromSide) => void; readonly timer: ReturnType<typeof setTimeout> } | undefined;
  private exited: string | undefined;

  constructor(readonly name: string, script: string, args: readonly string[]) {
    this.child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    pin(this.child.pid, pinnedCpus('client'));
    this.child.on('message', (m: FromSide) => this.deliver(m));
    // A send to a process that has gone (ERR_IPC_CHANNEL_CLOSED) is a failure of this side, not a crash of the parent.
    this.child.on('error', (err) => this.deliver({ failed: `${name}: ${err.message}` }));
    this.child.on('exit', (code, signal) => {
      this.exited = `${name} exited (${code ?? signal})`;
      this.deliver({ failed: this.exited });
    });
  }

  private deliver(m: FromSide): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (w) {
      clearTimeout(w.timer);
      w.resolve(m);
    } else this.inbox.push(m);
  }

  /** The next message, or a failure after `timeoutMs`. A wait still pending is settled first (and its timer cleared). */
  private next(timeoutMs: number): Promise<FromSide> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.exited) return Promise.resolve({ failed: this.exited });
    const earlier = this.waiting;
    if (earlier) {
      this.waiting = undefined;
      clearTimeout(earlier.timer);
      earlier.resolve({ failed: `${this.name}: stopped while waiting` });
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve({ failed: `${this.name}: no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      this.waiting = { resolve, timer };
    });
  }

  private send(m: ToSide): void {
    if (this.exited) throw new Error(this.exited);
    this.child.send(m);
  }

  async ready(): Promise<void> {
    const m = await this.next(60_000);
    if (!('ready' in m)) throw new Error('failed' in m ? m.failed : `${this.name}: unexpected ${JSON.stringify(m)}`);
  }

  async slice(ms: number): Promise<Slice> {
    this.send({ slice: ms });
    const m = await this.next(ms + 30_000);
    if (!('slice' in m)) throw new Error('failed' in m ? m.failed : `${this.name}: unexpected ${JSON.stringify(m)}`);
    return m.slice;
  }

  /** Ends the pool and the process; kills it if it has not left within 10 s. */
  async stop(): Promise<void> {
    if (this.exited === undefined) {
      try { this.send({ end: true }); } catch { /* gone */ }
      await this.next(10_000);
    }
    if (this.exited === undefined) this.child.kill('SIGKILL');
  }
}

/**
 * Starts side a and side b (`script` with `args` plus 'a' or 'b'), waits until both are warm, runs
 * `pairs` pairs of `sliceMillis` slices in ABBA order, and stops both processes (killed if they do
 * not leave), also when something fails.
 */
export async function takeTurns(script: string, args: readonly string[], pairs: number, sliceMillis: number): Promise<Turns> {
  const sides = { a: new Side(`side a of ${args.join(' ')}`, script, [...args, 'a']), b: new Side(`side b of ${args.join(' ')}`, script, [...args, 'b']) };
  try {
    await Promise.all([sides.a.ready(), sides.b.ready()]);
    const turns = { a: [] as Slice[], b: [] as Slice[] };
    for (let i = 0; i < pairs; i++) {
      for (const w of i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) turns[w].push(await sides[w].slice(sliceMillis));
    }
    return { ...turns, sliceMillis };
  } finally {
    await Promise.all([sides.a.stop(), sides.b.stop()]);
  }
}

/** `runs` independent runs of takeTurns (fresh processes each), `pairs` pairs each. */
export async function repeatTurns(script: string, args: readonly string[], runs: number, pairs: number, sliceMillis: number): Promise<Turns[]> {
  const out: Turns[] = [];
  for (let r = 0; r < runs; r++) out.push(await takeTurns(script, args, pairs, sliceMillis));
  return out;
}

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

function figures(slices: readonly Slice[], index: readonly number[]): Figures {
  let n = 0, ms = 0, cpu = 0, heap = 0;
  const h = new Float64Array(BUCKETS);
  for (const i of index) {
    const s = slices[i]!;
    n += s.n; ms += s.ms; cpu += s.cpuUs; heap += s.heapBytes;
    const l = s.latencies;
    for (let k = 0; k < l.length; k += 2) h[l[k]!] = h[l[k]!]! + l[k + 1]!;
  }
  const percentile = (p: number) => {
    const rank = Math.ceil((p / 100) * n);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) if ((seen += h[i]!) >= rank) return bucketMs(i);
    return NaN;
  };
  return { qps: n / (ms / 1000), p50: percentile(50), p99: percentile(99), cpuUs: cpu / n, heapBytes: heap / n };
}

/** A figure of b against a's: `value` with a 95% interval (lo, hi). */
export interface Interval { readonly value: number; readonly lo: number; readonly hi: number }

/**
 * Each side's figures over all slices of all runs, and for each figure b's over a's (`ratio`) and
 * b's minus a's (`difference`), with 95% intervals from a two-level bootstrap (400 resamples: the
 * runs with replacement, then each chosen run's slice pairs with replacement, a pair's slices kept
 * together), so that a shift of a whole run widens the interval as it should.
 */
export function summarize(runs: readonly Turns[]): { a: Figures; b: Figures; ratio: Record<keyof Figures, Interval>; difference: Record<keyof Figures, Interval> } {
  const pooled = { a: runs.flatMap((t) => t.a), b: runs.flatMap((t) => t.b) };
  const offsets: number[] = [];
  let offset = 0;
  for (const t of runs) {
    offsets.push(offset);
    offset += t.a.length;
  }
  const all = pooled.a.map((_, i) => i);
  const a = figures(pooled.a, all);
  const b = figures(pooled.b, all);
  const keys = ['qps', 'p50', 'p99', 'cpuUs', 'heapBytes'] as const;
  const boot = { ratio: new Map<keyof Figures, number[]>(keys.map((k) => [k, []])), difference: new Map<keyof Figures, number[]>(keys.map((k) => [k, []])) };
  const random = seeded(13);
  for (let r = 0; r < 400; r++) {
    const index: number[] = [];
    for (let k = 0; k < runs.length; k++) {
      const run = Math.floor(random() * runs.length);
      const pairs = runs[run]!.a.length;
      for (let i = 0; i < pairs; i++) index.push(offsets[run]! + Math.floor(random() * pairs));
    }
    const fa = figures(pooled.a, index);
    const fb = figures(pooled.b, index);
    for (const k of keys) {
      boot.ratio.get(k)!.push(fb[k] / fa[k]);
      boot.difference.get(k)!.push(fb[k] - fa[k]);
    }
  }
  const interval = (value: number, xs: number[]): Interval => {
    const sorted = xs.sort((x, y) => x - y);
    return { value, lo: sorted[Math.floor(0.025 * sorted.length)]!, hi: sorted[Math.ceil(0.975 * sorted.length) - 1]! };
  };
  const ratio = Object.fromEntries(keys.map((k) => [k, interval(b[k] / a[k], boot.ratio.get(k)!)])) as Record<keyof Figures, Interval>;
  const difference = Object.fromEntries(keys.map((k) => [k, interval(b[k] - a[k], boot.difference.get(k)!)])) as Record<keyof Figures, Interval>;
  return { a, b, ratio, difference };
}

