// The driver-independent heart of every face: the hosts, which one serves a request, health
// transitions, stats and lifecycle. Driver adapters own connections and call choose/begin/finish.

import { NoHostAvailableError, NoPrimaryError, PoolEndedError } from './errors.js';
import { Host, type DriverCounts, type HostState, type HostStats } from './host.js';
import { createPicker, median, type Picker, type PickerName, type Random } from './picker.js';
import { DEFAULT_HEALTH_OPTIONS, transition, type HealthEvent, type HealthOptions } from './health.js';
import type { Outcome } from './metrics.js';
import type { RoleRequest, StatementKind } from './routing.js';

/** Snapshot returned by `pool.stats()`. */
export interface PoolStats {
  readonly hosts: readonly HostStats[];
}

/** Monotonic clock in ms. */
export type Clock = () => number;

/** Options of the core cluster. */
export interface ClusterOptions {
  readonly picker: PickerName;
  readonly fallbackToPrimary: boolean;
  readonly random: Random;
  readonly health?: HealthOptions;
  /** Replicas lagging more than this (ms) get no reads; undefined = no limit. */
  readonly maxReplicationLagMillis?: number | undefined;
}

/** Called on every host state change, after it happened. */
export type StateListener<D> = (host: Host<D>, from: HostState, to: HostState) => void;

/** What a read needs from a replica besides being up. */
export interface ChooseOptions<D> {
  /** A host not to use (the one a retried read just failed on). */
  readonly exclude?: Host<D> | undefined;
}

/** The default fallback latency (ms) used while no host has a sample. */
const INITIAL_LATENCY_MS = 1;

export class Cluster<D> {
  readonly hosts: readonly Host<D>[];
  readonly picker: Picker;
  readonly fallbackToPrimary: boolean;
  readonly healthOptions: HealthOptions;
  readonly maxReplicationLagMillis: number | undefined;
  ending = false;
  ended = false;
  /** Read-your-writes: WAL/GTID position of the last write seen by this pool (scope 'pool'). */
  lastWritePosition: string | undefined;
  private readonly random: Random;
  private readonly listeners: StateListener<D>[] = [];
  private readonly primaryListeners: ((now: Host<D> | undefined, before: Host<D> | undefined) => void)[] = [];
  private lastPrimary: Host<D> | undefined;
  private readonly scratch: Host<D>[] = [];
  private version = 0;
  private cachedAt = -1;
  private cachedReplicas: Host<D>[] = [];
  private cachedPrimary: Host<D> | undefined;
  /** Once every cached candidate has a latency sample it stays so until the next rebuild. */
  private allSampled = false;

  constructor(
    hosts: readonly Host<D>[],
    options: ClusterOptions,
    readonly now: Clock,
    private readonly counts: (driver: D) => DriverCounts,
  ) {
    this.hosts = hosts;
    this.random = options.random;
    this.picker = createPicker(options.picker, options.random);
    this.fallbackToPrimary = options.fallbackToPrimary;
    this.healthOptions = options.health ?? DEFAULT_HEALTH_OPTIONS;
    this.maxReplicationLagMillis = options.maxReplicationLagMillis;
    this.lastPrimary = this.primary;
  }

  /** Registers a listener of changes of the host serving writes. */
  onPrimaryChange(listener: (now: Host<D> | undefined, before: Host<D> | undefined) => void): void {
    this.primaryListeners.push(listener);
  }

  /** Call after roles or timelines changed (health checks); reports a new primary. */
  rolesChanged(): void {
    const now = this.primary;
    if (now === this.lastPrimary) return;
    const before = this.lastPrimary;
    this.lastPrimary = now;
    for (const l of this.primaryListeners) l(now, before);
  }

  /** Registers a listener of host state changes. */
  onStateChange(listener: StateListener<D>): void {
    this.listeners.push(listener);
  }

  /** The current primary: an up host in the primary role; of two, the one on the newer timeline. */
  get primary(): Host<D> | undefined {
    if (this.version !== this.cachedAt) this.rebuild();
    return this.cachedPrimary;
  }

  /**
   * Eligible replicas and the primary are cached and rebuilt only after a state, role or lag
   * change (`invalidate`), so a pick costs two cost evaluations, not a scan of every host.
   */
  invalidate(): void {
    this.version++;
  }

  private rebuild(): void {
    const maxLag = this.maxReplicationLagMillis;
    const replicas: Host<D>[] = [];
    let primary: Host<D> | undefined;
    for (const h of this.hosts) {
      if (h.state !== 'up') continue;
      if (h.role === 'primary') {
        if (primary === undefined || h.timeline > primary.timeline) primary = h;
      } else if (maxLag === undefined || h.lagMillis === undefined || h.lagMillis <= maxLag) {
        replicas.push(h);
      }
    }
    this.cachedReplicas = replicas;
    this.cachedPrimary = primary;
    this.allSampled = false;
    this.cachedAt = this.version;
  }

  /** Throws PoolEndedError once `end()` has begun. */
  assertOpen(): void {
    if (this.ending) throw new PoolEndedError();
  }

  /**
   * Chooses the host for a statement of `kind`, or for an explicit `role`. Writes and 'primary'
   * go to the primary; reads and 'replica' to an eligible replica picked by the picker, else to the
   * primary when `fallbackToPrimary` is on.
   */
  choose(kind: StatementKind, role?: RoleRequest, options?: ChooseOptions<D>): Host<D> {
    this.assertOpen();
    const wantsPrimary = role === 'primary' || (role === undefined && kind === 'write');
    if (!wantsPrimary) {
      const candidates = this.readCandidates(options?.exclude);
      if (candidates.length > 0) return this.pick(candidates);
      if (!this.fallbackToPrimary) throw new NoHostAvailableError('reads', this.snapshot());
    }
    const primary = this.primary;
    if (primary === undefined || primary === options?.exclude) {
      if (wantsPrimary) throw new NoPrimaryError(`No primary host is available for writes (${this.describeStates()})`);
      throw new NoHostAvailableError('reads', this.snapshot());
    }
    return primary;
  }

  /** Up replicas within the lag limit, minus `exclude`. Do not keep or change the array. */
  readCandidates(exclude?: Host<D>): readonly Host<D>[] {
    if (this.version !== this.cachedAt) this.rebuild();
    if (exclude === undefined) return this.cachedReplicas;
    const out = this.scratch;
    out.length = 0;
    for (const h of this.cachedReplicas) if (h !== exclude) out.push(h);
    return out;
  }

  /** Runs the picker over `candidates` (non-empty). */
  pick(candidates: readonly Host<D>[]): Host<D> {
    if (candidates.length === 1) return candidates[0]!;
    const now = this.now();
    this.pickNow = now;
    this.pickFallback = this.fallbackLatency(candidates, now);
    this.pickCandidates = candidates;
    return candidates[this.picker.pick(candidates, this.costOf)]!;
  }

  // The cost callback is allocated once; pick() sets what it reads (the hot path allocates nothing).
  private pickNow = 0;
  private pickFallback = INITIAL_LATENCY_MS;
  private pickCandidates: readonly Host<D>[] = [];
  private readonly costOf = (i: number): number => this.pickCandidates[i]!.cost(this.pickNow, this.pickFallback);

  /** A host with no latency sample is costed at the median of the sampled ones. */
  private fallbackLatency(candidates: readonly Host<D>[], now: number): number {
    if (this.allSampled && candidates === this.cachedReplicas) return INITIAL_LATENCY_MS;
    let unsampled = false;
    for (const h of candidates) if (!h.metrics.sampled) { unsampled = true; break; }
    if (!unsampled) {
      if (candidates === this.cachedReplicas) this.allSampled = true;
      return INITIAL_LATENCY_MS;
    }
    const sampled: number[] = [];
    for (const h of candidates) {
      const l = h.metrics.latencyMs(now);
      if (l !== undefined) sampled.push(l);
    }
    return median(sampled) ?? INITIAL_LATENCY_MS;
  }

  /** Ends a unit of work begun with `host.begin()`: metrics, then health. */
  finish(host: Host<D>, outcome: Outcome, latencyMs?: number, isQuery = true): void {
    const now = this.now();
    host.end(now, outcome, latencyMs, isQuery);
    if (outcome === 'host-error') {
      this.apply(host, { type: 'failure', errorRate: host.metrics.errorRate(), samples: host.metrics.errorSamples });
    } else {
      this.apply(host, { type: 'success' });
    }
  }

  /** Every health change goes through here. */
  apply(host: Host<D>, event: HealthEvent): void {
    const before = host.health;
    // The common case, a success on a healthy host, changes nothing.
    if (event.type === 'success' && before.state === 'up' && before.consecutiveFailures === 0 && before.ejections === 0) return;
    // Only a failure can eject; the scan of the other hosts is skipped on the success path.
    const canEject = event.type === 'failure' ? this.canEject(host) : true;
    host.health = transition(before, event, this.now(), this.random, this.healthOptions, canEject);
    const from = before.state;
    const to = host.health.state;
    if (from === to) return;
    if (to === 'up' && from === 'probing') host.metrics.resetLatency();
    this.invalidate();
    for (const l of this.listeners) l(host, from, to);
    this.rolesChanged();
  }

  /** False when `host` is the last up host that can serve reads. */
  private canEject(host: Host<D>): boolean {
    for (const h of this.hosts) {
      if (h === host || h.state !== 'up') continue;
      if (h.role === 'replica' || this.fallbackToPrimary) return true;
    }
    return false;
  }

  snapshot(): { name: string; role: string; state: string }[] {
    return this.hosts.map((h) => ({ name: h.name, role: h.role, state: h.state }));
  }

  private describeStates(): string {
    return this.hosts.map((h) => `${h.name}: ${h.role}/${h.state}`).join(', ');
  }

  /** Marks every host closed. */
  close(): void {
    for (const h of this.hosts) this.apply(h, { type: 'close' });
  }

  stats(): PoolStats {
    const now = this.now();
    return { hosts: this.hosts.map((h) => h.stats(now, this.counts(h.driver))) };
  }

  /** Sums a driver counter over all hosts. */
  sum(counter: (driver: D) => number): number {
    let total = 0;
    for (const h of this.hosts) total += counter(h.driver);
    return total;
  }
}
