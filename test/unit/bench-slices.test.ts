// The statistics of the overhead benchmark (bench/slices.ts): figures summed per side, latency
// percentiles from the log-bucket histograms, intervals that cover the runs' spread.
import { describe, expect, it } from 'vitest';
import { bucketOf, summarize, type Slice, type Turns } from '../../bench/slices.js';

/** A slice of `n` queries, all taking `ms` except the slowest 1% taking `slowMs`. */
function slice(n: number, cpuUs: number, ms: number, slowMs = ms): Slice {
  const slow = Math.round(n / 100);
  const latencies = slowMs === ms ? [bucketOf(ms), n] : [bucketOf(ms), n - slow, bucketOf(slowMs), slow];
  return { n, ms: 100, cpuUs, heapBytes: n * 100, latencies };
}
const run = (pairs: number, a: () => Slice, b: () => Slice): Turns => ({ a: Array.from({ length: pairs }, a), b: Array.from({ length: pairs }, b), sliceMillis: 100 });

describe('bench slices: summarize', () => {
  it('sums each side over all slices of all runs: throughput, CPU per query, heap per query', () => {
    const s = summarize([run(10, () => slice(2000, 50_000, 1), () => slice(1900, 50_000, 1)), run(10, () => slice(1000, 25_000, 1), () => slice(1000, 26_000, 1))]);
    expect(s.a.qps).toBeCloseTo(15_000, 6); // 30,000 queries in 20 slices of 100 ms
    expect(s.b.qps / s.a.qps).toBeCloseTo(29_000 / 30_000, 9);
    expect(s.ratio.qps.value).toBeCloseTo(29 / 30, 9);
    expect(s.a.cpuUs).toBeCloseTo(750_000 / 30_000, 9);
    expect(s.b.cpuUs).toBeCloseTo(760_000 / 29_000, 9);
    expect(s.a.heapBytes).toBe(100);
  });

  it('percentiles come from the histogram to within its 0.2% buckets', () => {
    const s = summarize([run(20, () => slice(1000, 1, 1.5, 40), () => slice(1000, 1, 1.53, 44))]);
    expect(s.a.p50).toBeGreaterThan(1.5 * 0.998);
    expect(s.a.p50).toBeLessThan(1.5 * 1.002);
    expect(s.ratio.p50.value).toBeCloseTo(1.02, 2);
    expect(s.a.p99).toBeGreaterThan(1.5 * 0.998); // the 99th of 1,000 is the 990th: not yet the slow 1%
    expect(s.a.p99).toBeLessThan(1.5 * 1.002);
  });

  it('the interval covers the spread between runs, which resampling within runs cannot see', () => {
    // Within each run the ratio is steady (no noise for the bootstrap), but it differs between runs.
    const s = summarize([run(30, () => slice(1000, 1, 1), () => slice(950, 1, 1)), run(30, () => slice(1000, 1, 1), () => slice(1050, 1, 1))]);
    expect(s.ratio.qps.value).toBeCloseTo(1, 9);
    expect(s.ratio.qps.lo).toBeLessThanOrEqual(0.95);
    expect(s.ratio.qps.hi).toBeGreaterThanOrEqual(1.05);
  });

  it('a noisy run: the bootstrap interval contains the true ratio and narrows with more pairs', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const noisy = (pairs: number) => {
      const t: Turns = { a: [], b: [], sliceMillis: 100 };
      for (let i = 0; i < pairs; i++) {
        const speed = 0.7 + 0.6 * random(); // the machine's speed, shared by the pair
        (t.a as Slice[]).push(slice(Math.round(1000 * speed * (0.97 + 0.06 * random())), 1, 1));
        (t.b as Slice[]).push(slice(Math.round(980 * speed * (0.97 + 0.06 * random())), 1, 1));
      }
      return summarize([t]).ratio.qps;
    };
    const few = noisy(20);
    const many = noisy(400);
    for (const r of [few, many]) {
      expect(r.lo).toBeLessThan(0.98);
      expect(r.hi).toBeGreaterThan(0.98);
    }
    expect(many.hi - many.lo).toBeLessThan(few.hi - few.lo);
  });
});
