import { describe, expect, it } from 'vitest';
import { DEFAULT_HEALTH_OPTIONS, INITIAL_HEALTH, probeDue, transition, weightFactor, type Health, type HealthEvent } from '../../src/health.js';

const opts = { ...DEFAULT_HEALTH_OPTIONS, ejectionJitter: 0 };
const fail = (errorRate = 0, samples = 0): HealthEvent => ({ type: 'failure', errorRate, samples });
const run = (h: Health, events: HealthEvent[], now = 0, canEject = true) => events.reduce((acc, e) => transition(acc, e, now, () => 0.5, opts, canEject), h);

describe('health state machine', () => {
  it('ejects after 5 consecutive failures for 30 s', () => {
    const h4 = run(INITIAL_HEALTH, [fail(), fail(), fail(), fail()], 1000);
    expect(h4.state).toBe('up');
    const h5 = run(h4, [fail()], 1000);
    expect(h5).toMatchObject({ state: 'ejected', ejections: 1, retryAt: 31_000 });
  });

  it('a success resets the consecutive count', () => {
    const h = run(INITIAL_HEALTH, [fail(), fail(), fail(), fail(), { type: 'success' }, fail()]);
    expect(h).toMatchObject({ state: 'up', consecutiveFailures: 1 });
  });

  it('ejects on an error EWMA above 0.5 once it has 20 samples', () => {
    expect(run(INITIAL_HEALTH, [fail(0.9, 19)]).state).toBe('up');
    expect(run(INITIAL_HEALTH, [fail(0.5, 20)]).state).toBe('up');
    expect(run(INITIAL_HEALTH, [fail(0.51, 20)]).state).toBe('ejected');
  });

  it('never ejects the last host that can serve reads', () => {
    const h = run(INITIAL_HEALTH, Array.from({ length: 10 }, () => fail(1, 100)), 0, false);
    expect(h).toMatchObject({ state: 'up', consecutiveFailures: 10 });
  });

  it('probes once after the ejection time; success returns it with a slow start', () => {
    const ejected = run(INITIAL_HEALTH, Array.from({ length: 5 }, () => fail()), 0);
    expect(probeDue(ejected, 29_999)).toBe(false);
    expect(probeDue(ejected, 30_000)).toBe(true);
    const probing = transition(ejected, { type: 'probe-start' }, 30_000, () => 0, opts, true);
    expect(probing.state).toBe('probing');
    expect(transition(probing, { type: 'probe-start' }, 30_000, () => 0, opts, true)).toBe(probing);
    const back = transition(probing, { type: 'probe-ok' }, 30_000, () => 0, opts, true);
    expect(back).toMatchObject({ state: 'up', upSince: 30_000, consecutiveFailures: 0 });
    expect(weightFactor(back, 30_000, opts)).toBeCloseTo(0.1, 12);
    expect(weightFactor(back, 45_000, opts)).toBeCloseTo(0.55, 12);
    expect(weightFactor(back, 60_000, opts)).toBe(1);
    expect(weightFactor(INITIAL_HEALTH, 0, opts)).toBe(1);
  });

  it('a failed probe ejects again for n x 30 s, capped at 300 s, and reports down after 3 failed probes', () => {
    let h = run(INITIAL_HEALTH, Array.from({ length: 5 }, () => fail()), 0);
    const retryTimes: number[] = [];
    const states: string[] = [];
    for (let i = 0; i < 12; i++) {
      const now = h.retryAt;
      h = transition(transition(h, { type: 'probe-start' }, now, () => 0, opts, true), { type: 'probe-failed' }, now, () => 0, opts, true);
      retryTimes.push(h.retryAt - now);
      states.push(h.state);
    }
    expect(retryTimes.slice(0, 4)).toEqual([60_000, 90_000, 120_000, 150_000]);
    expect(retryTimes.at(-1)).toBe(300_000);
    expect(states.slice(0, 3)).toEqual(['ejected', 'ejected', 'down']);
  });

  it('adds jitter from the random source', () => {
    const h = transition({ ...INITIAL_HEALTH, consecutiveFailures: 4 }, fail(), 0, () => 0.5, { ...opts, ejectionJitter: 0.2 }, true);
    expect(h.retryAt).toBe(30_000 + 30_000 * 0.2 * 0.5);
  });

  it('forgets the back-off after a full slow-start ramp; closed is final', () => {
    const back: Health = { ...INITIAL_HEALTH, ejections: 3, upSince: 0 };
    expect(transition(back, { type: 'success' }, 10_000, () => 0, opts, true).ejections).toBe(3);
    expect(transition(back, { type: 'success' }, 30_000, () => 0, opts, true).ejections).toBe(0);
    const closed = transition(back, { type: 'close' }, 0, () => 0, opts, true);
    expect(run(closed, [{ type: 'success' }, fail(), { type: 'probe-ok' }]).state).toBe('closed');
  });
});
