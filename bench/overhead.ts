// What the wrapper costs (issue 13): a pool (b) against the driver's own pool (a) on the same
// server: throughput, p50/p99 latency, client CPU and heap bytes allocated per query.
//
// Method, and why. This VM's speed for a loopback query loop moves by 10-30% from one second to
// the next (the client, 32 server backends and the rest share 2 cores), so a few long runs taken one
// after the other resolve nothing near 1-2%: two identical pg.Pools measured 0.95-1.01 of each other
// that way (single pairs 0.67-1.42), and two processes running at the same time were no better (the
// scheduler's split between them moves as much). What works: many short slices (100 ms) in ABBA
// order (a b b a a b b a ...), so a burst of the machine hits both sides alike, figures summed over
// all slices of a side, and a 95% interval from resampling the pairs (bootstrap), so each row says
// what it can resolve. Each row runs in a process of its own (fresh JIT state: one row's pools do not
// make the next row's call sites polymorphic). A calibration row adds a known CPU cost to the
// driver's pool, as a check that the method sees a difference of that size.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { table } from './lib.js';
import type { Driver, Urls } from './overhead-rows.js';

/** One side's figures over all its slices. */
export interface RunFigures {
  readonly qps: number;
  /** Latency percentiles (ms) over all the side's queries. */
  readonly p50: number;
  readonly p99: number;
  /** Client CPU (user + system) per query, microseconds. */
  readonly cpuUs: number;
  /** Heap bytes allocated per query (all of the process: the benchmark loop, the driver, the pool). */
  readonly heapBytes: number;
}

/** b's figure over a's, with a 95% interval from resampling the slice pairs. */
export interface Ratio { readonly value: number; readonly lo: number; readonly hi: number }

export interface Comparison {
  readonly key: string;
  readonly label: string;
  readonly a: RunFigures;
  readonly b: RunFigures;
  readonly qps: Ratio;
  readonly p50: Ratio;
  readonly p99: Ratio;
  readonly cpu: Ratio;
  readonly pairs: number;
  readonly sliceMillis: number;
}

/** Options of a comparison: closed-loop workers (and connections) per side, slice pairs, slice length. */
export interface CompareOptions { readonly workers: number; readonly pairs: number; readonly sliceMillis: number }

export function compareOptions(): CompareOptions {
  const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback) || fallback;
  return { workers: 32, pairs: num('P2C_OVERHEAD_PAIRS', 150), sliceMillis: num('P2C_OVERHEAD_SLICE_MS', 100) };
}

/**
 * Row `key` of `driver` in a child process (bench/overhead-child.ts), which builds both sides, runs
 * the slices and sends back the comparison. Bounded: the child is killed if it takes three times
 * the slices' time plus a minute.
 */
export function compare(driver: Driver, key: string, urls: Urls, o: CompareOptions): Promise<Comparison> {
  const script = fileURLToPath(new URL('./overhead-child.js', import.meta.url));
  const child = fork(script, [driver, key, JSON.stringify(urls), JSON.stringify(o)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const boundMs = 3 * 2 * o.pairs * o.sliceMillis + 60_000;
  return new Promise<Comparison>((resolve, reject) => {
    let result: Comparison | undefined;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`overhead row ${driver}/${key}: no result within ${boundMs} ms`)); }, boundMs);
    child.on('message', (m: Comparison) => { result = m; });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (result && code === 0) {
        console.log(`  ${result.label}: q/s ${fmtRatio(result.qps)} p50 ${fmtRatio(result.p50)} p99 ${fmtRatio(result.p99)} cpu ${fmtRatio(result.cpu)}`);
        resolve(result);
      } else reject(new Error(`overhead row ${driver}/${key}: the child exited (${code ?? signal}) without a result`));
    });
  });
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
  return `### ${title}: ${o.workers} concurrent \`SELECT 1\`, ${o.pairs} ABBA pairs of ${o.sliceMillis} ms slices per row\n\n`
    + `Each row: the pool (b) against a plain ${baseline} (a) with ${o.workers} connections on the same server, in a process of its own; the two take turns in ${o.sliceMillis} ms slices in ABBA order. `
    + 'Each figure is b\'s over a\'s, summed over all slices of each (latency percentiles over all queries), with a 95% interval from resampling the slice pairs (bootstrap). '
    + 'The noise floor row is two identical driver pools; the calibration row adds a known CPU cost to the driver\'s pool, to show what size of difference the method resolves. '
    + 'Targets: throughput >= 0.99, p50, p99 and CPU per query <= 1.02 ("targets met" judges the measured value; the interval says how sure that is). Heap bytes are allocated bytes per query of the whole client process (benchmark loop and driver included).\n\n';
}
