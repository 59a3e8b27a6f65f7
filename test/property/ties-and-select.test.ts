// P2C ties go to `a`, which keeps picks among equal hosts uniform (chi-square at 99.9%, seeded
// sources: deterministic); sortedMedian; the hedge delay's `select` against a sort.
import { describe, expect, it } from 'vitest';
import { P2CPicker, mulberry32, sortedMedian, median } from '../../src/picker.js';
import { select, HedgePolicy } from '../../src/hedge.js';
import { Cluster } from '../../src/pool.js';
import { Host } from '../../src/host.js';

function chi2(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const e = total / counts.length;
  return counts.reduce((s, c) => s + ((c - e) * (c - e)) / e, 0);
}
// 99.9% quantiles of chi-square for df = 1, 2, 15
const CRIT: Record<number, number> = { 1: 10.83, 2: 13.82, 15: 37.7 };

describe('P2C ties', () => {
  for (const n of [2, 3, 16]) {
    it(`all-equal costs: winner uniform over ${n} hosts (picker.pick, two seeded sources)`, () => {
      for (const random of [mulberry32(42), mulberry32(4242)]) {
        const p = new P2CPicker(random);
        const counts = new Array(n).fill(0);
        const cands = Array.from({ length: n }, () => ({ inflight: 0 }));
        for (let i = 0; i < 200_000; i++) counts[p.pick(cands, () => 1)]!++;
        expect(chi2(counts)).toBeLessThan(CRIT[n - 1]!);
      }
    });
  }

  it('pairwise tie: among a tied pair each wins half (two cheap hosts tied, one dear)', () => {
    const p = new P2CPicker(mulberry32(7));
    const costs = [1, 1, 5];
    const counts = [0, 0, 0];
    for (let i = 0; i < 300_000; i++) counts[p.pick([{ inflight: 0 }, { inflight: 0 }, { inflight: 0 }], (j) => costs[j]!)]!++;
    // expected: each of 0,1 wins 1/3 (pair 0-1 split) + 1/3 (its pair with 2) = 1/2; host 2 never
    expect(counts[2]).toBe(0);
    expect(chi2([counts[0]!, counts[1]!])).toBeLessThan(CRIT[1]!);
  });

  it('cluster path (Cluster.pick, draw/better inline): idle equal hosts get uniform picks', () => {
    for (const n of [2, 3, 16]) {
      const hosts = Array.from({ length: n }, (_, i) => { const h = new Host(`r${i}`, 'replica', 1, 10, i); h.verified = true; return h; });
      const c = new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: false, random: mulberry32(99) }, () => 0, () => ({ total: 0, idle: 0, waiting: 0 }));
      const counts = new Array(n).fill(0);
      for (let i = 0; i < 100_000; i++) counts[hosts.indexOf(c.choose('read'))]!++;
      expect(chi2(counts)).toBeLessThan(CRIT[n - 1]!);
    }
  });
});

describe('sortedMedian', () => {
  it('matches median() on random input incl. duplicates', () => {
    const r = mulberry32(1);
    for (let t = 0; t < 2000; t++) {
      const n = Math.floor(r() * 9);
      const v = Array.from({ length: n }, () => Math.floor(r() * 4) + (r() < 0.1 ? 0.5 : 0));
      expect(sortedMedian([...v])).toBe(median(v));
    }
  });
});

describe('hedge select', () => {
  it('equals the sorted k-th on random arrays (duplicates, n=1, k at both ends)', () => {
    const r = mulberry32(5);
    for (let t = 0; t < 20_000; t++) {
      const n = 1 + Math.floor(r() * 40);
      const dupes = r() < 0.5;
      const a = new Float64Array(n + 3).fill(-1);
      for (let i = 0; i < n; i++) a[i] = dupes ? Math.floor(r() * 3) : r() * 100;
      const k = r() < 0.3 ? 0 : r() < 0.5 ? n - 1 : Math.floor(r() * n);
      const sorted = Array.from(a.subarray(0, n)).sort((x, y) => x - y);
      const got = select(a, n, k);
      if (got !== sorted[k]) throw new Error(`n=${n} k=${k} got ${got} want ${sorted[k]} in ${sorted}`);
      // does not touch values past n
      expect(a[n]).toBe(-1);
    }
  });

  it('all-equal and sorted/reverse-sorted 512 (worst cases of a middle pivot) terminate and are right', () => {
    for (const make of [() => 7, (i: number) => i, (i: number) => 512 - i, (i: number) => i % 2]) {
      const a = Float64Array.from({ length: 512 }, (_, i) => make(i));
      const sorted = Array.from(a).sort((x, y) => x - y);
      for (const k of [0, 485, 511]) expect(select(Float64Array.from(a), 512, k)).toBe(sorted[k]);
    }
  });

  it('HedgePolicy p95 from select equals the sorted p95 over many windows', () => {
    const r = mulberry32(11);
    const p = new HedgePolicy({ afterMillis: 'p95', maxExtraLoad: 0.05 });
    const all: number[] = [];
    for (let i = 1; i <= 5000; i++) {
      const v = Math.floor(r() * 50) + (r() < 0.05 ? 200 : 0);
      p.observe(v);
      all.push(v);
      if (i >= 64 && i % 64 === 0) {
        const w = all.slice(-Math.min(i, 512)).sort((x, y) => x - y);
        const n = w.length;
        expect(p.delayFor()).toBe(w[Math.min(n - 1, Math.ceil(0.95 * n) - 1)]);
      }
    }
  });
});
