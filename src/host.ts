// One database host: its driver connection set, its load metrics and its state.
// The driver part is opaque here; the core only reads counters through DriverCounts.

import { HostMetrics, type MetricsOptions, type Outcome } from './metrics.js';
import { hostCost } from './picker.js';
import { DEFAULT_HEALTH_OPTIONS, INITIAL_HEALTH, weightFactor, type Health, type HealthOptions } from './health.js';
import { redact } from './errors.js';

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
  /** Current latency estimate (ms, see HostMetrics); null before the first sample. */
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
  /** False until the host's role was confirmed by a probe. */
  readonly verified: boolean;
  /** The last failure blamed on this host (a query's or a health check's), or null: why it was ejected or is down. */
  readonly lastError: HostError | null;
  /** True while the host is being removed: it gets no new work and leaves once idle. */
  readonly draining: boolean;
}

/** A failure blamed on a host: the driver's message (no password) and code, and when (epoch ms). */
export interface HostError {
  readonly message: string;
  readonly code: string | undefined;
  readonly at: number;
}

export class Host<D> implements HostInfo {
  /** Health state machine value; change it only through Cluster.apply. */
  health: Health = INITIAL_HEALTH;
  readonly metrics: HostMetrics;
  /** Replication lag (ms) seen by the last health check; undefined when unknown. */
  lagMillis: number | undefined;
  /** The last failure blamed on this host, as seen in stats, and the error itself (a `cause`). */
  lastError: HostError | undefined;
  lastFailure: unknown;
  /** Applied (replica) or current (primary) log position last seen, opaque to the core. */
  position: string | undefined;
  /** Timeline of a primary, to choose between two hosts that both claim to be primary. */
  timeline = 0;
  /**
   * False until a probe has confirmed the host's role (multi-host form): an unverified host serves
   * nothing, so a writable replica is never mistaken for the primary before the first check.
   */
  verified = true;
  /** The role the configuration gave (primary/replicas form); undefined when discovered (`hosts`). */
  configuredRole: HostRole | undefined;
  /** Since when (clock ms) a replica has not been receiving from its upstream; its lag grows from there. */
  notReceivingSince: number | undefined;
  /** Last reported mismatch between configured and reported role, to emit each change once. */
  mismatch: string | undefined;
  /** True while a replica follows a timeline older than the primary's (a deposed primary's). */
  abandonedTimeline = false;
  /** True once the host is being removed: no new work goes there; it leaves when idle. */
  draining = false;

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
    this.maxWeight = weight;
  }

  get state(): HostState {
    return this.health.state;
  }

  set state(state: HostState) {
    this.health = { ...this.health, state };
  }

  /** `{ name, role }` as attached to events: one frozen object until the role changes (events fire per query). */
  get info(): HostInfo {
    let info = this.infoCache;
    if (info === undefined || info.role !== this.role) this.infoCache = info = Object.freeze({ name: this.name, role: this.role });
    return info;
  }

  private infoCache: HostInfo | undefined;

  /** Weight after slow start. */
  effectiveWeight(now: number): number {
    // A host that never came back from an ejection has no ramp (the common case, on every pick).
    if (this.health.upSince === -Infinity) return this.weight;
    return this.weight * weightFactor(this.health, now, this.healthOptions);
  }

  get inflight(): number {
    return this.metrics.inflight;
  }

  /** The heaviest weight among the cluster's hosts; the cost uses weights relative to it. */
  get maxWeight(): number {
    return this.heaviest;
  }

  set maxWeight(value: number) {
    this.heaviest = value;
    this.relativeWeight = this.weight / value;
    this.perConnection = this.relativeWeight > 0 ? 1 / (this.capacity * this.relativeWeight) : Infinity;
  }

  private heaviest = 1;
  /** weight / maxWeight, kept so that a pick does not divide. */
  private relativeWeight = 1;
  /** 1 / (capacity * relativeWeight): what each query in flight adds to the cost's load factor. */
  private perConnection = 1;

  /**
   * P2C cost at `now`; `fallbackLatencyMs` (what the other hosts show) stands in for a host with no
   * latency sample yet, and weighs in while its estimate rests on few (HostMetrics.estimateOr).
   * `explore`: the cluster is busy enough to notice a starved host, which then costs 0 until it got
   * its exploring read (see HostMetrics).
   */
  cost(now: number, fallbackLatencyMs: number, explore = false, errorPenalty?: number): number {
    const m = this.metrics;
    if (explore && m.exploreDue(now)) return 0;
    // The common case (settled, outside slow start, default penalty) from the parts kept as samples
    // and weights change: hostCost's formula, two multiplications and an addition. Kept this small
    // so that V8 inlines it into the pick.
    if (errorPenalty === undefined && m.settled && this.health.upSince === -Infinity) return m.costBase * (1 + (m.inflight + 1) * this.perConnection);
    return this.fullCost(now, fallbackLatencyMs, errorPenalty);
  }

  /** hostCost from the current figures (estimate not settled, slow start, or another error penalty). */
  private fullCost(now: number, fallbackLatencyMs: number, errorPenalty: number | undefined): number {
    const m = this.metrics;
    const weight = this.health.upSince === -Infinity ? this.relativeWeight : this.effectiveWeight(now) / this.heaviest;
    return hostCost(m.estimateOr(fallbackLatencyMs), m.inflight, this.capacity, m.errorRate(), weight, errorPenalty);
  }

  /** Starts a unit of work (a query or a connection lease); pair it with exactly one `end`. */
  begin(): void {
    this.metrics.begin();
  }

  /** Ends a unit of work started with `begin`. */
  end(now: number, outcome: Outcome, latencyMs?: number, isQuery = true, idleShare = 1): void {
    this.metrics.end(now, outcome, latencyMs, isQuery, idleShare);
  }

  /** Replication lag at `now`: the probe's figure, growing with time while the replica does not receive. */
  currentLag(now: number): number | undefined {
    if (this.notReceivingSince !== undefined) return Math.max(this.lagMillis ?? 0, now - this.notReceivingSince);
    return this.lagMillis;
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
      lagMillis: this.currentLag(now) ?? null,
      verified: this.verified,
      lastError: this.lastError ?? null,
      draining: this.draining,
    };
  }

  /** Remembers a failure blamed on this host, for stats and the host events. */
  noteError(err: unknown): void {
    const code = (err as { code?: unknown } | null | undefined)?.code;
    const message = err instanceof Error ? err.message : String(err);
    this.lastError = { message: redact(message), code: typeof code === 'string' ? code : undefined, at: Date.now() };
    this.lastFailure = err;
  }
}
