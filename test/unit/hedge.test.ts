import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HedgePolicy, HedgeRace, select } from '../../src/hedge.js';

describe('HedgePolicy', () => {
  it('a fixed delay, and a budget of maxExtraLoad hedges per read (one token to start, bursts of at most 40)', () => {
    const p = new HedgePolicy({ afterMillis: 20, maxExtraLoad: 0.25 });
    expect(p.delayFor()).toBe(20); // tokens 1.25
    expect(p.take(true)).toBe(false); // a first try keeps the reserve
    expect(p.take()).toBe(true);
    expect(p.take()).toBe(false);
    for (let i = 0; i < 3; i++) p.delayFor(); // 0.25 + 0.75 = 1
    expect(p.take()).toBe(true);
    for (let i = 0; i < 1000; i++) p.delayFor();
    let first = 0;
    while (p.take(true)) first++;
    expect(first).toBe(2); // down to the reserve of 38
    let burst = 0;
    while (p.take()) burst++;
    expect(burst).toBe(38);
  });

  it("'p95': no delay until 64 samples, then the 95th percentile of the last 512", () => {
    const p = new HedgePolicy({ afterMillis: 'p95', maxExtraLoad: 0.05 });
    for (let i = 1; i <= 63; i++) p.observe(i);
    expect(p.delayFor()).toBeUndefined();
    p.observe(64);
    expect(p.delayFor()).toBe(61); // ceil(0.95 * 64) = 61st smallest of 1..64
    for (let i = 0; i < 512; i++) p.observe(1000 + (i % 100));
    expect(p.delayFor()).toBe(1094);
  });

  it('a fixed delay ignores samples', () => {
    const p = new HedgePolicy({ afterMillis: 7, maxExtraLoad: 0.05 });
    for (let i = 0; i < 200; i++) p.observe(100);
    expect(p.delayFor()).toBe(7);
    expect(Number.isNaN(p.percentile95)).toBe(true);
  });
});

describe('select', () => {
  it('returns the k-th smallest, as a sort would, with duplicates and any k', () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(fc.double({ min: 0, max: 100, noNaN: true }), fc.constantFrom(1, 2, 3)), { minLength: 1, maxLength: 600 }),
      fc.nat(),
      (list, kSeed) => {
        const k = kSeed % list.length;
        const sorted = Float64Array.from(list).sort();
        expect(select(Float64Array.from(list), list.length, k)).toBe(sorted[k]);
      },
    ));
  });
});

describe('HedgeRace', () => {
  const race = () => new HedgeRace<string, string>(() => {});
  it('the first success settles it; later answers are dropped', () => {
    const r = race();
    r.launched = true;
    expect(r.finish(1, undefined)).toEqual({ deliver: true, err: undefined });
    expect(r.finish(0, undefined)).toBeUndefined();
  });

  it('an error waits for the other attempt while it runs; both failing gives the first error', () => {
    const r = race();
    r.launched = true;
    const first = new Error('first');
    expect(r.finish(0, first)).toBeUndefined();
    expect(r.finish(1, new Error('second'))).toEqual({ deliver: true, err: first });
  });

  it('an error then a success delivers the success', () => {
    const r = race();
    r.launched = true;
    expect(r.finish(1, new Error('x'))).toBeUndefined();
    expect(r.finish(0, undefined)).toEqual({ deliver: true, err: undefined });
  });

  it('without a hedge launched, an error settles at once', () => {
    const r = race();
    const e = new Error('only');
    expect(r.finish(0, e)).toEqual({ deliver: true, err: e });
  });

  it('a final error (an SQL error, or the wait ran out) settles at once; the other attempt is dropped', () => {
    const r = race();
    r.launched = true;
    const sql = new Error('division by zero');
    expect(r.finish(0, sql, true)).toEqual({ deliver: true, err: sql });
    expect(r.finish(1, undefined)).toBeUndefined();
  });
});
