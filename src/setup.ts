// Builds the core for a driver face: hosts from normalised options, the cluster, health monitor
// and executor. Both faces (pg, mysql2) construct themselves through here.

import { Host } from './host.js';
import { Cluster } from './pool.js';
import { HealthMonitor } from './monitor.js';
import { Executor } from './executor.js';
import { HostUnavailableError } from './errors.js';
import type { ClusterSpec, HostSpec } from './config.js';
import type { Driver, HostProber } from './driver.js';
import type { DriverCounts } from './host.js';
import { performance } from 'node:perf_hooks';
import type { EventEmitter } from 'node:events';
import { Telemetry, type Endpoint } from './telemetry.js';
import type { DriverSpec } from './config.js';

export const monotonicNow = (): number => performance.now();

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
    probes.set(host, prober(h, spec.healthCheckTimeoutMillis));
    endpoints.set(host as Host<unknown>, driverSpec.endpoint(h.options));
    return host;
  });
  const cluster = new Cluster(hosts, spec, monotonicNow, counts);
  const monitor = new HealthMonitor(cluster, (h) => probes.get(h)!(h.driver), spec.healthCheckIntervalMillis, spec.detectRoles);
  let telemetry: Telemetry | undefined;
  if (spec.telemetry) {
    telemetry = new Telemetry(spec.telemetry, (h) => endpoints.get(h)!, spec.picker);
    telemetry.observe(cluster as Cluster<unknown>);
    const t = telemetry;
    cluster.onStateChange((host, _from, to) => t.hostStateChanged(host as Host<unknown>, to));
  }
  const executor = new Executor(cluster, driver, {
    retryReads: spec.retryReads,
    consistency: spec.consistency,
    maxWaitingClients: spec.maxWaitingClients,
    wrap: (host, err) => (driver.isHostError(err) ? new HostUnavailableError(host.name, err) : err),
    telemetry,
  }, monitor);
  monitor.start();
  if (spec.discover) executor.ready = monitor.checkAll().then(() => { executor.ready = undefined; });
  return { cluster, executor, monitor };
}

/** The single-host core: behaves like the driver's own pool (no checks, no retries, raw errors). */
export function singleHostCore<P, C>(name: string, pool: P, capacity: number, driver: Driver<P, C>, counts: (pool: P) => DriverCounts): Core<P, C> {
  const cluster = new Cluster([new Host(name, 'primary', 1, capacity, pool)], { picker: 'p2c', fallbackToPrimary: true, random: Math.random }, monotonicNow, counts);
  const executor = new Executor(cluster, driver, { retryReads: false, consistency: 'eventual', maxWaitingClients: undefined, wrap: (_h, err) => err });
  return { cluster, executor, monitor: undefined };
}

/** Ends a core: stops checks, ends every host's pool, marks hosts closed. */
export async function endCore<P>(core: Core<P, unknown>, endPool: (pool: P) => Promise<void>): Promise<void> {
  core.cluster.ending = true;
  core.monitor?.stop();
  await Promise.all(core.cluster.hosts.map((h) => endPool(h.driver)));
  core.cluster.ended = true;
  core.cluster.close();
}

/**
 * Typed host events on a pool face: `hostUp`, `hostEjected`, `hostDown` with the host's stats,
 * and `primaryChanged(now, before)` with `{ name, role }` (undefined when there is none).
 */
export function forwardHostEvents<P>(cluster: Cluster<P>, emitter: EventEmitter): void {
  const statsOf = (host: Host<P>) => cluster.stats().hosts.find((h) => h.name === host.name);
  cluster.onStateChange((host, from, to) => {
    if (to === 'up' && from !== 'up') emitter.emit('hostUp', statsOf(host));
    else if (to === 'ejected') emitter.emit('hostEjected', statsOf(host));
    else if (to === 'down') emitter.emit('hostDown', statsOf(host));
  });
  cluster.onPrimaryChange((now, before) => emitter.emit('primaryChanged', now?.info, before?.info));
}
