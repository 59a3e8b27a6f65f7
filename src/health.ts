// Host health as one state machine: up -> ejected -> probing -> up (slow start) | ejected again.
// Pure: every transition takes `now` and a random source; the caller owns timers and I/O.

import type { HostState } from './host.js';
import type { Random } from './picker.js';

/** Tunables; every duration is in ms. */
export interface HealthOptions {
  /** Consecutive host-attributable failures that eject a host. Default 5. */
  readonly ejectAfterFailures: number;
  /** Error EWMA above which a host is ejected... Default 0.5. */
  readonly ejectErrorRate: number;
  /** ...once it has at least this many samples. Default 20. */
  readonly ejectMinSamples: number;
  /** First ejection time; the n-th ejection in a row lasts n times this. Default 30000. */
  readonly ejectionMillis: number;
  /** Cap on one ejection. Default 300000. */
  readonly maxEjectionMillis: number;
  /** Relative jitter added to ejection times, in [0, 1). Default 0.1. */
  readonly ejectionJitter: number;
  /** After a successful probe the host's weight ramps from 10% to 100% over this time. Default 30000. */
  readonly slowStartMillis: number;
  /** Consecutive failed probes after which an ejected host is reported `down`. Default 3. */
  readonly downAfterProbes: number;
}

export const DEFAULT_HEALTH_OPTIONS: HealthOptions = {
  ejectAfterFailures: 5,
  ejectErrorRate: 0.5,
  ejectMinSamples: 20,
  ejectionMillis: 30_000,
  maxEjectionMillis: 300_000,
  ejectionJitter: 0.1,
  slowStartMillis: 30_000,
  downAfterProbes: 3,
};

/** A host's health, as a value. */
export interface Health {
  readonly state: HostState;
  readonly consecutiveFailures: number;
  /** Ejections since the host was last healthy; sets the back-off. */
  readonly ejections: number;
  /** Failed probes in a row. */
  readonly failedProbes: number;
  /** When an ejected/down host may be probed. */
  readonly retryAt: number;
  /** When the host last came back (start of its slow-start ramp); -Infinity if never ejected. */
  readonly upSince: number;
}

export const INITIAL_HEALTH: Health = { state: 'up', consecutiveFailures: 0, ejections: 0, failedProbes: 0, retryAt: 0, upSince: -Infinity };

/** What happened to a host. */
export type HealthEvent =
  | { readonly type: 'success' }
  | { readonly type: 'failure'; readonly errorRate: number; readonly samples: number }
  | { readonly type: 'probe-start' }
  | { readonly type: 'probe-ok' }
  | { readonly type: 'probe-failed' }
  /**
   * A routine check of an up host failed on a connection of its own: the host itself cannot serve.
   * It is checked again after `retryAfter` ms (the check cadence), not after a whole ejection time.
   */
  | { readonly type: 'check-failed'; readonly retryAfter: number }
  /** A host that never passed its first check: out of service until a probe succeeds. */
  | { readonly type: 'unverified' }
  | { readonly type: 'close' };

/**
 * The one transition function. `canEject` is false when ejecting this host would leave no host
 * able to serve reads; the host then stays up however it fails.
 */
export function transition(h: Health, event: HealthEvent, now: number, random: Random, options: HealthOptions, canEject: boolean): Health {
  if (h.state === 'closed') return h;
  switch (event.type) {
    case 'close':
      return { ...h, state: 'closed' };
    case 'success':
    {
      if (h.state !== 'up') return h; // late completions on an ejected host do not bring it back
      // The back-off is forgotten once the host has served through its whole slow-start ramp.
      const recovered = h.ejections > 0 && now - h.upSince >= options.slowStartMillis;
      if (h.consecutiveFailures === 0 && !recovered) return h;
      return { ...h, consecutiveFailures: 0, ejections: recovered ? 0 : h.ejections };
    }
    case 'failure': {
      if (h.state !== 'up') return h;
      const failures = h.consecutiveFailures + 1;
      const tooMany = failures >= options.ejectAfterFailures
        || (event.samples >= options.ejectMinSamples && event.errorRate > options.ejectErrorRate);
      if (tooMany && canEject) return eject({ ...h, consecutiveFailures: failures }, now, random, options);
      return { ...h, consecutiveFailures: failures };
    }
    case 'check-failed': {
      if (h.state !== 'up') return h;
      const failed = { ...h, consecutiveFailures: h.consecutiveFailures + 1 };
      if (!canEject) return failed;
      const ejected = eject(failed, now, random, options);
      return { ...ejected, retryAt: Math.min(ejected.retryAt, now + event.retryAfter) };
    }
    case 'unverified':
      // Not a return from an ejection: no back-off grows, and the first successful probe brings it up.
      if (h.state !== 'up') return h;
      return { ...h, state: 'ejected', retryAt: now };
    case 'probe-start':
      return h.state === 'ejected' || h.state === 'down' ? { ...h, state: 'probing' } : h;
    case 'probe-ok':
      if (h.state !== 'probing') return h;
      return { ...h, state: 'up', consecutiveFailures: 0, failedProbes: 0, upSince: now };
    case 'probe-failed': {
      if (h.state !== 'probing') return h;
      const failedProbes = h.failedProbes + 1;
      const next = eject({ ...h, failedProbes }, now, random, options);
      return failedProbes >= options.downAfterProbes ? { ...next, state: 'down' } : next;
    }
  }
}

function eject(h: Health, now: number, random: Random, options: HealthOptions): Health {
  const ejections = h.ejections + 1;
  const base = Math.min(options.ejectionMillis * ejections, options.maxEjectionMillis);
  const jitter = base * options.ejectionJitter * random();
  return { ...h, state: 'ejected', ejections, retryAt: now + base + jitter };
}

/** True when an ejected or down host is due for its half-open probe. */
export function probeDue(h: Health, now: number): boolean {
  return (h.state === 'ejected' || h.state === 'down') && now >= h.retryAt;
}

/** Slow start: the share of its weight a host gets, from 0.1 right after it returns to 1 after `slowStartMillis`. */
export function weightFactor(h: Health, now: number, options: HealthOptions): number {
  const since = now - h.upSince;
  if (!(since < options.slowStartMillis)) return 1;
  return 0.1 + 0.9 * Math.max(0, since) / options.slowStartMillis;
}
