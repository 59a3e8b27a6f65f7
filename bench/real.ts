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
