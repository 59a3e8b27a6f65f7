// Background health checks, half-open probes of ejected hosts, role verification and primary
// discovery. Driver-free: the adapter supplies `probe`; every timer here is unref'ed and cleared by stop().

import type { Cluster } from './pool.js';
import type { Host, HostRole } from './host.js';
import { probeDue } from './health.js';
import { performance } from 'node:perf_hooks';

/** What a probe learns about a host. */
export interface ProbeResult {
  /**
   * True on a replica: PostgreSQL pg_is_in_recovery(); MySQL/MariaDB a configured replication
   * channel or read_only. A writable server that replicates is still a replica.
   */
  readonly replica: boolean;
  /** True when the server accepts writes (a PostgreSQL primary; MySQL/MariaDB read_only=0). */
  readonly writable?: boolean | undefined;
  /** False when a replica is not receiving from its upstream (WAL receiver or IO thread down). */
  readonly receiving?: boolean | undefined;
  /** Replication lag in ms (replicas); when not receiving, the age of what it last applied. */
  readonly lagMillis?: number | undefined;
  /** Replayed (replica) or current (primary) log position, for read-your-writes. */
  readonly position?: string | undefined;
  /**
   * A primary's position that replicas can reach (WAL flushed; GTID), used to tell a replica that
   * stopped getting anything although its receiver looks alive. Defaults to `position`.
   */
  readonly shippedPosition?: string | undefined;
  /** Timeline or other generation number of a primary; the higher wins when two claim the role. */
  readonly timeline?: number | undefined;
  /** The timeline a replica follows, when it can tell; older than the primary's: it was abandoned. */
  readonly replicaTimeline?: number | undefined;
}

export type Probe<D> = (host: Host<D>) => Promise<ProbeResult>;

/** Measures the longest gap between ticks of a 20 ms timer: how long this process's event loop stalled. */
function stallMeter(): { longestGap(): number; stop(): void } {
  let last = performance.now();
  let longest = 0;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  };
  const timer = setInterval(tick, 20);
  timer.unref();
  return {
    longestGap: () => { tick(); return longest; },
    stop: () => clearInterval(timer),
  };
}

/** Primary positions kept to compare replicas with (one per check of the primary). */
const HISTORY = 64;

/** The role the pool uses for a host after a probe. */
export function decideRole(configured: HostRole | undefined, detectRoles: boolean, result: ProbeResult): HostRole {
  if (!detectRoles && configured !== undefined) return configured;
  return result.replica ? 'replica' : 'primary';
}

/** A description of a disagreement between configuration and report, or undefined when they agree. */
export function roleMismatch(configured: HostRole | undefined, result: ProbeResult): string | undefined {
  const reported: HostRole = result.replica ? 'replica' : 'primary';
  const writable = result.writable ?? !result.replica;
  if (reported === 'replica' && writable) return `${configured ?? 'discovered'} host reports a writable replica`;
  if (configured !== undefined && reported !== configured) return `configured ${configured}, reports ${reported}`;
  return undefined;
}

export class HealthMonitor<D> {
  private interval: NodeJS.Timeout | undefined;
  private readonly probeTimers = new Map<Host<D>, NodeJS.Timeout>();
  private readonly inFlight = new Map<Host<D>, Promise<boolean>>();
  private discovery: Promise<void> | undefined;
  private lastDiscovery = -Infinity;
  private stopped = false;
  /** Told the primary's position after each successful check of it, with the time the check began. */
  onPrimaryPosition: ((position: string, checkStartedAt: number) => void) | undefined;
  /** Recent primary positions with the time each check began, oldest first (bounded). */
  private readonly primaryHistory: { readonly at: number; readonly position: string }[] = [];

  constructor(
    private readonly cluster: Cluster<D>,
    private readonly probe: Probe<D>,
    private readonly intervalMillis: number,
    /** False: probes check health and lag but never change a configured role. */
    private readonly detectRoles = true,
    /** Bound of one probe, whatever the driver does: no check can hang. */
    private readonly timeoutMillis = 2000,
    /** Compares positions (have reached need?); undefined when it cannot tell. */
    private readonly positionReached: (have: string, need: string) => boolean | undefined = () => undefined,
    /** Least time between two discoveries triggered by failures. */
    private readonly rediscoverMillis = 200,
  ) {
    // Positions of another primary are not comparable with the ones kept.
    cluster.onPrimaryChange(() => { this.primaryHistory.length = 0; });
    cluster.onStateChange((host, _from, to) => {
      if (to === 'ejected' || to === 'down') this.scheduleProbe(host);
      if (host.role === 'primary' && to !== 'up' && to !== 'closed') void this.requestDiscovery();
    });
    cluster.onLastHostFailing(() => this.probeOutEarly());
  }

  private lastEarlyProbe = -Infinity;

  /**
   * Probes every ejected or down host now, not at the end of its ejection (at most every
   * `rediscoverMillis`): while the last host that can serve keeps failing, and when discovery
   * lists a host that is out (an HA manager reports it running again).
   */
  probeOutEarly(): void {
    const now = this.cluster.now();
    if (this.stopped || now - this.lastEarlyProbe < this.rediscoverMillis) return;
    this.lastEarlyProbe = now;
    for (const h of this.cluster.hosts) {
      if ((h.state === 'ejected' || h.state === 'down') && !this.inFlight.has(h)) {
        const p = this.runCheck(h, true).then(() => h.state === 'up' && h.verified, () => false).finally(() => this.inFlight.delete(h));
        this.inFlight.set(h, p);
      }
    }
  }

  start(): void {
    if (this.intervalMillis > 0 && this.interval === undefined) {
      this.interval = setInterval(() => void this.checkAll(), this.intervalMillis);
      this.interval.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.interval) clearInterval(this.interval);
    this.interval = undefined;
    for (const t of this.probeTimers.values()) clearTimeout(t);
    this.probeTimers.clear();
  }

  /** Checks every host once: routine checks of up hosts, half-open probes of due ejected ones. */
  checkAll(): Promise<void> {
    return Promise.all(this.cluster.hosts.map((h) => this.check(h))).then(() => {});
  }

  /**
   * Asks the host itself whether it is healthy (after a client-side timeout on it); resolves true
   * when it is up after the check. A check already running began before the timeout and proves
   * nothing about it: the verdict comes from the next check, which concurrent callers share.
   */
  verify(host: Host<D>): Promise<boolean> {
    const running = this.inFlight.get(host);
    if (running === undefined) return this.check(host);
    return running.then(() => this.check(host));
  }

  /** Resolves when no check of the host runs (each is bounded by the check timeout). */
  settled(host: Host<D>): Promise<void> {
    const running = this.inFlight.get(host);
    return running === undefined ? Promise.resolve() : running.then(() => undefined);
  }

  /** Asks every host for its role soon (rate-limited); resolves when done. */
  requestDiscovery(): Promise<void> {
    if (this.discovery) return this.discovery;
    const wait = Math.max(0, this.lastDiscovery + this.rediscoverMillis - this.cluster.now());
    this.discovery = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, wait);
      t.unref();
    }).then(() => (this.stopped ? undefined : this.checkAll())).finally(() => {
      this.lastDiscovery = this.cluster.now();
      this.discovery = undefined;
    });
    return this.discovery;
  }

  private scheduleProbe(host: Host<D>): void {
    if (this.stopped) return;
    const old = this.probeTimers.get(host);
    if (old) clearTimeout(old);
    const t = setTimeout(() => {
      this.probeTimers.delete(host);
      void this.check(host);
    }, Math.max(0, host.health.retryAt - this.cluster.now()));
    t.unref();
    this.probeTimers.set(host, t);
  }

  /** One check of one host; at most one per host at a time. Resolves whether the host is up after it. */
  private check(host: Host<D>): Promise<boolean> {
    const running = this.inFlight.get(host);
    if (running) return running;
    const p = this.runCheck(host).then(() => host.state === 'up' && host.verified, () => false).finally(() => this.inFlight.delete(host));
    this.inFlight.set(host, p);
    return p;
  }

  /**
   * One probe within the check timeout. When this process's own event loop stalled during it (a
   * gap between ticks of a light sampler longer than half the timeout), a failure says nothing
   * about the host: the probe is run again, at most twice, on the unblocked loop.
   */
  private async bounded(host: Host<D>): Promise<ProbeResult> {
    for (let attempt = 0; ; attempt++) {
      const meter = stallMeter();
      try {
        return await this.probeOnce(host);
      } catch (err) {
        if (attempt >= 2 || this.stopped || meter.longestGap() < this.timeoutMillis / 2) throw err;
      } finally {
        meter.stop();
      }
    }
  }

  private probeOnce(host: Host<D>): Promise<ProbeResult> {
    return new Promise<ProbeResult>((resolve, reject) => {
      // A timer that fires late because this process's event loop was blocked must not fail a
      // host whose answer is already waiting in the socket: I/O callbacks run before the rejection.
      const timer = setTimeout(() => setImmediate(() => setImmediate(() => reject(new Error(`health check of ${host.name} timed out after ${this.timeoutMillis} ms`)))), this.timeoutMillis + 50);
      timer.unref();
      let probing: Promise<ProbeResult>;
      try {
        probing = this.probe(host);
      } catch (err) {
        probing = Promise.reject(err);
      }
      probing.then((r) => { clearTimeout(timer); resolve(r); }, (e: unknown) => { clearTimeout(timer); reject(e); });
    });
  }

  /**
   * Since when a replica's data is known to be stale, or undefined. Two signs, the older wins:
   * it does not receive (its data is as old as its reported lag, and ages with the clock), or it
   * has not reached a position the primary had at an earlier check (its receiver may look alive
   * while the stream is black-holed): its data is then older than that check.
   */
  private staleSince(host: Host<D>, result: ProbeResult, now: number): number | undefined {
    let since: number | undefined;
    if (result.receiving === false) since = host.notReceivingSince ?? now - (result.lagMillis ?? Infinity);
    if (result.position !== undefined) {
      for (const sample of this.primaryHistory) {
        if (this.positionReached(result.position, sample.position) === false) {
          since = Math.min(since ?? Infinity, sample.at);
          break;
        }
      }
    }
    return since;
  }

  private async runCheck(host: Host<D>, early = false): Promise<void> {
    if (this.stopped || host.state === 'closed' || host.state === 'probing') return;
    const halfOpen = host.state !== 'up';
    if (halfOpen && !early && !probeDue(host.health, this.cluster.now())) return;
    if (halfOpen) this.cluster.apply(host, { type: 'probe-start' });
    const startedAt = this.cluster.now();
    let result: ProbeResult;
    try {
      result = await this.bounded(host);
    } catch (err) {
      if (this.stopped) return;
      host.noteError(err);
      if (halfOpen) this.cluster.apply(host, { type: 'probe-failed' });
      else if (!host.verified) this.cluster.apply(host, { type: 'unverified' });
      else {
        host.metrics.checkFailed(this.cluster.now());
        this.cluster.apply(host, { type: 'check-failed', retryAfter: this.intervalMillis > 0 ? this.intervalMillis : 1000 });
      }
      return;
    }
    if (this.stopped) return;
    const now = this.cluster.now();
    const role = decideRole(host.configuredRole, this.detectRoles, result);
    const moved = role !== host.role || (this.detectRoles && result.timeline !== undefined && result.timeline !== host.timeline);
    host.role = role;
    host.lagMillis = role === 'replica' ? result.lagMillis : 0;
    // A replica still on a timeline older than the primary's follows a deposed primary: its WAL
    // positions are not comparable with the primary's, and it gets no reads.
    const primaryTimeline = this.cluster.primary?.timeline ?? 0;
    host.abandonedTimeline = role === 'replica' && result.replicaTimeline !== undefined && primaryTimeline > 0 && result.replicaTimeline < primaryTimeline;
    host.notReceivingSince = role === 'replica' ? this.staleSince(host, result, now) : undefined;
    host.position = result.position;
    if (this.detectRoles && result.timeline !== undefined) host.timeline = result.timeline;
    const mismatch = roleMismatch(host.configuredRole, result);
    if (mismatch !== host.mismatch) {
      host.mismatch = mismatch;
      if (mismatch !== undefined) {
        this.cluster.reportMismatch({ name: host.name, configured: host.configuredRole, reported: result.replica ? 'replica' : 'primary', writable: result.writable ?? !result.replica, used: role });
      }
    }
    host.verified = true;
    this.cluster.invalidate(); // role, lag or position may have changed eligibility
    this.cluster.apply(host, halfOpen ? { type: 'probe-ok' } : { type: 'success' });
    // Only the primary that serves writes: a deposed one (older timeline, still writable) must
    // neither mark replicas stale nor stand for the position of the last write.
    if (role === 'primary' && result.position !== undefined && this.cluster.primary === host) {
      this.onPrimaryPosition?.(result.position, startedAt);
      this.primaryHistory.push({ at: startedAt, position: result.shippedPosition ?? result.position });
      if (this.primaryHistory.length > HISTORY) this.primaryHistory.shift();
    }
    if (moved) this.cluster.rolesChanged();
  }
}
