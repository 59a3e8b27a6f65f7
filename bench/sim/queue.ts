// Simulator (b)-(d): a discrete-event model of app processes sending reads to replicas, each
// replica a multi-slot server. Balancing goes through the real Cluster, Host, metrics and pickers
// of src/ with a simulated clock; only the servers and the arrival process are modelled here.

import { Cluster } from '../../src/pool.js';
import { Host } from '../../src/host.js';
import { createPicker, type PickerName } from '../../src/picker.js';
import { exponential, percentile, seeded } from '../lib.js';

export interface ServerModel { readonly slots: number; readonly meanServiceMs: number }

export interface SimResult {
  readonly meanMs: number;
  readonly p99Ms: number;
  readonly shares: number[];
  /** Std dev over 10 ms windows of each server's share of arrivals, averaged: how much it swings. */
  readonly oscillation: number;
}

/** A balancing policy as the simulator sees it: pick a server for a process, learn of completions. */
interface Balancer {
  pick(process: number, now: number): number;
  completed(process: number, server: number, latency: number, now: number): void;
}

/** Each process balances on its own local view, through its own real Cluster. */
function localBalancer(picker: PickerName, processes: number, servers: readonly ServerModel[], random: () => number, clock: { now: number }): Balancer {
  const clusters = Array.from({ length: processes }, () => {
    const hosts = servers.map((s, i) => new Host(`s${i}`, 'replica', 1, s.slots, i));
    return new Cluster(hosts, { picker, fallbackToPrimary: false, random }, () => clock.now, () => ({ total: 0, idle: 0, waiting: 0 }));
  });
  return {
    pick(p) {
      const host = clusters[p]!.choose('read');
      host.begin();
      return host.driver;
    },
    completed(p, server, latency) {
      const c = clusters[p]!;
      c.finish(c.hosts[server]!, 'ok', latency);
    },
  };
}

/** Every process reads one shared snapshot of the servers' in-flight counts, refreshed every `staleMs`. */
function sharedStaleBalancer(picker: PickerName, staleMs: number, inflight: number[], random: () => number): Balancer {
  const p = createPicker(picker, random);
  const snapshot = inflight.map((n) => ({ inflight: n }));
  let refreshedAt = -Infinity;
  return {
    pick(_process, now) {
      if (now - refreshedAt >= staleMs) {
        for (let i = 0; i < snapshot.length; i++) snapshot[i] = { inflight: inflight[i]! };
        refreshedAt = now;
      }
      return p.pick(snapshot, (i) => snapshot[i]!.inflight);
    },
    completed() {},
  };
}

export interface SimOptions {
  readonly servers: readonly ServerModel[];
  /** Offered load as a share of total capacity. */
  readonly load: number;
  readonly requests: number;
  readonly processes: number;
  readonly seed: number;
  /** 'local:p2c' etc., or 'stale:least-connections:10' (shared view refreshed every 10 ms). */
  readonly policy: string;
}

export function simulate(o: SimOptions): SimResult {
  const random = seeded(o.seed);
  const clock = { now: 0 };
  const capacity = o.servers.reduce((a, s) => a + s.slots / s.meanServiceMs, 0); // requests per ms
  const arrivalMean = 1 / (capacity * o.load);
  const inflight = o.servers.map(() => 0);
  const busy = o.servers.map(() => 0);
  const queues: number[][] = o.servers.map(() => []);
  const [kind, name, stale] = o.policy.split(':') as [string, PickerName, string?];
  const balancer = kind === 'local' ? localBalancer(name, o.processes, o.servers, random, clock) : sharedStaleBalancer(name, Number(stale), inflight, random);
  // Completion events in a binary heap keyed by time.
  const heap: { t: number; req: number }[] = [];
  const push = (e: { t: number; req: number }) => {
    heap.push(e);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.t <= heap[i]!.t) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  };
  const pop = () => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.t < heap[m]!.t) m = l;
        if (r < heap.length && heap[r]!.t < heap[m]!.t) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  const arrivedAt = new Float64Array(o.requests);
  const serverOf = new Int32Array(o.requests);
  const processOf = new Int32Array(o.requests);
  const times: number[] = [];
  const start = (req: number, now: number) => {
    const s = serverOf[req]!;
    busy[s]!++;
    push({ t: now + exponential(random, o.servers[s]!.meanServiceMs), req });
  };
  const windowMs = 10;
  const windows: number[][] = [];
  let nextArrival = exponential(random, arrivalMean);
  let arrived = 0;
  while (arrived < o.requests || heap.length > 0) {
    if (arrived < o.requests && (heap.length === 0 || nextArrival <= heap[0]!.t)) {
      clock.now = nextArrival;
      const req = arrived++;
      const p = Math.floor(random() * o.processes);
      const s = balancer.pick(p, clock.now);
      arrivedAt[req] = clock.now;
      serverOf[req] = s;
      processOf[req] = p;
      inflight[s]!++;
      const w = Math.floor(clock.now / windowMs);
      (windows[w] ??= o.servers.map(() => 0))[s]!++;
      if (busy[s]! < o.servers[s]!.slots) start(req, clock.now);
      else queues[s]!.push(req);
      nextArrival = clock.now + exponential(random, arrivalMean);
    } else {
      const { t, req } = pop();
      clock.now = t;
      const s = serverOf[req]!;
      busy[s]!--;
      inflight[s]!--;
      const latency = t - arrivedAt[req]!;
      times.push(latency);
      balancer.completed(processOf[req]!, s, latency, t);
      const next = queues[s]!.shift();
      if (next !== undefined) start(next, t);
    }
  }
  times.sort((a, b) => a - b);
  const counts = o.servers.map(() => 0);
  for (let i = 0; i < o.requests; i++) counts[serverOf[i]!]!++;
  const full = windows.filter((w) => w && w.reduce((a, b) => a + b, 0) > 0);
  const oscillation = o.servers.map((_, s) => {
    const shares = full.map((w) => w[s]! / w.reduce((a, b) => a + b, 0));
    const m = shares.reduce((a, b) => a + b, 0) / shares.length;
    return Math.sqrt(shares.reduce((a, b) => a + (b - m) ** 2, 0) / shares.length);
  }).reduce((a, b) => a + b, 0) / o.servers.length;
  return {
    meanMs: times.reduce((a, b) => a + b, 0) / times.length,
    p99Ms: percentile(times, 99),
    shares: counts.map((c) => c / o.requests),
    oscillation,
  };
}
