// Shared machinery of the real-cluster benchmarks: closed-loop workers for a fixed time, recording
// every operation's start, latency and serving port; summaries by time window.

import { performance } from 'node:perf_hooks';
import { percentile } from './lib.js';

export interface Op { readonly at: number; readonly ms: number; readonly port: number; readonly ok: boolean }

/** `workers` concurrent loops calling `op` until `durationMs` has passed; `onTick` each second. */
export async function closedLoop(op: () => Promise<number>, workers: number, durationMs: number, onTick?: (second: number) => void): Promise<Op[]> {
  const ops: Op[] = [];
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  let second = 0;
  const ticker = onTick ? setInterval(() => onTick(++second), 1000) : undefined;
  try {
    await Promise.all(Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        const s = performance.now();
        try {
          const port = await op();
          ops.push({ at: s - t0, ms: performance.now() - s, port, ok: true });
        } catch {
          ops.push({ at: s - t0, ms: performance.now() - s, port: 0, ok: false });
        }
      }
    }));
  } finally {
    if (ticker) clearInterval(ticker);
  }
  return ops;
}

export function latencySummary(ops: readonly Op[]): { count: number; p50: number; p99: number; p999: number } {
  const sorted = ops.filter((o) => o.ok).map((o) => o.ms).sort((a, b) => a - b);
  return { count: ops.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9) };
}

/** Share of the successful operations started in [from, to) served by `port`; NaN when none started. */
export function shareOf(ops: readonly Op[], port: number, from = 0, to = Infinity): number {
  const w = ops.filter((o) => o.ok && o.at >= from && o.at < to);
  return w.length === 0 ? NaN : w.filter((o) => o.port === port).length / w.length;
}

/** Share of `port` per `windowMs` window, as chart points [seconds, percent]. */
export function shareTimeline(ops: readonly Op[], port: number, totalMs: number, windowMs = 1000): [number, number][] {
  const out: [number, number][] = [];
  for (let t = 0; t < totalMs; t += windowMs) {
    const share = shareOf(ops, port, t, t + windowMs);
    if (!Number.isNaN(share)) out.push([(t + windowMs) / 1000, 100 * share]);
  }
  return out;
}

/**
 * Two configurations side by side, in ABBA order (a, b, b, a per pair of rounds) so drift on a noisy
 * machine hits both alike: throughput ratio b / a per pair, its median and spread, and mean p50/p99.
 */
export async function abba(run: (which: 'a' | 'b') => Promise<Op[]>, pairs: number, seconds: number): Promise<{ ratios: number[]; median: number; min: number; max: number; a: { qps: number; p50: number; p99: number }; b: { qps: number; p50: number; p99: number } }> {
  await run('a'); await run('b'); // warm up both
  const ratios: number[] = [];
  const lat = { a: [] as { qps: number; p50: number; p99: number }[], b: [] as { qps: number; p50: number; p99: number }[] };
  for (let i = 0; i < pairs; i++) {
    const order: ('a' | 'b')[] = i % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
    const qps: Record<'a' | 'b', number> = { a: 0, b: 0 };
    for (const w of order) {
      const ops = await run(w);
      qps[w] = ops.filter((o) => o.ok).length / seconds;
      lat[w].push({ qps: qps[w], ...latencySummary(ops) });
    }
    ratios.push(qps.b / qps.a);
  }
  const sorted = [...ratios].sort((x, y) => x - y);
  const mean = (xs: { qps: number; p50: number; p99: number }[]) => ({
    qps: xs.reduce((s, x) => s + x.qps, 0) / xs.length, p50: xs.reduce((s, x) => s + x.p50, 0) / xs.length, p99: xs.reduce((s, x) => s + x.p99, 0) / xs.length,
  });
  return { ratios, median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted[sorted.length - 1]!, a: mean(lat.a), b: mean(lat.b) };
}

/** Where the client runs: an idle event loop, a loop ~40% busy with synchronous work, or beside a process burning a core. */
export type LoadCondition = 'idle loop' | 'busy loop (4 ms every 10 ms)' | 'CPU burner process';
export const LOAD_CONDITIONS: readonly LoadCondition[] = ['idle loop', 'busy loop (4 ms every 10 ms)', 'CPU burner process'];

/** Starts a load condition; the returned function stops it (burner killed by PID). */
export async function startCondition(condition: LoadCondition): Promise<() => Promise<void>> {
  const { busyLoop, startBurner } = await import('../test/support/delay-process.js');
  if (condition === 'busy loop (4 ms every 10 ms)') {
    const b = busyLoop(4, 10);
    return async () => b.stop();
  }
  if (condition === 'CPU burner process') {
    const b = await startBurner();
    return () => b.stop();
  }
  return async () => {};
}

export interface TailRun { readonly share: number; readonly p50: number; readonly p99: number; readonly p999: number; readonly reads: number; readonly failed: number }

/**
 * One tail run: `readers` closed-loop readers for `durationMs` under `condition`; the first
 * `warmupMs` are not counted. `share` is the share of reads served by `slowPort`.
 */
export async function tailRun(read: () => Promise<number>, condition: LoadCondition, slowPort: number, durationMs = 6000, warmupMs = 1500, readers = 16): Promise<TailRun> {
  const stop = await startCondition(condition);
  try {
    const ops = await closedLoop(read, readers, durationMs);
    const counted = ops.filter((o) => o.at >= warmupMs);
    const s = latencySummary(counted);
    return { share: shareOf(counted, slowPort), p50: s.p50, p99: s.p99, p999: s.p999, reads: counted.length, failed: counted.filter((o) => !o.ok).length };
  } finally {
    await stop();
  }
}

/**
 * Open-loop load: reads arrive at `ratePerSec` whatever the pool's speed (a closed loop would stop
 * issuing while its workers are stuck, and so under-count a stall), for `durationMs`; each read's
 * latency runs from its scheduled arrival.
 */
export async function openLoop(op: () => Promise<number>, ratePerSec: number, durationMs: number): Promise<Op[]> {
  const ops: Op[] = [];
  const pending = new Set<Promise<unknown>>();
  const t0 = performance.now();
  let issued = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now() - t0;
      const due = (Math.min(now, durationMs) * ratePerSec) / 1000;
      while (issued < due) {
        const at = (issued * 1000) / ratePerSec;
        issued++;
        const p = op().then(
          (port) => { ops.push({ at, ms: performance.now() - t0 - at, port, ok: true }); },
          () => { ops.push({ at, ms: performance.now() - t0 - at, port: 0, ok: false }); },
        );
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      if (now >= durationMs) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  await Promise.all(pending);
  return ops;
}
