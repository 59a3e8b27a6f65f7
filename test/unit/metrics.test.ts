import { describe, expect, it } from 'vitest';
import { HostMetrics } from '../../src/metrics.js';

const opts = { latencyStaleMillis: 2000, errorDecayMillis: 30_000 };

describe('HostMetrics latency (time-weighted mean, samples weighed by the idle share of the event loop)', () => {
  it('has no estimate before the first sample, then takes the first sample as is', () => {
    const m = new HostMetrics(opts);
    expect(m.latencyMs(0)).toBeUndefined();
    m.observeLatency(1000, 5);
    expect(m.latencyMs(1000)).toBe(5);
  });

  it('averages samples, older ones fading with time constant latencyStaleMillis / 4', () => {
    const m = new HostMetrics(opts);
    for (let i = 0; i < 50; i++) {
      m.observeLatency(0, 2);
      m.observeLatency(0, 4);
    }
    expect(m.latencyMs(0)).toBeCloseTo(3, 12);
    // 500 ms later the 100 old samples weigh 100/e together.
    m.observeLatency(500, 10);
    const w = 100 * Math.exp(-1);
    expect(m.latencyMs(500)).toBeCloseTo((3 * w + 10) / (w + 1), 12);
  });

  it('a burst of samples delayed by a stall of this process barely moves the estimate of a busy host', () => {
    // A host answering in 1 ms to 16 readers: 160 samples in the last 10 ms, the loop half idle.
    const busy = () => {
      const m = new HostMetrics(opts);
      for (let t = 0; t < 10; t++) for (let i = 0; i < 16; i++) m.observeLatency(t, 1, 0.5);
      return m;
    };
    const m = busy();
    // 16 completions delayed by a 30 ms stall: the loop was idle for ~1 ms of each 31 ms wait.
    for (let i = 0; i < 16; i++) m.observeLatency(40, 31, 1 / 31);
    expect(m.latencyMs(40)).toBeLessThan(2);
    // The same samples on an idle loop are the host's: the estimate moves much further.
    const n = busy();
    for (let i = 0; i < 16; i++) n.observeLatency(40, 31, 1);
    expect(n.latencyMs(40)).toBeGreaterThan(m.latencyMs(40)! + 3);
  });

  it('never decays toward 0 without traffic; the first sample after a quiet period weighs most', () => {
    const m = new HostMetrics(opts);
    for (let i = 0; i < 100; i++) m.observeLatency(i, 21);
    expect(m.latencyMs(60_000)).toBeCloseTo(21, 9);
    m.observeLatency(60_000, 1); // the host recovered
    expect(m.latencyMs(60_000)).toBeLessThan(1.01);
  });

  it('is due one exploring read per latencyStaleMillis / 8 while it has fewer than 16 recent samples', () => {
    const m = new HostMetrics(opts);
    m.observeLatency(0, 21);
    expect(m.exploreDue(249)).toBe(false);
    expect(m.exploreDue(250)).toBe(true);
  });

  it('a busy host is due after latencyStaleMillis without samples, one with fewer when their count has faded under 16', () => {
    const m = new HostMetrics(opts);
    expect(m.exploreDue(10_000)).toBe(false); // never sampled: costed at the others' median instead
    for (let i = 0; i < 1000; i++) m.observeLatency(0, 21);
    expect(m.exploreDue(1999)).toBe(false);
    expect(m.exploreDue(2000)).toBe(true);
    m.explored(2000);
    expect(m.exploreDue(2249)).toBe(false); // one exploring read per eighth of a period at most
    expect(m.exploreDue(2250)).toBe(true);
    // 100 recent samples fade under 16 after 500 ms * ln(100 / 16) = 916 ms.
    const hundred = new HostMetrics(opts);
    for (let i = 0; i < 100; i++) hundred.observeLatency(0, 1);
    expect(hundred.exploreDue(916)).toBe(false);
    expect(hundred.exploreDue(917)).toBe(true);
  });

  it('the sample of an exploring read restarts the estimate: a host starved by slow first samples is back in an eighth of a period', () => {
    // As seen in CI: a new pool's first samples of one replica took 45 ms (cold, loaded machine),
    // the other replica's 6 ms; that replica then took every read for 3 s.
    const m = new HostMetrics(opts);
    for (let i = 0; i < 18; i++) m.observeLatency(i, 45);
    expect(m.exploreDue(17 + 249)).toBe(false);
    expect(m.exploreDue(17 + 250)).toBe(true);
    m.explored(270);
    m.observeLatency(272, 1.8);
    expect(m.latencyMs()).toBe(1.8);
    // A slow host stays slow: each exploring read (one per 250 ms) restarts it at its own latency.
    m.observeLatency(273, 21);
    expect(m.exploreDue(272 + 249)).toBe(false);
    m.observeLatency(600, 21);
    expect(m.latencyMs()).toBe(21);
    expect(m.exploreDue(849)).toBe(false);
    expect(m.exploreDue(850)).toBe(true);
  });

  it('resetLatency forgets the estimate', () => {
    const m = new HostMetrics(opts);
    m.observeLatency(0, 21);
    m.resetLatency();
    expect(m.latencyMs(5000)).toBeUndefined();
    expect(m.sampled).toBe(false);
  });
});

describe('HostMetrics errors and in-flight', () => {
  it('error EWMA is the mean of the first samples, then weighs them by time (tau = 30 s)', () => {
    const m = new HostMetrics(opts);
    m.begin();
    m.end(0, 'host-error');
    expect(m.errorRate()).toBe(1);
    m.begin();
    m.end(0, 'ok', 1); // same instant: counted 1 ms apart, so about the mean of the two
    expect(m.errorRate()).toBeCloseTo(0.5, 4);
    m.begin();
    m.end(30_000, 'ok', 1); // 30 s later the old samples weigh e^-1 of their old weight
    const w = Math.exp(-1);
    const a = 1 - Math.exp(-1 / 30_000);
    const sum = (a * Math.exp(-1 / 30_000)) * w; // first failure, decayed twice
    const weight = (a * Math.exp(-1 / 30_000) + a) * w + (1 - w);
    expect(m.errorRate()).toBeCloseTo(sum / weight, 12);
    expect(m.errors).toBe(1);
    expect(m.queries).toBe(3);
  });

  it('SQL errors are not host errors: they record latency and count as healthy', () => {
    const m = new HostMetrics(opts);
    m.begin();
    m.end(0, 'sql-error', 3);
    expect(m.errorRate()).toBe(0);
    expect(m.errors).toBe(0);
    expect(m.latencyMs(0)).toBe(3);
  });

  it('host errors record no latency sample', () => {
    const m = new HostMetrics(opts);
    m.begin();
    m.end(0, 'host-error', 3000);
    expect(m.latencyMs(0)).toBeUndefined();
  });

  it('leases count in in-flight but not in queries', () => {
    const m = new HostMetrics(opts);
    m.begin();
    expect(m.inflight).toBe(1);
    m.end(0, 'ok', undefined, false);
    expect(m.inflight).toBe(0);
    expect(m.queries).toBe(0);
  });
});
