// One database host: its driver connection set, its load metrics and its state.
// The driver part is opaque here; the core only reads counters through DriverCounts.

import { HostMetrics, type MetricsOptions, type Outcome } from './metrics.js';
import { hostCost } from './picker.js';
import { DEFAULT_HEALTH_OPTIONS, INITIAL_HEALTH, weightFactor, type Health, type HealthOptions } from './health.js';

export type HostRole = 'primary' | 'replica';
/** Health states. Only 'up' hosts are eligible; 'closed' after end(). */
export type HostState = 'up' | 'ejected' | 'probing' | 'down' | 'closed';

/** Connection counters a driver's per-host pool exposes. */
export interface DriverCounts {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
}

/** Public description of a host, attached to forwarded events. */
export interface HostInfo {
  readonly name: string;
  readonly role: HostRole;
}

/** One host's line in `pool.stats()`. */
export interface HostStats {
  readonly name: string;
  readonly role: HostRole;
  readonly state: HostState;
  readonly inflight: number;
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
  /** Current latency estimate (peak EWMA, ms); null before the first sample. */
  readonly latencyMs: number | null;
  /** Error EWMA in [0, 1]. */
  readonly errorRate: number;
  readonly weight: number;
  /** Completed queries and leases. */
  readonly queries: number;
  /** Host-attributable failures. */
  readonly errors: number;
  /** Replication lag from the last health check (replicas), ms; null when unknown. */
  readonly lagMillis: number | null;
}

export class Host<D> implements HostInfo {
  /** Health state machine value; change it only through Cluster.apply. */
  health: Health = INITIAL_HEALTH;
  readonly metrics: HostMetrics;
  /** Replication lag (ms) seen by the last health check; undefined when unknown. */
  lagMillis: number | undefined;
  /** Applied (replica) or current (primary) log position last seen, opaque to the core. */
  position: string | undefined;
  /** Timeline of a primary, to choose between two hosts that both claim to be primary. */
  timeline = 0;

  constructor(
    readonly name: string,
    public role: HostRole,
    readonly weight: number,
    readonly capacity: number,
    readonly driver: D,
    metricsOptions?: MetricsOptions,
    readonly healthOptions: HealthOptions = DEFAULT_HEALTH_OPTIONS,
  ) {
    this.metrics = new HostMetrics(metricsOptions);
  }

  get state(): HostState {
    return this.health.state;
  }

  set state(state: HostState) {
    this.health = { ...this.health, state };
  }

  /** `{ name, role }` as attached to events. */
  get info(): HostInfo {
    return { name: this.name, role: this.role };
  }

  /** Weight after slow start. */
  effectiveWeight(now: number): number {
    // A host that never came back from an ejection has no ramp (the common case, on every pick).
    if (this.health.upSince === -Infinity) return this.weight;
    return this.weight * weightFactor(this.health, now, this.healthOptions);
  }

  get inflight(): number {
    return this.metrics.inflight;
  }

  /** P2C cost at `now`; `fallbackLatencyMs` stands in for a host with no latency sample yet. */
  cost(now: number, fallbackLatencyMs: number, errorPenalty?: number): number {
    const latency = this.metrics.latencyMs(now) ?? fallbackLatencyMs;
    return hostCost(latency, this.metrics.inflight, this.capacity, this.metrics.errorRate(), this.effectiveWeight(now), errorPenalty);
  }

  /** Starts a unit of work (a query or a connection lease); pair it with exactly one `end`. */
  begin(): void {
    this.metrics.begin();
  }

  /** Ends a unit of work started with `begin`. */
  end(now: number, outcome: Outcome, latencyMs?: number, isQuery = true): void {
    this.metrics.end(now, outcome, latencyMs, isQuery);
  }

  stats(now: number, counts: DriverCounts): HostStats {
    const m = this.metrics;
    return {
      name: this.name,
      role: this.role,
      state: this.state,
      inflight: m.inflight,
      total: counts.total,
      idle: counts.idle,
      waiting: counts.waiting,
      latencyMs: m.latencyMs(now) ?? null,
      errorRate: m.errorRate(),
      weight: this.weight,
      queries: m.queries,
      errors: m.errors,
      lagMillis: this.lagMillis ?? null,
    };
  }
}
