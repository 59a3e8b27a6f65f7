// Builds the core for a driver face: hosts from normalised options, the cluster, health monitor
// and executor. Both faces (pg, mysql2) construct themselves through here.

import { Host } from './host.js';
import { Cluster } from './pool.js';
import { HealthMonitor } from './monitor.js';
import { Executor } from './executor.js';
import { hostFailure, markError } from './errors.js';
import type { ClusterSpec, HostSpec } from './config.js';
import type { Driver, HostProber } from './driver.js';
import type { DriverCounts, HostStats } from './host.js';
import { performance } from 'node:perf_hooks';
import type { EventEmitter } from 'node:events';
import { Telemetry } from './telemetry.js';
import type { Endpoint } from './config.js';
import { addedHostSpec, type DriverSpec } from './config.js';
import { Discoverer, type DiscoveredHost } from './discovery.js';
import { ConfigError } from './errors.js';

export const monotonicNow = (): number => performance.now();
const timing = performance.nodeTiming;
/** Time the event loop has spent idle (ms): read twice per query (the timing object is looked up once). */
export const loopIdleTime = (): number => timing.idleTime;

export interface Core<P, C> {
  readonly cluster: Cluster<P>;
  readonly executor: Executor<P, C>;
  readonly monitor: HealthMonitor<P> | undefined;
  /** Adding and removing hosts at run time (multi-host form only). */
  readonly membership?: Membership<P> | undefined;
  readonly discoverer?: Discoverer | undefined;
  /** Ends one host's pool, once (multi-host form). */
  readonly endHost?: ((host: Host<P>) => Promise<void>) | undefined;
  /** Every host pool ending started (also of hosts already removed). */
  readonly endings?: ReadonlyMap<Host<P>, Promise<void>> | undefined;
  /** OpenTelemetry, when the `telemetry` option is set (closed by endCore). */
  readonly telemetry?: Telemetry | undefined;
}

/** Run-time changes of the host list (`addHost`, `removeHost`, `setHosts`, discovery). */
export interface Membership<P> {
  /** Adds a host given as the user gives hosts (a URL or options); resolves after its first check. */
  add(value: unknown): Promise<Host<P>>;
  /** Drains and removes a host; resolves once its connections are closed. */
  remove(host: Host<P>): Promise<void>;
  /**
   * Makes the host list equal to `values`: hosts not named there are drained, new ones added
   * (hosts are told apart by name). Every entry is validated before anything changes.
   */
  set(values: readonly unknown[]): Promise<void>;
}

/** The membership of a core that can change (multi-host form), or a ConfigError; the ended error after end(). */
function changeable<P>(core: Core<P, unknown>): Membership<P> {
  core.cluster.assertOpen();
  if (!core.membership) throw new ConfigError('hosts', 'can only change in the multi-host form (primary/replicas, hosts or discovery)');
  return core.membership;
}

/** What both faces' addHost/removeHost/setHosts do (see the pg face for their documentation). */
export const hostChanges = {
  async add<P>(core: Core<P, unknown>, config: unknown): Promise<HostStats> {
    const host = await changeable(core).add(config);
    return core.cluster.statsOf(host);
  },
  async remove<P>(core: Core<P, unknown>, name: string): Promise<void> {
    const host = core.cluster.host(name);
    if (host === undefined) throw new ConfigError('name', `no host named "${name}" is in the pool`);
    await changeable(core).remove(host);
  },
  async set<P>(core: Core<P, unknown>, hosts: readonly unknown[]): Promise<void> {
    if (!Array.isArray(hosts) || hosts.length === 0) throw new ConfigError('hosts', 'must be a non-empty array of connection strings or option objects');
    await changeable(core).set(hosts);
  },
};

/** The multi-host core: one driver pool per host, health checks on, roles discovered when asked. */
export function multiHostCore<O extends object, P, C>(
  spec: ClusterSpec<O>,
  driverSpec: DriverSpec<O>,
  makePool: (host: HostSpec<O>) => P,
  driver: Driver<P, C>,
  counts: (pool: P) => DriverCounts,
  prober: (spec: HostSpec<O>, timeoutMillis: number) => HostProber<P>,
  endPool: (pool: P) => Promise<void>,
): Core<P, C> {
  const probes = new WeakMap<Host<P>, HostProber<P>>();
  const endpoints = new WeakMap<Host<unknown>, Endpoint>();
  const makeHost = (h: HostSpec<O>, configured: boolean): Host<P> => {
    const host = new Host(h.name, h.role, h.weight, h.capacity, makePool(h), spec, spec.health);
    // Nothing is served by a host before a probe has confirmed its role.
    host.verified = false;
    if (configured) host.configuredRole = h.role;
    probes.set(host, prober(h, spec.healthCheckTimeoutMillis));
    endpoints.set(host as Host<unknown>, driverSpec.endpoint(h.options));
    return host;
  };
  const hosts = spec.hosts.map((h) => makeHost(h, !spec.discover));
  const cluster = new Cluster(hosts, spec, monotonicNow, counts, loopIdleTime);
  cluster.endedError = endedError(driver);
  const monitor = new HealthMonitor(cluster, (h) => probes.get(h)!(h.driver), spec.healthCheckIntervalMillis, spec.detectRoles, spec.healthCheckTimeoutMillis,
    (have, need) => driver.positionReached(have, need));
  let telemetry: Telemetry | undefined;
  if (spec.telemetry) {
    telemetry = new Telemetry(spec.telemetry, (h) => endpoints.get(h)!, spec.picker, driver.dialect);
    telemetry.observe(cluster as Cluster<unknown>);
    const t = telemetry;
    cluster.onStateChange((host, _from, to) => t.hostStateChanged(host as Host<unknown>, to));
  }
  const executor = new Executor(cluster, driver, {
    retryReads: spec.retryReads,
    consistency: spec.consistency,
    maxWaitingClients: spec.maxWaitingClients,
    readOnlyReplicas: spec.readOnlyReplicas,
    internalTimeoutMillis: spec.healthCheckTimeoutMillis,
    wrap: (host, err) => (driver.errorKind(err, false) === 'host' ? hostFailure(host.name, err) : withHost(err, host.name)),
    telemetry,
    hedge: spec.hedge,
  }, monitor);
  // A host's pool is ended once, by its removal or by end(), whichever comes first; end() waits for
  // every one (also of hosts removed before, whose leased clients may still be out).
  const endings = new Map<Host<P>, Promise<void>>();
  const endHost = (host: Host<P>): Promise<void> => {
    let ending = endings.get(host);
    if (ending === undefined) {
      // Called at once (not a tick later): the driver's own end() settles what waits in its queue.
      try {
        ending = endPool(host.driver);
      } catch (err) {
        ending = Promise.reject(err);
      }
      endings.set(host, ending);
    }
    return ending;
  };
  const membership = hostMembership(cluster, monitor, (value) => addedHostSpec(spec, driverSpec, value), (h) => makeHost(h, false), endHost, spec.drainTimeoutMillis);
  let discoverer: Discoverer | undefined;
  if (spec.discovery) {
    const d = new Discoverer(spec.discovery, async (found) => membership.set(found.map((f) => discoveredOptions(f))), spec.healthCheckTimeoutMillis);
    discoverer = d;
    // An HA manager knows of a failover before the old primary's connections time out: ask it
    // at once when the primary fails.
    cluster.onStateChange((host, _from, to) => {
      if (host.role === 'primary' && (to === 'ejected' || to === 'down')) d.request();
    });
    executor.onPrimaryTrouble = () => d.request();
  }
  monitor.start();
  discoverer?.start();
  // Roles are verified before any host serves: the first statements wait for the first checks
  // (after the first discovery, when there is one), each bounded by healthCheckTimeoutMillis.
  const first = discoverer ? discoverer.run().then(() => monitor.checkAll()) : monitor.checkAll();
  // Never left rejected: statements waiting on it would wait on it for ever.
  executor.ready = first.then(() => { executor.ready = undefined; }, () => { executor.ready = undefined; });
  return { cluster, executor, monitor, membership, discoverer, endHost, endings, telemetry };
}

/** What the core passes to the driver for a discovered host: its address, port and weight. */
function discoveredOptions(found: DiscoveredHost): Record<string, unknown> {
  if (typeof found !== 'object' || found === null || typeof found.host !== 'string' || found.host.trim() === '') {
    throw new ConfigError('discovery', 'returned an entry without a host (each entry must be { host, port?, weight? })');
  }
  const out: Record<string, unknown> = { host: found.host };
  if (found.port !== undefined) out['port'] = found.port;
  if (found.weight !== undefined) out['weight'] = found.weight;
  return out;
}

function hostMembership<O extends object, P>(
  cluster: Cluster<P>,
  monitor: HealthMonitor<P>,
  normalize: (value: unknown) => HostSpec<O>,
  makeHost: (spec: HostSpec<O>) => Host<P>,
  endPool: (host: Host<P>) => Promise<void>,
  drainTimeoutMillis: number,
): Membership<P> {
  const removing = new Map<Host<P>, Promise<void>>();
  const addSpec = async (h: HostSpec<O>): Promise<Host<P>> => {
    cluster.assertOpen();
    const host = makeHost(h);
    cluster.addHost(host);
    await monitor.verify(host);
    return host;
  };
  const remove = (host: Host<P>): Promise<void> => {
    const running = removing.get(host);
    if (running) return running;
    cluster.drainHost(host);
    // After the drain (or drainTimeoutMillis), its pool is ended: idle connections close now, a
    // client still leased closes when released (end() of the whole pool waits for it).
    const started = cluster.now();
    const p = drained(cluster, host, drainTimeoutMillis)
      .then(() => (cluster.ending ? undefined : withTimeout(endPool(host), Math.max(100, drainTimeoutMillis - (cluster.now() - started)))))
      .catch(() => {}) // a pool that fails to end is dropped all the same
      // A health check that runs there opens its own connection: the host leaves after it.
      .then(() => monitor.settled(host))
      .then(() => {
        removing.delete(host);
        cluster.dropHost(host);
      });
    removing.set(host, p);
    return p;
  };
  return {
    add(value) {
      const h = normalize(value);
      const have = cluster.host(h.name);
      // A host named again while it drains comes back as a new host once the old one is gone.
      if (have?.draining) return removing.get(have)!.then(() => (cluster.host(h.name) === undefined ? addSpec(h) : Promise.reject(new ConfigError('host', `host name "${h.name}" is already in the pool`))));
      if (have !== undefined) return Promise.reject(new ConfigError('host', `host name "${h.name}" is already in the pool`));
      return addSpec(h);
    },
    remove,
    async set(values) {
      const specs = values.map((v) => normalize(v));
      const wanted = new Map<string, HostSpec<O>>();
      for (const h of specs) if (!wanted.has(h.name)) wanted.set(h.name, h);
      const work: Promise<unknown>[] = [];
      // A listed host that is out of rotation is asked now rather than at the end of its ejection.
      if (cluster.hosts.some((h) => wanted.has(h.name) && (h.state === 'ejected' || h.state === 'down'))) monitor.probeOutEarly();
      for (const host of cluster.hosts) if (!wanted.has(host.name) && !host.draining) work.push(remove(host));
      for (const [name, h] of wanted) {
        const have = cluster.host(name);
        if (have === undefined) work.push(addSpec(h));
        // A host named again while it drains comes back as a new host once the old one is gone.
        else if (have.draining) work.push(removing.get(have)!.then(() => (cluster.host(name) === undefined && !cluster.ending ? addSpec(h) : undefined)));
      }
      await Promise.all(work);
    },
  };
}

/** Resolves when nothing runs on `host` any more (queries and leased connections), or after `limitMillis`. */
function drained<P>(cluster: Cluster<P>, host: Host<P>, limitMillis: number): Promise<void> {
  return new Promise((resolve) => {
    const started = cluster.now();
    const poll = () => {
      if (host.inflight === 0 || cluster.ending || cluster.now() - started >= limitMillis) return resolve();
      setTimeout(poll, 20).unref();
    };
    poll();
  });
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    p.then(() => { clearTimeout(t); resolve(); }, (e: unknown) => { clearTimeout(t); reject(e); });
  });
}

/** The single-host core: behaves like the driver's own pool (no checks, no retries, raw errors). */
export function singleHostCore<P, C>(name: string, pool: P, capacity: number, driver: Driver<P, C>, counts: (pool: P) => DriverCounts): Core<P, C> {
  const cluster = new Cluster([new Host(name, 'primary', 1, capacity, pool)], { picker: 'p2c', fallbackToPrimary: true, random: Math.random }, monotonicNow, counts);
  cluster.endedError = endedError(driver);
  const executor = new Executor(cluster, driver, {
    retryReads: false, consistency: 'eventual', maxWaitingClients: undefined, readOnlyReplicas: false, internalTimeoutMillis: 2000, wrap: (_h, err) => err,
  });
  return { cluster, executor, monitor: undefined };
}

/** The driver's error for an ended pool, marked P2C_POOL_ENDED. */
function endedError(driver: Driver<unknown, unknown>): () => Error {
  return () => {
    const err = driver.endedError();
    markError(err, 'P2C_POOL_ENDED');
    return err;
  };
}

/** Ends a core: stops checks, ends every host's pool, marks hosts closed. */
export async function endCore<P>(core: Core<P, unknown>, endPool: (pool: P) => Promise<void>): Promise<void> {
  core.cluster.ending = true;
  // Work accepted before end() may still wait for the first role checks (each bounded by the
  // check timeout): it is handed to the hosts' pools first, so it finishes as in pg-pool.
  const accepted = core.executor.ready;
  if (accepted) {
    await accepted.catch(() => {});
    await new Promise((resolve) => setImmediate(resolve));
  }
  core.monitor?.stop();
  core.discoverer?.stop();
  const endHost = core.endHost ?? ((h: Host<P>) => endPool(h.driver));
  await Promise.all(core.cluster.hosts.map((h) => endHost(h)));
  if (core.endings) await Promise.all(core.endings.values()).catch(() => {});
  core.cluster.ended = true;
  core.cluster.close();
  core.telemetry?.close();
}

/**
 * Typed host events on a pool face: `hostUp`, `hostEjected`, `hostDown` with the host's stats,
 * `primaryChanged(now, before)` with `{ name, role }` (undefined when there is none),
 * `roleMismatch` when a host reports another role than configured or a writable replica,
 * `hostAdded`/`hostRemoved` and `discoveryError`. `perHost` forwards the driver's own events of
 * every host, also of hosts added later.
 */
export function forwardHostEvents<P>(core: Core<P, unknown>, emitter: EventEmitter, perHost: (host: Host<P>) => void): void {
  const cluster = core.cluster;
  for (const host of cluster.hosts) perHost(host);
  cluster.onStateChange((host, from, to) => {
    if (to === 'up' && from !== 'up') emitter.emit('hostUp', cluster.statsOf(host));
    else if (to === 'ejected') emitter.emit('hostEjected', cluster.statsOf(host));
    else if (to === 'down') emitter.emit('hostDown', cluster.statsOf(host));
  });
  cluster.onPrimaryChange((now, before) => emitter.emit('primaryChanged', now?.info, before?.info));
  cluster.onRoleMismatch((mismatch) => emitter.emit('roleMismatch', mismatch));
  cluster.onMembership({
    added: (host) => {
      perHost(host);
      emitter.emit('hostAdded', cluster.statsOf(host));
    },
    removed: (host) => emitter.emit('hostRemoved', cluster.statsOf(host)),
  });
  if (core.discoverer) core.discoverer.onError = (err) => emitter.emit('discoveryError', err);
}

/** A password-free summary of a pool for `util.inspect`: hosts with role and state, and counters. */
export function describePool<P>(cluster: Cluster<P>, total: number, idle: number, waiting: number): object {
  return {
    hosts: cluster.hosts.map((h) => ({ name: h.name, role: h.role, state: h.verified ? h.state : 'unverified' })),
    totalCount: total,
    idleCount: idle,
    waitingCount: waiting,
    ending: cluster.ending,
  };
}

/**
 * The driver's own error (a timeout, a queue limit) as the caller gets it in the multi-host form,
 * unchanged but for a `host` property naming where it happened, as a host's failure has.
 */
function withHost(err: Error, host: string): Error {
  markError(err, undefined, host);
  return err;
}
