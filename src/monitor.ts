// Background health checks, half-open probes of ejected hosts and primary discovery. Driver-free:
// the adapter supplies `probe`; every timer here is unref'ed and cleared by stop().

import type { Cluster } from './pool.js';
import type { Host } from './host.js';
import { probeDue } from './health.js';

/** What a probe learns about a host. */
export interface ProbeResult {
  /** True on a replica (PostgreSQL: pg_is_in_recovery(); MySQL: read_only). */
  readonly replica: boolean;
  /** Replication lag in ms (replicas). */
  readonly lagMillis?: number | undefined;
  /** Replayed (replica) or current (primary) log position, for read-your-writes. */
  readonly position?: string | undefined;
  /** Timeline or other generation number of a primary; the higher wins when two claim the role. */
  readonly timeline?: number | undefined;
}

export type Probe<D> = (host: Host<D>) => Promise<ProbeResult>;

export class HealthMonitor<D> {
  private interval: NodeJS.Timeout | undefined;
  private readonly probeTimers = new Map<Host<D>, NodeJS.Timeout>();
  private readonly inFlight = new Map<Host<D>, Promise<void>>();
  private discovery: Promise<void> | undefined;
  private lastDiscovery = -Infinity;
  private stopped = false;

  constructor(
    private readonly cluster: Cluster<D>,
    private readonly probe: Probe<D>,
    private readonly intervalMillis: number,
    /** False: probes check health and lag but never change a configured role. */
    private readonly detectRoles = true,
    /** Least time between two discoveries triggered by failures. */
    private readonly rediscoverMillis = 200,
  ) {
    cluster.onStateChange((host, _from, to) => {
      if (to === 'ejected' || to === 'down') this.scheduleProbe(host);
      if (host.role === 'primary' && to !== 'up' && to !== 'closed') this.requestDiscovery();
    });
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

  /** One check of one host; at most one per host at a time. */
  private check(host: Host<D>): Promise<void> {
    const running = this.inFlight.get(host);
    if (running) return running;
    const p = this.runCheck(host).finally(() => this.inFlight.delete(host));
    this.inFlight.set(host, p);
    return p;
  }

  private async runCheck(host: Host<D>): Promise<void> {
    if (this.stopped || host.state === 'closed' || host.state === 'probing') return;
    const halfOpen = host.state !== 'up';
    if (halfOpen && !probeDue(host.health, this.cluster.now())) return;
    if (halfOpen) this.cluster.apply(host, { type: 'probe-start' });
    let result: ProbeResult;
    try {
      result = await this.probe(host);
    } catch {
      if (this.stopped) return;
      if (halfOpen) this.cluster.apply(host, { type: 'probe-failed' });
      else this.cluster.apply(host, { type: 'failure', errorRate: host.metrics.errorRate(), samples: host.metrics.errorSamples });
      return;
    }
    if (this.stopped) return;
    const role = this.detectRoles ? (result.replica ? 'replica' : 'primary') : host.role;
    const moved = role !== host.role || (this.detectRoles && result.timeline !== undefined && result.timeline !== host.timeline);
    host.role = role;
    host.lagMillis = result.replica ? result.lagMillis : 0;
    host.position = result.position;
    if (this.detectRoles && result.timeline !== undefined) host.timeline = result.timeline;
    this.cluster.invalidate(); // role, lag or position may have changed eligibility
    this.cluster.apply(host, halfOpen ? { type: 'probe-ok' } : { type: 'success' });
    if (moved) this.cluster.rolesChanged();
  }
}
