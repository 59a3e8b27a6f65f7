// The driver-independent heart of every face: the hosts, which one serves a request, health
// transitions, stats and lifecycle. Driver adapters own connections and call choose/begin/finish.

import { emptyHedgeStats, type HedgeStats } from './hedge.js';
import { DEFAULT_METRICS_OPTIONS } from './metrics.js';
import { NoHostAvailableError, NoPrimaryError, PoolEndedError } from './errors.js';
import { Host, type DriverCounts, type HostRole, type HostState, type HostStats } from './host.js';
import { createPicker, P2CPicker, sortedMedian, type Picker, type PickerName, type Random } from './picker.js';
import { DEFAULT_HEALTH_OPTIONS, transition, type HealthEvent, type HealthOptions } from './health.js';
import type { Outcome } from './metrics.js';
import type { RoleRequest, StatementKind } from './routing.js';

/** The event of every successful query (one object, not one per query). */
const SUCCESS: HealthEvent = Object.freeze({ type: 'success' });

/** Snapshot returned by `pool.stats()`. */
export interface PoolStats {
  readonly hosts: readonly HostStats[];
  /** Hedged reads (all 0 unless the `hedge` option is set). */
  readonly hedges: HedgeStats;
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
  /** See MetricsOptions.latencyStaleMillis. Default 2000. */
  readonly latencyStaleMillis?: number;
  /** libpq's target_session_attrs: 'read-only' and 'standby' never use the primary. Default 'any'. */
  readonly targetSessionAttrs?: string | undefined;
}

/**
 * A host whose report disagrees with its configuration: a configured replica that reports itself
 * primary or writable, or a configured primary that reports itself a replica.
 */
export interface RoleMismatch {
  readonly name: string;
  /** The role in the configuration (undefined in the `hosts` form). */
  readonly configured: HostRole | undefined;
  /** The role the host reports. */
  readonly reported: HostRole;
  /** True when the host accepts writes (MySQL/MariaDB `read_only=0`; a PostgreSQL primary). */
  readonly writable: boolean;
  /** The role the pool uses for it from now on. */
  readonly used: HostRole;
}

/** Called on every host state change, after it happened. */
export type StateListener<D> = (host: Host<D>, from: HostState, to: HostState) => void;

/** What a read needs from a replica besides being up. */
export interface ChooseOptions<D> {
  /** A host not to use (the one a retried read just failed on). */
  readonly exclude?: Host<D> | undefined;
  /** Only replicas where a statement starts without waiting for a connection (a hedge). */
  readonly idleOnly?: boolean | undefined;
}

/** The default fallback latency (ms) used while no host has a sample. */
const INITIAL_LATENCY_MS = 1;

/** Told of hosts that joined (`addHost`, discovery) or left (after draining) the cluster. */
export interface MembershipListener<D> {
  added?(host: Host<D>): void;
  removed?(host: Host<D>): void;
}

export class Cluster<D> {
  /** The current hosts; changed only by addHost/dropHost (membership can change at run time). */
  get hosts(): readonly Host<D>[] {
    return this.members;
  }
  private readonly members: Host<D>[];
  private readonly membership: MembershipListener<D>[] = [];
  readonly picker: Picker;
  /** The picker when it is P2C (the common case), for the callback-free path of pick(). */
  private readonly p2c: P2CPicker | undefined;
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
  /** Hedged reads, counted by the executor. */
  readonly hedges: HedgeStats = emptyHedgeStats();
  private readonly scratch: Host<D>[] = [];
  private version = 0;
  private cachedAt = -1;
  private cachedReplicas: Host<D>[] = [];
  private cachedPrimary: Host<D> | undefined;
  /** Once every cached candidate's estimate is settled it stays so until the next rebuild (only resetLatency unsettles one, and comes with one). */
  private allSettled = false;

  constructor(
    hosts: readonly Host<D>[],
    options: ClusterOptions,
    readonly now: Clock,
    private readonly counts: (driver: D) => DriverCounts,
    /**
     * Cumulative time (ms) this process's event loop has spent idle, to weigh latency samples
     * (see HostMetrics); undefined: every sample counts in full.
     */
    readonly loopIdle?: Clock,
  ) {
    this.members = [...hosts];
    this.reweigh();
    this.random = options.random;
    this.picker = createPicker(options.picker, options.random);
    this.p2c = this.picker instanceof P2CPicker ? this.picker : undefined;
    this.fallbackToPrimary = options.fallbackToPrimary;
    this.healthOptions = options.health ?? DEFAULT_HEALTH_OPTIONS;
    this.maxReplicationLagMillis = options.maxReplicationLagMillis;
    this.staleMillis = options.latencyStaleMillis ?? DEFAULT_METRICS_OPTIONS.latencyStaleMillis;
    this.lastPrimary = this.primary;
    const tsa = options.targetSessionAttrs;
    this.noPrimary = tsa === 'read-only' || tsa === 'standby' ? tsa : undefined;
  }

  /** Set when target_session_attrs forbids the primary: its value, for messages. */
  private readonly noPrimary: string | undefined;

  /** Where a routing client pins transactions and session state: the primary, or a replica when target_session_attrs forbids the primary. */
  get pinRole(): 'primary' | 'replica' {
    return this.noPrimary === undefined ? 'primary' : 'replica';
  }

  /** Every host's `maxWeight` is the largest weight in the cluster (weights are relative). */
  private reweigh(): void {
    let maxWeight = 0;
    for (const h of this.members) maxWeight = Math.max(maxWeight, h.weight);
    for (const h of this.members) h.maxWeight = maxWeight;
  }

  /** Registers a listener of hosts joining and leaving. */
  onMembership(listener: MembershipListener<D>): void {
    this.membership.push(listener);
  }

  /** The host named `name`, or undefined. */
  host(name: string): Host<D> | undefined {
    return this.members.find((h) => h.name === name);
  }

  /** Adds a host (its name must be new). It serves once a probe has verified it, as at start. */
  addHost(host: Host<D>): void {
    if (this.host(host.name) !== undefined) throw new Error(`host ${host.name} is already in the pool`);
    this.members.push(host);
    this.reweigh();
    this.invalidate();
    for (const l of this.membership) l.added?.(host);
  }

  /**
   * Stops sending new work to a host (removal): it leaves every choice at once; what runs on it
   * finishes. The caller ends its connections once it is idle, then calls dropHost.
   */
  drainHost(host: Host<D>): void {
    if (host.draining) return;
    host.draining = true;
    this.invalidate();
    this.rolesChanged();
  }

  /** Takes a drained host out of the cluster (closed). */
  dropHost(host: Host<D>): void {
    const i = this.members.indexOf(host);
    if (i < 0) return;
    this.members.splice(i, 1);
    this.apply(host, { type: 'close' });
    this.reweigh();
    this.invalidate();
    for (const l of this.membership) l.removed?.(host);
    this.rolesChanged();
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

  /** Registers a listener of disagreements between a host's configured and reported role. */
  onRoleMismatch(listener: (mismatch: RoleMismatch) => void): void {
    this.mismatchListeners.push(listener);
  }

  /** Called by health checks when what a host reports disagrees with its configuration. */
  reportMismatch(mismatch: RoleMismatch): void {
    for (const l of this.mismatchListeners) l(mismatch);
  }

  private readonly mismatchListeners: ((mismatch: RoleMismatch) => void)[] = [];

  /** Registers a listener called when a host fails but cannot be ejected, being the last that can serve. */
  onLastHostFailing(listener: (host: Host<D>) => void): void {
    this.lastHostListeners.push(listener);
  }

  private readonly lastHostListeners: ((host: Host<D>) => void)[] = [];

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
    const now = maxLag === undefined ? 0 : this.now();
    const replicas: Host<D>[] = [];
    let primary: Host<D> | undefined;
    let claims = 0;
    let until = Infinity;
    for (const h of this.members) {
      if (h.state !== 'up' || !h.verified || h.draining) continue;
      if (h.role === 'replica' && h.abandonedTimeline) continue;
      if (h.role === 'primary') {
        claims++;
        if (primary === undefined || h.timeline > primary.timeline) primary = h;
      } else if (maxLag === undefined) {
        replicas.push(h);
      } else {
        const lag = h.currentLag(now);
        if (lag === undefined || lag <= maxLag) {
          replicas.push(h);
          // A replica that does not receive grows staler by the clock: drop it when it passes the limit.
          if (h.notReceivingSince !== undefined) until = Math.min(until, h.notReceivingSince + maxLag);
        }
      }
    }
    // Two hosts claiming the primary role on the same timeline (MySQL reports none): serving writes
    // on either could split the data, so no write is served until one of them steps down.
    this.ambiguousPrimary = false;
    this.deposedPrimary = false;
    if (claims > 1 && primary !== undefined && this.members.some((h) => h !== primary && h.role === 'primary' && h.state === 'up' && h.verified && !h.draining && h.timeline === primary!.timeline)) {
      this.ambiguousPrimary = true;
      primary = undefined;
    }
    // A host on an older timeline than one already seen as primary was deposed by a promotion,
    // even while the newer primary is briefly out (ejected): it gets no writes, which would split
    // the data between the timelines.
    if (primary !== undefined && this.members.some((h) => h.role === 'primary' && h.state !== 'closed' && !h.draining && h.timeline > primary!.timeline)) {
      this.deposedPrimary = true;
      primary = undefined;
    }
    this.cachedReplicas = replicas;
    this.cachedPrimary = primary;
    this.cachedUntil = until;
    this.allSettled = false;
    this.cachedAt = this.version;
    this.exploreFrom = this.nextExploration();
  }

  /** True when several hosts claim the primary role and none can be told apart (no writes then). */
  ambiguousPrimary = false;
  /** True when the only primary available is on an older timeline than one seen (no writes then). */
  deposedPrimary = false;
  private cachedUntil = Infinity;

  /** The error for use after `end()`: the driver's own (see PoolEndedError). */
  endedError: () => Error = () => new PoolEndedError();

  /** Throws the ended error once `end()` has begun. */
  assertOpen(): void {
    if (this.ending) throw this.endedError();
  }

  /**
   * Chooses the host for a statement of `kind`, or for an explicit `role`. Writes and 'primary'
   * go to the primary; reads and 'replica' to an eligible replica picked by the picker, else to the
   * primary when `fallbackToPrimary` is on. New work is refused at the executor once `end()` was
   * called; work accepted before is still placed (it finishes, as in pg-pool).
   */
  choose(kind: StatementKind, role?: RoleRequest, options?: ChooseOptions<D>): Host<D> {
    // The hot path, a plain read with replicas up, stays small enough for V8 to inline the pick.
    if (kind === 'read' && role === undefined && options === undefined) {
      const candidates = this.readCandidates();
      if (candidates.length > 0) return this.pick(candidates);
    }
    return this.chooseAny(kind, role, options);
  }

  private chooseAny(kind: StatementKind, role?: RoleRequest, options?: ChooseOptions<D>): Host<D> {
    const wantsPrimary = role === 'primary' || (role === undefined && kind === 'write');
    if (wantsPrimary && this.noPrimary !== undefined) {
      throw new NoPrimaryError(`No primary host may be used: target_session_attrs=${this.noPrimary} allows replicas only (a write or a primary connection was asked for)`);
    }
    if (!wantsPrimary) {
      let candidates = this.readCandidates(options?.exclude);
      if (options?.idleOnly) {
        candidates = candidates.filter((h) => this.canStartAtOnce(h));
        if (candidates.length === 0) throw new NoHostAvailableError('reads', this.snapshot(), undefined);
      }
      if (candidates.length > 0) return this.pick(candidates);
      if (!this.fallbackToPrimary || this.noPrimary !== undefined) throw new NoHostAvailableError('reads', this.snapshot(), this.latestFailure());
    }
    const primary = this.primary;
    if (primary === undefined || primary === options?.exclude) {
      if (wantsPrimary) {
        const why = this.ambiguousPrimary ? 'several hosts claim the primary role'
          : this.deposedPrimary ? 'the primary on the newest timeline is not available, and an older one was deposed' : 'none is up';
        throw new NoPrimaryError(`No primary host is available for writes: ${why} (${this.describeStates()})`, this.latestFailure());
      }
      throw new NoHostAvailableError('reads', this.snapshot(), this.latestFailure());
    }
    return primary;
  }

  /** The driver pool of the current primary, else of the first host; undefined while there is none (pool-level fields of the faces). */
  primaryDriver(): D | undefined {
    return (this.primary ?? this.members[0])?.driver;
  }

  /** The most recent failure of a host that is not up: why nothing can serve (a `cause`). */
  private latestFailure(): unknown {
    let latest: Host<D> | undefined;
    for (const h of this.hosts) {
      if (h.state === 'up' || h.lastError === undefined) continue;
      if (latest === undefined || h.lastError.at > latest.lastError!.at) latest = h;
    }
    return latest?.lastFailure;
  }

  /** Up replicas within the lag limit, minus `exclude`. Do not keep or change the array. */
  readCandidates(exclude?: Host<D>): readonly Host<D>[] {
    if (this.cachedUntil !== Infinity && this.now() >= this.cachedUntil) this.version++;
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
    const fallback = this.fallbackLatency(candidates, now);
    // Exploration only while other hosts are sampled: in a quiet app every host is "stale", and
    // costs must still compare. Before any host is due (the common case), one comparison.
    const explore = now >= this.exploreFrom && now - this.lastSampleAt < this.staleMillis;
    let chosen: Host<D>;
    const p2c = this.p2c;
    if (p2c !== undefined) {
      // The same steps as P2CPicker.pick, without a cost callback (the hot path of every read).
      p2c.draw(candidates.length);
      chosen = candidates[p2c.better(candidates[p2c.a]!.cost(now, fallback, explore), candidates[p2c.b]!.cost(now, fallback, explore))]!;
    } else {
      this.pickNow = now;
      this.pickFallback = fallback;
      this.pickCandidates = candidates;
      this.pickExplore = explore;
      chosen = candidates[this.picker.pick(candidates, this.costOf)]!;
    }
    if (explore) {
      // A host due for exploration costs 0 until this read, the one it gets per period, goes there.
      if (chosen.metrics.exploreDue(now)) chosen.metrics.explored(now);
      this.exploreFrom = this.nextExploration();
    }
    return chosen;
  }

  // The cost callback is allocated once; pick() sets what it reads (the hot path allocates nothing).
  private pickNow = 0;
  private pickFallback = INITIAL_LATENCY_MS;
  private pickCandidates: readonly Host<D>[] = [];
  private pickExplore = false;
  private readonly staleMillis: number;
  /** When the last latency sample of any host was recorded. */
  private lastSampleAt = -Infinity;
  /**
   * No read candidate is due an exploring read before this (clock ms): a lower bound of their
   * `metrics.exploreAt`, lowered as samples arrive, made exact again when the candidates change
   * and after each exploring pick.
   */
  private exploreFrom = Infinity;

  private nextExploration(): number {
    let at = Infinity;
    for (const h of this.cachedReplicas) if (h.metrics.exploreAt < at) at = h.metrics.exploreAt;
    return at;
  }
  private readonly costOf = (i: number): number => this.pickCandidates[i]!.cost(this.pickNow, this.pickFallback, this.pickExplore);

  /**
   * What a host with no (or few) latency samples is compared with: the median estimate of the
   * candidates whose estimates are settled, else of those sampled at all. Computed only while some
   * candidate is not settled (a new pool, a host just added or explored), without allocating.
   */
  private fallbackLatency(candidates: readonly Host<D>[], now: number): number {
    if (this.allSettled && candidates === this.cachedReplicas) return INITIAL_LATENCY_MS;
    let unsettled = false;
    for (const h of candidates) if (!h.metrics.settled) { unsettled = true; break; }
    if (!unsettled) {
      if (candidates === this.cachedReplicas) this.allSettled = true;
      return INITIAL_LATENCY_MS;
    }
    const values = this.latencies;
    values.length = 0;
    for (const h of candidates) if (h.metrics.settled) values.push(h.metrics.latencyOr(0));
    if (values.length === 0) for (const h of candidates) if (h.metrics.sampled) values.push(h.metrics.latencyMs(now)!);
    return sortedMedian(values) ?? INITIAL_LATENCY_MS;
  }

  private readonly latencies: number[] = [];

  /** Ends a unit of work begun with `host.begin()`: metrics, then health (`at`: the clock, when the caller just read it). */
  finish(host: Host<D>, outcome: Outcome, latencyMs?: number, isQuery = true, idleShare = 1, at?: number): void {
    const now = at ?? this.now();
    host.end(now, outcome, latencyMs, isQuery, idleShare);
    if (latencyMs !== undefined) {
      this.lastSampleAt = now;
      // Only read candidates are explored (a primary's samples never make a read pick explore).
      if (host.role === 'replica' && host.metrics.exploreAt < this.exploreFrom) this.exploreFrom = host.metrics.exploreAt;
    }
    if (outcome === 'client') return;
    if (outcome === 'host-error') {
      this.apply(host, { type: 'failure', errorRate: host.metrics.errorRate(), samples: host.metrics.errorSamples });
    } else {
      this.apply(host, SUCCESS);
    }
  }

  /** Every health change goes through here. */
  apply(host: Host<D>, event: HealthEvent): void {
    const before = host.health;
    // The common case, a success on a healthy host, changes nothing.
    if (event.type === 'success' && before.state === 'up' && before.consecutiveFailures === 0 && before.ejections === 0) return;
    // Only a failure can eject; the scan of the other hosts is skipped on the success path.
    const canEject = event.type === 'failure' || event.type === 'check-failed' ? this.canEject(host) : true;
    host.health = transition(before, event, this.now(), this.random, this.healthOptions, canEject);
    // The last host that can serve keeps failing: hosts out of rotation may be back already (a
    // replica that restarted in a second is otherwise out for its whole ejection).
    if (!canEject) for (const l of this.lastHostListeners) l(host);
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
    if (!host.verified) return true;
    for (const h of this.members) {
      if (h === host || h.state !== 'up' || !h.verified || h.draining) continue;
      if (h.role === 'replica' || this.fallbackToPrimary) return true;
    }
    return false;
  }

  snapshot(): { name: string; role: string; state: string }[] {
    return this.hosts.map((h) => ({ name: h.name, role: h.role, state: h.state }));
  }

  private describeStates(): string {
    return this.hosts.map((h) => `${h.name}: ${h.role}/${h.verified ? h.state : 'unverified'}`).join(', ');
  }

  /** Marks every host closed. */
  close(): void {
    for (const h of this.hosts) this.apply(h, { type: 'close' });
  }

  /** One host's stats (also of a host that just left). */
  statsOf(host: Host<D>): HostStats {
    return host.stats(this.now(), this.counts(host.driver));
  }

  stats(): PoolStats {
    const now = this.now();
    return { hosts: this.hosts.map((h) => h.stats(now, this.counts(h.driver))), hedges: { ...this.hedges } };
  }

  /** True when a statement on `host` would not wait in its pool's queue: an idle connection, or room for a new one. */
  canStartAtOnce(host: Host<D>): boolean {
    const c = this.counts(host.driver);
    return c.idle > 0 || c.total < host.capacity;
  }

  /** The driver's connection counters of one host. */
  driverCounts(host: Host<D>): DriverCounts {
    return this.counts(host.driver);
  }

  /** Sums a driver counter over all hosts. */
  sum(counter: (driver: D) => number): number {
    let total = 0;
    for (const h of this.hosts) total += counter(h.driver);
    return total;
  }
}
