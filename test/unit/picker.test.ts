import { describe, expect, it } from 'vitest';
import { createPicker, hostCost, median, mulberry32, P2CPicker, PowerOfDPicker } from '../../src/picker.js';
import { Host } from '../../src/host.js';
import { Cluster } from '../../src/pool.js';
import { SETTLED_SAMPLES } from '../../src/metrics.js';

/** A random source that replays the given numbers. */
function scripted(...values: number[]): () => number {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error('scripted random ran out');
    return values[i++]!;
  };
}

const cands = (...inflight: number[]) => inflight.map((n) => ({ inflight: n }));

describe('hostCost', () => {
  it('is (latency + 1 ms) * (1 + (inflight + 1) / (capacity * weight)) * (1 + 10 * errors)', () => {
    expect(hostCost(4, 0, 10, 0, 1)).toBeCloseTo(5.5, 12);
    expect(hostCost(4, 9, 10, 0, 1)).toBe(10);
    expect(hostCost(4, 4, 10, 0.5, 1)).toBeCloseTo(5 * 1.5 * 6, 12);
    expect(hostCost(4, 9, 10, 0, 0.25)).toBe(25);
    expect(hostCost(4, 0, 10, 0, 0)).toBe(Infinity);
  });

  it('estimates response time: an idle 21 ms host costs more than a 1 ms host with 20 queries on 10 connections', () => {
    expect(hostCost(21, 0, 10, 0, 1)).toBeGreaterThan(hostCost(1, 20, 10, 0, 1) * 3);
  });

  it('between sub-millisecond hosts load decides: 0.2 ms with 16 in flight costs more than an idle 0.6 ms', () => {
    expect(hostCost(0.2, 16, 10, 0, 1)).toBeGreaterThan(hostCost(0.6, 0, 10, 0, 1));
  });
});

describe('P2CPicker', () => {
  it('samples two distinct indices and takes the cheaper', () => {
    // a = floor(0.1 * 4) = 0; b = floor(0.5 * 3) = 1 -> 1 (< a? no, >= a so +1) = 2
    const p = new P2CPicker(scripted(0.1, 0.5));
    const costs = [5, 1, 3, 9];
    expect(p.pick(cands(0, 0, 0, 0), (i) => costs[i]!)).toBe(2);
  });

  it('skips over the first index when drawing the second', () => {
    // a = floor(0.9 * 3) = 2; b = floor(0.99 * 2) = 1 (< a, kept) -> compare 2 and 1
    const p = new P2CPicker(scripted(0.9, 0.99));
    const costs = [0, 7, 3];
    expect(p.pick(cands(0, 0, 0), (i) => costs[i]!)).toBe(2);
  });

  it('breaks ties at random: the first of the drawn pair, itself either with probability 1/2', () => {
    const costs = [1, 1, 1];
    expect(new P2CPicker(scripted(0.2)).pick(cands(0, 0), (i) => costs[i]!)).toBe(0);
    expect(new P2CPicker(scripted(0.7)).pick(cands(0, 0), (i) => costs[i]!)).toBe(1);
    // Over many ties among three equal hosts each wins a third.
    const wins = [0, 0, 0];
    const picker = new P2CPicker(mulberry32(7));
    for (let i = 0; i < 30_000; i++) wins[picker.pick(cands(0, 0, 0), (k) => costs[k]!)]!++;
    for (const w of wins) expect(Math.abs(w / 30_000 - 1 / 3)).toBeLessThan(0.01);
  });

  it('returns the only candidate without drawing', () => {
    expect(new P2CPicker(scripted()).pick(cands(3), () => 1)).toBe(0);
  });
});

describe('PowerOfDPicker', () => {
  it('with d = n it always finds the cheapest; it samples d distinct candidates', () => {
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const costs = [5, 3, 9, 1, 7];
    const p = new PowerOfDPicker(5, random);
    for (let i = 0; i < 20; i++) expect(p.pick(cands(0, 0, 0, 0, 0), (k) => costs[k]!)).toBe(3);
    const seen: number[] = [];
    new PowerOfDPicker(3, random).pick(cands(0, 0, 0, 0, 0), (k) => { seen.push(k); return costs[k]!; });
    expect(new Set(seen).size).toBe(3);
  });
});

describe('baselines', () => {
  it('round-robin cycles', () => {
    const p = createPicker('round-robin', scripted());
    expect([0, 1, 2, 3].map(() => p.pick(cands(0, 0, 0), () => 0))).toEqual([0, 1, 2, 0]);
  });
  it('least-connections takes the fewest in flight', () => {
    const p = createPicker('least-connections', () => 0.99);
    expect(p.pick(cands(3, 1, 2), () => 0)).toBe(1);
  });
  it('random uses the random source', () => {
    expect(createPicker('random', () => 0.5).pick(cands(0, 0, 0, 0), () => 0)).toBe(2);
  });
  it('median', () => {
    expect(median([])).toBeUndefined();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});

describe('Cluster.choose with a fake clock', () => {
  function cluster(random: () => number, time = { t: 0 }) {
    const hosts = [
      new Host('p', 'primary', 1, 10, null),
      new Host('r1', 'replica', 1, 10, null),
      new Host('r2', 'replica', 1, 10, null),
      new Host('r3', 'replica', 1, 10, null),
    ];
    const c = new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: true, random }, () => time.t, () => ({ total: 0, idle: 0, waiting: 0 }));
    return { c, hosts, time };
  }

  it('writes go to the primary, reads to a replica', () => {
    const { c } = cluster(() => 0);
    expect(c.choose('write').name).toBe('p');
    expect(c.choose('read').role).toBe('replica');
    expect(c.choose('read', 'primary').name).toBe('p');
    expect(c.choose('write', 'replica').role).toBe('replica');
  });

  const settle = (h: Host<null>, ms: number) => { for (let i = 0; i < SETTLED_SAMPLES; i++) h.metrics.observeLatency(0, ms); };

  it('a host with no sample is costed at the median of the settled ones', () => {
    const { c, hosts } = cluster(scripted(0.33, 0.4));
    settle(hosts[1]!, 2); // r1: 2 ms
    settle(hosts[2]!, 4); // r2: 4 ms, r3 unsampled -> median 3 ms
    // candidates [r1, r2, r3]: 0.33 * 3 = 0.99: a = 0 (r1, cost 3 * 1.1), b = floor(0.99 * 2) = 1 -> 2 (r3, cost 4 * 1.1)
    expect(c.choose('read').name).toBe('r1');
    hosts[1]!.metrics.inflight = 4; // r1 now 3 * (1 + 5/10) = 4.5 > r3 4.4
    const again = new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: true, random: scripted(0.33) }, () => 0, () => ({ total: 0, idle: 0, waiting: 0 }));
    expect(again.choose('read').name).toBe('r3');
  });

  it('a host with few samples is costed between its own and the settled hosts\' estimates, so slow first samples do not starve it', () => {
    // r1 settled at 2 ms and carrying 12 queries on 10 connections; r2 new, its first 4 samples slow
    // (10 ms: cold); r3 out. Taken as is, r2 would cost 11 * 1.1 = 12.1 against r1's 3 * 2.3 = 6.9.
    const { c, hosts } = cluster(scripted(0, 0.99));
    hosts[3]!.state = 'ejected';
    c.invalidate();
    settle(hosts[1]!, 2);
    hosts[1]!.metrics.inflight = 12;
    for (let i = 0; i < 4; i++) hosts[2]!.metrics.observeLatency(0, 10);
    // Shrunk with the weight of 4 samples of r1's 2 ms: 6 ms -> 7 * 1.1 = 7.7, still dearer; with 8
    // more samples of 3 ms (what it shows under load once warm) 4.5 -> 5.5 * 1.1 = 6.05: chosen (unshrunk, 5.33 would cost 6.97).
    expect(c.choose('read').name).toBe('r1');
    for (let i = 0; i < 8; i++) hosts[2]!.metrics.observeLatency(0, 3);
    expect(c.choose('read').name).toBe('r2');
    // A host slower by far still loses after a few samples.
    const slow = cluster(scripted(0, 0.99));
    slow.hosts[3]!.state = 'ejected';
    slow.c.invalidate();
    settle(slow.hosts[1]!, 2);
    slow.hosts[1]!.metrics.inflight = 12;
    for (let i = 0; i < 4; i++) slow.hosts[2]!.metrics.observeLatency(0, 21);
    expect(slow.c.choose('read').name).toBe('r1');
  });

  it('falls back to the primary when no replica is up, or fails without fallback', () => {
    const { c, hosts } = cluster(() => 0);
    for (const h of hosts.slice(1)) h.state = 'ejected';
    c.invalidate(); // states set directly, not through apply()
    expect(c.choose('read').name).toBe('p');
    const strict = new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: false, random: () => 0 }, () => 0, () => ({ total: 0, idle: 0, waiting: 0 }));
    expect(() => strict.choose('read')).toThrowError(expect.objectContaining({ code: 'P2C_NO_HOST_AVAILABLE' }));
    hosts[0]!.state = 'down';
    c.invalidate(); // hosts changed behind the cluster's back
    expect(() => c.choose('write')).toThrowError(expect.objectContaining({ code: 'P2C_NO_PRIMARY' }));
    // The driver's error that put the primary out is the `cause`.
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' });
    hosts[0]!.noteError(refused);
    expect(() => c.choose('write')).toThrowError(expect.objectContaining({ code: 'P2C_NO_PRIMARY', cause: refused }));
  });

  it('still places work accepted before end() (new work is refused by the executor, see assertOpen)', () => {
    const { c } = cluster(() => 0);
    c.ending = true;
    expect(c.choose('read').role).toBe('replica');
    expect(() => c.assertOpen()).toThrowError(expect.objectContaining({ code: 'P2C_POOL_ENDED' }));
  });
});
