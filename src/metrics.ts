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

/** Below this many recent samples a host is explored 8 times as often. */
const FEW_SAMPLES = 16;
/**
 * Below this many samples since the host joined (or returned), its estimate is shrunk toward the
 * other hosts' (see `estimateOr`), with the weight of PRIOR_SAMPLES samples.
 */
export const SETTLED_SAMPLES = 32;
const PRIOR_SAMPLES = 4;
const E4 = Math.exp(4);

/**
 * What a query's completion tells about its host. 'client': nothing (the client's own queueing,
 * a timeout not yet confirmed by a probe, a recovery conflict): no latency, no error sample.
 */
export type Outcome = 'ok' | 'host-error' | 'sql-error' | 'client';

/**
 * The latency estimate is a time-weighted mean of response times: each sample enters with a weight,
 * and the weights of older samples fade with time constant `latencyStaleMillis / 4`. Fading lowers
 * only the estimate's confidence, never its value: between samples it stays where it is (no decay
 * toward 0: a host never looks fast merely because it got no traffic).
 *
 * A sample's weight is the share of its wait that this process's event loop spent idle (at least
 * 1/20). A sample taken while the loop was busy (the callback waited for synchronous work, a GC
 * pause, a burst of other callbacks) measures the client more than the host: after a 30 ms stall,
 * the burst of delayed completions of a busy 1 ms host each weigh 1/20 of a clean sample, against
 * the hundreds of samples of the last half second, and barely move its estimate.
 *
 * A host that got no sample for `latencyStaleMillis` (because it looked slow), or for an eighth of
 * it once fewer than 16 recent samples remain (fading like the weights), is due for exploration:
 * its cost drops to 0 until one read is sent to it, so a slow host that recovered gets its share
 * back. The sample of that read restarts the estimate: a host starved since a few slow first
 * samples (connections and caches cold on a loaded machine: 45 ms against 1 ms in a CI run) is
 * back within an eighth of a period, not after several of them. A starved host so costs one read
 * every `latencyStaleMillis / 8` (250 ms by default), whatever its latency.
 */
export class HostMetrics {
  inflight = 0;
  queries = 0;
  errors = 0;
  errorSamples = 0;
  private latencySum = 0;
  private latencyWeight = 0;
  private latencyAt = -Infinity;
  private hasLatency = false;
  /** Samples since the host joined or returned (resetLatency). */
  private latencySamples = 0;
  /** The number of recent samples: each adds 1 and fades like the samples' weights. */
  private recentSamples = 0;
  /** When (clock ms) the host is due an exploring read, and not before when one was just sent. */
  private dueAt = Infinity;
  private exploreNotBefore = -Infinity;
  /** max(dueAt, exploreNotBefore): when the host is next due an exploring read (Infinity: never sampled). */
  exploreAt = Infinity;
  /**
   * True once SETTLED_SAMPLES samples were taken since the host joined or returned: from then on
   * the estimate is used as it is; before, it is shrunk toward the other hosts' (see `estimateOr`).
   */
  settled = false;
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
   * The latency the cost uses: `prior` (what the other hosts show) before any sample; the estimate
   * once settled; in between, the estimate shrunk toward `prior` as if the prior were PRIOR_SAMPLES
   * samples. A few samples of a host new to the pool (or back from an ejection) are often
   * slow for reasons that are not the host's: cold caches, connections just made, and on a loaded
   * machine the lone query of an idle host waits for its server process to be scheduled, which a
   * busy host's do not. Taken at face value they would keep the host out, and a host that gets no
   * reads never shows it is fast (a host added under load got 0.04% of reads for 700 ms in CI).
   * Shrunk, they get the host enough reads to measure it under load; a host slower by far still
   * loses after a few (a 21 ms sample against 2 ms hosts: 5.8 ms after one, 8.3 ms after two).
   */
  estimateOr(prior: number): number {
    if (!this.hasLatency) return prior;
    if (this.settled) return this.latency;
    const n = this.latencySamples;
    return (prior * PRIOR_SAMPLES + this.latency * n) / (PRIOR_SAMPLES + n);
  }

  /**
   * True when the host is due one exploring read (see the class): it got no sample for
   * `latencyStaleMillis`, or for an eighth of it once its estimate rests on fewer than 16 recent
   * samples (a host new to the pool, one starved since its first samples, one explored before).
   */
  exploreDue(now: number): boolean {
    return now >= this.exploreAt;
  }

  /** An exploring read was sent: the next one is due an eighth of a period later at the earliest. */
  explored(now: number): void {
    this.exploreNotBefore = now + this.options.latencyStaleMillis / 8;
    this.exploreAt = Math.max(this.dueAt, this.exploreNotBefore);
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
    this.recentSamples = 0;
    this.dueAt = Infinity;
    this.exploreNotBefore = -Infinity;
    this.exploreAt = Infinity;
    this.settled = false;
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
    // A sample that arrives when the host was due an exploring read (most often that read's) restarts
    // the estimate: what is left of the old samples is history the host may have left (a replica
    // that recovered, first samples slowed by a cold start), and the fresh one is the news.
    const stale = this.options.latencyStaleMillis;
    const tau = stale / 4;
    const fade = now >= this.dueAt ? 0 : decay(Math.max(0, now - this.latencyAt) / tau);
    this.latencySum = this.latencySum * fade + weight * sample;
    this.latencyWeight = this.latencyWeight * fade + weight;
    this.latency = this.latencySum / this.latencyWeight;
    this.costBase = (this.latency + LATENCY_FLOOR_MS) * (1 + DEFAULT_ERROR_PENALTY * this.errorValue);
    this.hasLatency = true;
    this.latencyAt = now;
    this.latencySamples++;
    this.settled = this.latencySamples >= SETTLED_SAMPLES;
    // Due again after a full period without samples, or an eighth of one once the recent samples,
    // fading, are fewer than FEW_SAMPLES (computed here so that a pick only compares).
    const recent = (this.recentSamples = this.recentSamples * fade + 1);
    if (recent >= FEW_SAMPLES * E4) this.dueAt = now + stale; // fewer than FEW_SAMPLES only after 4 tau = stale
    else this.dueAt = Math.max(recent > FEW_SAMPLES ? now + tau * Math.log(recent / FEW_SAMPLES) : now, now + stale / 8);
    this.exploreAt = Math.max(this.dueAt, this.exploreNotBefore);
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
