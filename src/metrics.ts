// Per-host load metrics: in-flight count, latency estimate, error EWMA, counters.
// Pure: every method takes `now` (ms); nothing here reads a clock.

import { DEFAULT_ERROR_PENALTY, LATENCY_FLOOR_MS } from './picker.js';

/** Tunables of the estimates. */
export interface MetricsOptions {
  /**
   * A host with no latency sample for this long gets one read to learn its latency again (at most
   * one per period); the estimate's memory is a quarter of it.
   */
  readonly latencyStaleMillis: number;
  readonly errorDecayMillis: number;
}

export const DEFAULT_METRICS_OPTIONS: MetricsOptions = { latencyStaleMillis: 2000, errorDecayMillis: 30_000 };

/** Below this many samples a host is explored 8 times as often. */
const FEW_SAMPLES = 16;

/**
 * What a query's completion tells about its host. 'client': nothing (the client's own queueing,
 * a timeout not yet confirmed by a probe, a recovery conflict): no latency, no error sample.
 */
export type Outcome = 'ok' | 'host-error' | 'sql-error' | 'client';

/**
 * The latency estimate is a time-weighted mean of response times: each sample enters with a weight,
 * and the weights of older samples fade with time constant `latencyStaleMillis / 4`. Fading lowers
 * only the estimate's confidence, never its value: between samples it stays where it is (no decay
 * toward 0: a host never looks fast merely because it got no traffic), and the first sample after a
 * quiet period weighs about as much as all the old ones.
 *
 * A sample's weight is the share of its wait that this process's event loop spent idle (at least
 * 1/20). A sample taken while the loop was busy (the callback waited for synchronous work, a GC
 * pause, a burst of other callbacks) measures the client more than the host: after a 30 ms stall,
 * the burst of delayed completions of a busy 1 ms host each weigh 1/20 of a clean sample, against
 * the hundreds of samples of the last half second, and barely move its estimate.
 *
 * A host that got no sample for `latencyStaleMillis` (because it looked slow) is due for
 * exploration: its cost drops to 0 until one read is sent to it, at most once per period, so a
 * slow host that recovered gets its share back, and one unlucky first sample cannot starve a host.
 */
export class HostMetrics {
  inflight = 0;
  queries = 0;
  errors = 0;
  errorSamples = 0;
  private latencySum = 0;
  private latencyWeight = 0;
  private latencyAt = -Infinity;
  private exploredAt = -Infinity;
  private hasLatency = false;
  private latencySamples = 0;
  // Bias-corrected error EWMA: sum and total weight both decay, value = sum / weight, so the first
  // samples give their plain mean instead of jumping to 0 or 1.
  private errorSum = 0;
  /** latencySum / latencyWeight and the error rate, kept as samples arrive: a pick reads them, never divides. */
  private latency = 0;
  private errorValue = 0;
  /**
   * (latency + LATENCY_FLOOR_MS) * (1 + DEFAULT_ERROR_PENALTY * errorRate): the part of a host's
   * cost that changes only with samples, kept so a pick multiplies instead of recomputing it.
   */
  costBase = 0;
  private errorWeight = 0;
  private errorAt = 0;

  constructor(private readonly options: MetricsOptions = DEFAULT_METRICS_OPTIONS) {}

  /** True once at least one latency sample was recorded. */
  get sampled(): boolean {
    return this.hasLatency;
  }

  /** Latency estimate in ms; undefined before any sample. `now` is unused: the estimate does not age. */
  latencyMs(_now?: number): number | undefined {
    return this.hasLatency ? this.latency : undefined;
  }

  /** The latency estimate in ms, or `fallback` before any sample (no undefined on the pick path). */
  latencyOr(fallback: number): number {
    return this.hasLatency ? this.latency : fallback;
  }

  /**
   * True when the host is due one exploring read (see the class). While its estimate rests on few
   * samples (a new pool's first, often slowed by connections being set up), 8 times as often.
   */
  exploreDue(now: number): boolean {
    const period = this.latencySamples < FEW_SAMPLES ? this.options.latencyStaleMillis / 8 : this.options.latencyStaleMillis;
    return this.hasLatency && now - this.latencyAt >= period && now - this.exploredAt >= period;
  }

  /** An exploring read was sent: the next one is due a period later at the earliest. */
  explored(now: number): void {
    this.exploredAt = now;
  }

  /** Error EWMA in [0, 1]: the recent share of host-attributable failures. */
  errorRate(): number {
    return this.errorValue;
  }

  /** Forgets the latency estimate (a returning host is costed at the median of the others again). */
  resetLatency(): void {
    this.hasLatency = false;
    this.latencySum = 0;
    this.latencyWeight = 0;
    this.latency = 0;
    this.latencyAt = -Infinity;
    this.latencySamples = 0;
  }

  /** A query or lease starts. */
  begin(): void {
    this.inflight++;
  }

  /**
   * A query (`isQuery`, counted in `queries`) or a connection lease ends; `latencyMs` is recorded
   * when given (undefined: nothing was measured), weighted by `idleShare` (see the class).
   */
  end(now: number, outcome: Outcome, latencyMs?: number, isQuery = true, idleShare = 1): void {
    if (this.inflight > 0) this.inflight--;
    if (isQuery) this.queries++;
    this.record(now, outcome, latencyMs, idleShare);
  }

  private record(now: number, outcome: Outcome, latencyMs: number | undefined, idleShare: number): void {
    if (outcome === 'client') return;
    if (outcome === 'host-error') this.errors++;
    if (latencyMs !== undefined && outcome !== 'host-error') this.observeLatency(now, latencyMs, idleShare);
    // SQL errors say nothing about the host's health: they count as successes for the error EWMA.
    this.observeOutcome(now, outcome === 'host-error' ? 1 : 0);
  }

  /** A failed health check of this host: an error, outside any query. */
  checkFailed(now: number): void {
    this.errors++;
    this.observeOutcome(now, 1);
  }

  /** One query's response time; `idleShare` in [0, 1] (see the class). */
  observeLatency(now: number, sample: number, idleShare = 1): void {
    // Linear, and never below 1/20: a steeper weight would let the few samples taken while the
    // loop happened to idle (often the slow ones: it idles while every answer is late) dominate.
    const weight = Math.min(1, Math.max(0.05, idleShare));
    // After a quiet period (an exploring read) the new sample replaces what is left of the old ones.
    const quiet = now - this.latencyAt;
    const stale = this.options.latencyStaleMillis;
    const fade = this.hasLatency && quiet < stale ? decay(Math.max(0, quiet) / (stale / 4)) : 0;
    this.latencySum = this.latencySum * fade + weight * sample;
    this.latencyWeight = this.latencyWeight * fade + weight;
    this.latency = this.latencySum / this.latencyWeight;
    this.costBase = (this.latency + LATENCY_FLOOR_MS) * (1 + DEFAULT_ERROR_PENALTY * this.errorValue);
    this.hasLatency = true;
    this.latencyAt = now;
    // An estimate restarted from one exploring read rests on few samples again: explored more often
    // until it has enough (a starved host's first read is often slow for being cold).
    this.latencySamples = fade === 0 ? 1 : this.latencySamples + 1;
  }

  observeOutcome(now: number, failed: 0 | 1): void {
    // Samples closer than 1 ms count as 1 ms apart, so simultaneous outcomes each carry weight.
    const w = decay(Math.max(1, now - this.errorAt) / this.options.errorDecayMillis);
    this.errorSum = this.errorSum * w + failed * (1 - w);
    this.errorWeight = this.errorWeight * w + (1 - w);
    this.errorValue = this.errorSum === 0 ? 0 : this.errorSum / this.errorWeight;
    this.costBase = (this.latency + LATENCY_FLOOR_MS) * (1 + DEFAULT_ERROR_PENALTY * this.errorValue);
    this.errorSamples++;
    this.errorAt = now;
  }
}

/**
 * exp(-x) for x >= 0. Samples come a few milliseconds apart or less under load, where x is tiny and
 * three terms of the series are exact to 2e-10 (cheaper than Math.exp, twice per query).
 */
export function decay(x: number): number {
  return x < 1e-3 ? 1 - x + (x * x) / 2 : Math.exp(-x);
}
