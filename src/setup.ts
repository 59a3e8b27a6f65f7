// Builds the core for a driver face: hosts from normalised options, the cluster, health monitor
// and executor. Both faces (pg, mysql2) construct themselves through here.

import { Host } from './host.js';
import { Cluster } from './pool.js';
import { HealthMonitor } from './monitor.js';
import { Executor } from './executor.js';
import { hostFailure, markError } from './errors.js';
import type { ClusterSpec, HostSpec } from './config.js';
import type { Driver, HostProber } from './driver.js';
import type { DriverCounts } from './host.js';
import { performance } from 'node:perf_hooks';
import type { EventEmitter } from 'node:events';
import { Telemetry } from './telemetry.js';
import type { Endpoint } from './config.js';
import type { DriverSpec } from './config.js';

export const monotonicNow = (): number => performance.now();
/** Time the event loop has spent idle (ms): read per query, it costs about 25 ns. */
export const loopIdleTime = (): number => performance.nodeTiming.idleTime;

export interface Core<P, C> {
  readonly cluster: Cluster<P>;
  readonly executor: Executor<P, C>;
  readonly monitor: HealthMonitor<P> | undefined;
}

/** The multi-host core: one driver pool per host, health checks on, roles discovered when asked. */
export function multiHostCore<O extends object, P, C>(
  spec: ClusterSpec<O>,
  driverSpec: DriverSpec<O>,
  makePool: (host: HostSpec<O>) => P,
  driver: Driver<P, C>,
  counts: (pool: P) => DriverCounts,
  prober: (spec: HostSpec<O>, timeoutMillis: number) => HostProber<P>,
): Core<P, C> {
  const probes = new Map<Host<P>, HostProber<P>>();
  const endpoints = new Map<Host<unknown>, Endpoint>();
  const hosts = spec.hosts.map((h) => {
    const host = new Host(h.name, h.role, h.weight, h.capacity, makePool(h), spec, spec.health);
    // Nothing is served by a host before a probe has confirmed its role.
    host.verified = false;
    if (!spec.discover) host.configuredRole = h.role;
    probes.set(host, prober(h, spec.healthCheckTimeoutMillis));
    endpoints.set(host as Host<unknown>, driverSpec.endpoint(h.options));
    return host;
  });
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
  monitor.start();
  // Roles are verified before any host serves: the first statements wait for the first checks,
  // each bounded by healthCheckTimeoutMillis.
  executor.ready = monitor.checkAll().then(() => { executor.ready = undefined; });
  return { cluster, executor, monitor };
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
  await Promise.all(core.cluster.hosts.map((h) => endPool(h.driver)));
  core.cluster.ended = true;
  core.cluster.close();
}

/**
 * Typed host events on a pool face: `hostUp`, `hostEjected`, `hostDown` with the host's stats,
 * `primaryChanged(now, before)` with `{ name, role }` (undefined when there is none), and
 * `roleMismatch` when a host reports another role than configured or a writable replica.
 */
export function forwardHostEvents<P>(cluster: Cluster<P>, emitter: EventEmitter): void {
  const statsOf = (host: Host<P>) => cluster.stats().hosts.find((h) => h.name === host.name);
  cluster.onStateChange((host, from, to) => {
    if (to === 'up' && from !== 'up') emitter.emit('hostUp', statsOf(host));
    else if (to === 'ejected') emitter.emit('hostEjected', statsOf(host));
    else if (to === 'down') emitter.emit('hostDown', statsOf(host));
  });
  cluster.onPrimaryChange((now, before) => emitter.emit('primaryChanged', now?.info, before?.info));
  cluster.onRoleMismatch((mismatch) => emitter.emit('roleMismatch', mismatch));
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
