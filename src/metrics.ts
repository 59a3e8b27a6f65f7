// Per-host load metrics: in-flight count, peak-sensitive latency EWMA, error EWMA, counters.
// Pure: every method takes `now` (ms); nothing here reads a clock.

/** Tunables of the EWMAs. Defaults follow the design: latency decays over ~10 s, errors over ~30 s. */
export interface MetricsOptions {
  readonly latencyDecayMillis: number;
  readonly errorDecayMillis: number;
}

export const DEFAULT_METRICS_OPTIONS: MetricsOptions = { latencyDecayMillis: 10_000, errorDecayMillis: 30_000 };

/** What a query's completion tells about its host. */
export type Outcome = 'ok' | 'host-error' | 'sql-error';

/**
 * Peak EWMA of latency (as in Finagle and tower's PeakEwma): a sample above the estimate replaces it
 * at once, a lower one is blended in with weight 1 - exp(-elapsed / tau); between samples the
 * estimate decays toward 0 so a host that stopped getting traffic is tried again eventually.
 */
export class HostMetrics {
  inflight = 0;
  queries = 0;
  errors = 0;
  errorSamples = 0;
  private latency = 0;
  private latencyAt = 0;
  private hasLatency = false;
  // Bias-corrected error EWMA: sum and total weight both decay, value = sum / weight, so the first
  // samples give their plain mean instead of jumping to 0 or 1.
  private errorSum = 0;
  private errorWeight = 0;
  private errorAt = 0;

  constructor(private readonly options: MetricsOptions = DEFAULT_METRICS_OPTIONS) {}

  /** True once at least one latency sample was recorded. */
  get sampled(): boolean {
    return this.hasLatency;
  }

  /** Latency estimate in ms at time `now`, decayed since the last sample; undefined before any sample. */
  latencyMs(now: number): number | undefined {
    if (!this.hasLatency) return undefined;
    const elapsed = now - this.latencyAt;
    return elapsed <= 0 ? this.latency : this.latency * Math.exp(-elapsed / this.options.latencyDecayMillis);
  }

  /** Error EWMA in [0, 1]: the recent share of host-attributable failures. */
  errorRate(): number {
    return this.errorSum === 0 ? 0 : this.errorSum / this.errorWeight;
  }

  /** Forgets the latency estimate (a returning host is costed at the median of the others again). */
  resetLatency(): void {
    this.hasLatency = false;
    this.latency = 0;
  }

  /** A query or lease starts. */
  begin(): void {
    this.inflight++;
  }

  /**
   * A query (`isQuery`, counted in `queries`) or a connection lease ends; `latencyMs` is recorded
   * when given (undefined: nothing was measured).
   */
  end(now: number, outcome: Outcome, latencyMs?: number, isQuery = true): void {
    if (this.inflight > 0) this.inflight--;
    if (isQuery) this.queries++;
    this.record(now, outcome, latencyMs);
  }

  private record(now: number, outcome: Outcome, latencyMs?: number): void {
    if (outcome === 'host-error') this.errors++;
    if (latencyMs !== undefined && outcome !== 'host-error') this.observeLatency(now, latencyMs);
    // SQL errors say nothing about the host's health: they count as successes for the error EWMA.
    this.observeOutcome(now, outcome === 'host-error' ? 1 : 0);
  }

  observeLatency(now: number, sample: number): void {
    if (!this.hasLatency) {
      this.latency = sample;
      this.hasLatency = true;
    } else {
      const current = this.latencyMs(now) ?? 0;
      if (sample > current) {
        this.latency = sample;
      } else {
        const w = Math.exp(-Math.max(0, now - this.latencyAt) / this.options.latencyDecayMillis);
        this.latency = current * w + sample * (1 - w);
      }
    }
    this.latencyAt = now;
  }

  observeOutcome(now: number, failed: 0 | 1): void {
    // Samples closer than 1 ms count as 1 ms apart, so simultaneous outcomes each carry weight.
    const w = Math.exp(-Math.max(1, now - this.errorAt) / this.options.errorDecayMillis);
    this.errorSum = this.errorSum * w + failed * (1 - w);
    this.errorWeight = this.errorWeight * w + (1 - w);
    this.errorSamples++;
    this.errorAt = now;
  }
}
