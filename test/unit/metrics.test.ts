import { describe, expect, it } from 'vitest';
import { HostMetrics } from '../../src/metrics.js';

const opts = { latencyDecayMillis: 10_000, errorDecayMillis: 30_000 };

describe('HostMetrics latency (peak EWMA)', () => {
  it('has no estimate before the first sample, then takes the first sample as is', () => {
    const m = new HostMetrics(opts);
    expect(m.latencyMs(0)).toBeUndefined();
    m.observeLatency(1000, 5);
    expect(m.latencyMs(1000)).toBe(5);
  });

  it('jumps to a higher sample at once (peak sensitivity)', () => {
    const m = new HostMetrics(opts);
    m.observeLatency(0, 5);
    m.observeLatency(1, 50);
    expect(m.latencyMs(1)).toBe(50);
  });

  it('blends a lower sample with weight 1 - exp(-elapsed/tau)', () => {
    const m = new HostMetrics(opts);
    m.observeLatency(0, 10);
    m.observeLatency(10_000, 2);
    // At t=10 s the old estimate has decayed to 10/e; the blend weights it by e^-1 again.
    const decayed = 10 * Math.exp(-1);
    const expected = decayed * Math.exp(-1) + 2 * (1 - Math.exp(-1));
    expect(m.latencyMs(10_000)).toBeCloseTo(expected, 12);
  });

  it('decays toward zero between samples so an idle host is tried again', () => {
    const m = new HostMetrics(opts);
    m.observeLatency(0, 20);
    expect(m.latencyMs(10_000)).toBeCloseTo(20 / Math.E, 12);
    expect(m.latencyMs(30_000)).toBeCloseTo(20 * Math.exp(-3), 12);
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
