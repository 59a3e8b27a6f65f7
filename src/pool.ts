// The driver-independent heart of every face: the hosts, which one serves a request, stats, lifecycle.
// Driver adapters own connections and call `choose` + Host.begin/end around each unit of work.

import { NoHostAvailableError, NoPrimaryError, PoolEndedError } from './errors.js';
import { Host, type DriverCounts, type HostStats } from './host.js';
import { createPicker, median, type Picker } from './picker.js';
import type { ClusterSpec } from './config.js';
import type { RoleRequest, StatementKind } from './routing.js';

/** Snapshot returned by `pool.stats()`. */
export interface PoolStats {
  readonly hosts: readonly HostStats[];
}

/** Monotonic clock in ms. */
export type Clock = () => number;

/** The default fallback latency (ms) used while no host has a sample. */
const INITIAL_LATENCY_MS = 1;

export class Cluster<D> {
  readonly hosts: readonly Host<D>[];
  readonly picker: Picker;
  readonly fallbackToPrimary: boolean;
  ending = false;
  ended = false;
  private readonly replicas: readonly Host<D>[];
  private readonly scratch: Host<D>[] = [];

  constructor(
    hosts: readonly Host<D>[],
    options: Pick<ClusterSpec<object>, 'picker' | 'fallbackToPrimary' | 'random'>,
    readonly now: Clock,
    private readonly counts: (driver: D) => DriverCounts,
  ) {
    this.hosts = hosts;
    this.replicas = hosts.filter((h) => h.role === 'replica');
    this.picker = createPicker(options.picker, options.random);
    this.fallbackToPrimary = options.fallbackToPrimary;
  }

  /** The current primary, or undefined. */
  get primary(): Host<D> | undefined {
    return this.hosts.find((h) => h.role === 'primary' && h.state === 'up');
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
  choose(kind: StatementKind, role?: RoleRequest): Host<D> {
    this.assertOpen();
    const wantsPrimary = role === 'primary' || (role === undefined && kind === 'write');
    if (!wantsPrimary) {
      const candidates = this.eligibleReplicas();
      if (candidates.length > 0) return this.pick(candidates);
      if (!this.fallbackToPrimary) throw new NoHostAvailableError('reads', this.hosts.map((h) => ({ name: h.name, role: h.role, state: h.state })));
    }
    const primary = this.primary;
    if (primary === undefined) throw new NoPrimaryError();
    return primary;
  }

  private eligibleReplicas(): readonly Host<D>[] {
    const all = this.replicas;
    let allUp = true;
    for (const h of all) if (h.state !== 'up') { allUp = false; break; }
    if (allUp) return all;
    const out = this.scratch;
    out.length = 0;
    for (const h of all) if (h.state === 'up') out.push(h);
    return out;
  }

  /** Runs the picker over `candidates` (non-empty). */
  pick(candidates: readonly Host<D>[]): Host<D> {
    if (candidates.length === 1) return candidates[0]!;
    const now = this.now();
    const fallback = this.fallbackLatency(candidates, now);
    return candidates[this.picker.pick(candidates, (i) => candidates[i]!.cost(now, fallback))]!;
  }

  /** A host with no latency sample is costed at the median of the sampled ones. */
  private fallbackLatency(candidates: readonly Host<D>[], now: number): number {
    let unsampled = false;
    for (const h of candidates) if (!h.metrics.sampled) { unsampled = true; break; }
    if (!unsampled) return INITIAL_LATENCY_MS;
    const sampled: number[] = [];
    for (const h of candidates) {
      const l = h.metrics.latencyMs(now);
      if (l !== undefined) sampled.push(l);
    }
    return median(sampled) ?? INITIAL_LATENCY_MS;
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
