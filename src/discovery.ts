// Host discovery: providers report the current list of hosts (DNS names, an HA manager's API),
// and the pool follows it, adding new hosts and draining vanished ones. Driver-free: a provider
// returns addresses and ports; the face turns each into its driver's options.

import { promises as dns } from 'node:dns';
import { performance } from 'node:perf_hooks';
import type { HostRole } from './host.js';

/** One host as a provider reports it. */
export interface DiscoveredHost {
  /** Address or host name to connect to. */
  readonly host: string;
  /** Port; default: the port of the pool's shared options, else the driver's default. */
  readonly port?: number | undefined;
  /** The role the provider reports (informational: the pool still asks each host for its role). */
  readonly role?: HostRole | undefined;
  /** Static weight (default 1). */
  readonly weight?: number | undefined;
}

/**
 * A source of the current host list, for the `discovery` option. `discover()` resolves the full
 * current list; the pool adds what is new and drains what is gone. A rejection, or an empty list,
 * changes nothing (the pool keeps the hosts it has and emits `discoveryError`).
 */
export interface DiscoveryProvider {
  /** For messages: 'dns', 'patroni', or your own. */
  readonly kind: string;
  /** How often the pool asks (ms). Default 5000. */
  readonly intervalMillis?: number | undefined;
  /** The current hosts. `signal` aborts when the pool stops waiting (the check timeout) or ends. */
  discover(signal: AbortSignal): Promise<readonly DiscoveredHost[]>;
}

/** Options of `dnsDiscovery`. */
export interface DnsDiscoveryOptions {
  /** The name to resolve: every address it resolves to is a host (e.g. a Kubernetes headless service). */
  name: string;
  /** Port of every address (A/AAAA records carry none). Default: the pool's `port` option, else the driver's default. */
  port?: number;
  /** Read SRV records of `name` instead: each target (resolved to its addresses) with the record's port. */
  srv?: boolean;
  /** DNS servers to ask (`'127.0.0.1:5353'`); default: the system resolver (`/etc/hosts`, then DNS). */
  servers?: readonly string[];
  /** How often the name is resolved again (ms). Default 5000. */
  intervalMillis?: number;
}

/**
 * Hosts from DNS: a name that resolves to several addresses, re-resolved every `intervalMillis`.
 * @example new Pool({ discovery: dnsDiscovery({ name: 'db-replicas.app.svc', port: 5432 }), user: 'app', database: 'app' })
 */
export function dnsDiscovery(options: DnsDiscoveryOptions): DiscoveryProvider {
  if (typeof options?.name !== 'string' || options.name === '') throw new TypeError('dnsDiscovery: `name` must be a non-empty string');
  const resolver = options.servers ? new dns.Resolver({ timeout: 1000, tries: 2 }) : undefined;
  resolver?.setServers([...options.servers!]);
  const addresses = async (name: string): Promise<string[]> => {
    if (resolver === undefined) return (await dns.lookup(name, { all: true, verbatim: true })).map((a) => a.address);
    const found = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
    const out = found.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    if (out.length === 0 && found[0].status === 'rejected') throw found[0].reason;
    return out;
  };
  return {
    kind: 'dns',
    intervalMillis: options.intervalMillis,
    async discover(signal) {
      let hosts: DiscoveredHost[];
      if (options.srv) {
        const records = await (resolver ?? dns).resolveSrv(options.name);
        const resolved = await Promise.all(records.map(async (r) => (await addresses(r.name)).map((host) => ({ host, port: r.port }))));
        hosts = resolved.flat();
      } else {
        hosts = (await addresses(options.name)).map((host) => ({ host, port: options.port }));
      }
      signal.throwIfAborted();
      return hosts;
    },
  };
}

/** Options of `patroniDiscovery`. */
export interface PatroniDiscoveryOptions {
  /** REST API base URLs of one or more Patroni members (`http://db1:8008`); the others are learnt from the cluster. */
  urls: readonly string[];
  /** How often the cluster is read (ms). Default 5000; also read at once when the primary fails. */
  intervalMillis?: number;
  /** Also use members tagged `noloadbalance` for reads. Default false: they get no reads. */
  includeNoLoadBalance?: boolean;
}

/** A member of Patroni's `GET /cluster`. */
interface PatroniMember {
  readonly name?: string;
  readonly role?: string;
  readonly state?: string;
  readonly host?: string;
  readonly port?: number;
  readonly api_url?: string;
  readonly tags?: Record<string, unknown>;
}

/** Member states in which PostgreSQL serves (Patroni 3.0 says 'running'; later versions 'streaming' for replicas). */
const SERVING = new Set(['running', 'streaming']);

/**
 * Hosts from a Patroni cluster's REST API (`GET /cluster`): the leader and the running replicas;
 * members tagged `noloadbalance` are left out (the leader never is).
 * @example new Pool({ discovery: patroniDiscovery({ urls: ['http://db1:8008', 'http://db2:8008'] }), user: 'app', database: 'app' })
 */
export function patroniDiscovery(options: PatroniDiscoveryOptions): DiscoveryProvider {
  if (!Array.isArray(options?.urls) || options.urls.length === 0 || !options.urls.every((u) => typeof u === 'string')) {
    throw new TypeError('patroniDiscovery: `urls` must be a non-empty array of REST API URLs');
  }
  for (const u of options.urls) {
    if (!URL.canParse(u)) throw new TypeError('patroniDiscovery: a URL in `urls` is not a valid URL');
  }
  // The configured URLs, and the members' own API URLs as the cluster last reported them.
  const configured = options.urls.map((u) => u.replace(/\/+$/, ''));
  let learnt: string[] = [];
  const ask = async (base: string, signal: AbortSignal): Promise<PatroniMember[]> => {
    const res = await fetch(`${base}/cluster`, { signal });
    if (!res.ok) throw new Error(`Patroni ${base}/cluster answered HTTP ${res.status}`);
    const body = (await res.json()) as { members?: unknown };
    if (!Array.isArray(body.members)) throw new Error(`Patroni ${base}/cluster listed no members`);
    return body.members as PatroniMember[];
  };
  return {
    kind: 'patroni',
    intervalMillis: options.intervalMillis,
    async discover(signal) {
      // Every known node at once: the first answer wins, so a node that is down or black-holed
      // costs nothing; the others are aborted.
      const done = new AbortController();
      const both = AbortSignal.any([signal, done.signal]);
      let members: PatroniMember[];
      try {
        members = await Promise.any([...new Set([...configured, ...learnt])].map((base) => ask(base, both)));
      } catch (err) {
        const first = (err as AggregateError).errors?.[0];
        throw first instanceof Error ? first : new Error('no Patroni REST API answered');
      } finally {
        done.abort();
      }
      learnt = members.flatMap((m) => (typeof m.api_url === 'string' && URL.canParse(m.api_url) ? [new URL(m.api_url).origin] : []));
      return members.filter((m) => typeof m.host === 'string' && SERVING.has(m.state ?? '')
        && (m.role === 'leader' || options.includeNoLoadBalance || !isTrue(m.tags?.['noloadbalance'])))
        .map((m) => ({ host: m.host!, port: typeof m.port === 'number' ? m.port : undefined, role: m.role === 'leader' ? 'primary' as const : 'replica' as const }));
    },
  };
}

function isTrue(value: unknown): boolean {
  return value === true || value === 'true' || value === 'on' || value === 1;
}

/** Runs a provider: on a timer, on request (a failed primary), each run bounded; applies lists. */
export class Discoverer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pending = false;
  private stopped = false;
  private readonly abort = new AbortController();
  /** Set by the face: told of each failed run (never throws). */
  onError: ((err: Error) => void) | undefined;

  constructor(
    private readonly provider: DiscoveryProvider,
    /** Applies a non-empty list; resolves when the new hosts were checked once. */
    private readonly apply: (hosts: readonly DiscoveredHost[]) => Promise<void>,
    /** Bound of one `discover()`. */
    private readonly timeoutMillis: number,
  ) {}

  get intervalMillis(): number {
    return this.provider.intervalMillis ?? 5000;
  }

  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setInterval(() => void this.run(), this.intervalMillis);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.soon) clearTimeout(this.soon);
    this.abort.abort(new Error('pool ended'));
  }

  /** A discovery soon: at once, or after 200 ms since the last began (failures come in bursts). */
  request(): void {
    if (this.stopped || this.soon !== undefined) return;
    const wait = Math.max(0, this.lastStart + 200 - performance.now());
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.run();
    }, wait);
    this.soon.unref();
  }

  private soon: NodeJS.Timeout | undefined;
  private lastStart = -Infinity;

  /** One discovery now (a run in progress is followed by one more); resolves when applied or failed. */
  run(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.pending = true;
      return this.running;
    }
    this.running = this.once().finally(() => {
      this.running = undefined;
      if (this.pending && !this.stopped) {
        this.pending = false;
        void this.run();
      }
    });
    return this.running;
  }

  private async once(): Promise<void> {
    this.lastStart = performance.now();
    // A timer of our own, not AbortSignal.timeout(): a timeout signal referenced only by
    // AbortSignal.any() can be garbage-collected before it fires, and the bound would be lost.
    const bound = new AbortController();
    const timer = setTimeout(() => bound.abort(), this.timeoutMillis);
    timer.unref();
    const signal = AbortSignal.any([this.abort.signal, bound.signal]);
    let hosts: readonly DiscoveredHost[];
    try {
      hosts = await new Promise<readonly DiscoveredHost[]>((resolve, reject) => {
        signal.addEventListener('abort', () => reject(new Error(`${this.provider.kind} discovery timed out after ${this.timeoutMillis} ms`)), { once: true });
        Promise.resolve().then(() => this.provider.discover(signal)).then(resolve, reject);
      });
      if (!Array.isArray(hosts)) throw new Error(`${this.provider.kind} discovery returned no list`);
      if (hosts.length === 0) throw new Error(`${this.provider.kind} discovery found no host; keeping the current ones`);
    } catch (err) {
      if (!this.stopped) this.report(err);
      return;
    } finally {
      clearTimeout(timer);
    }
    if (this.stopped) return;
    try {
      await this.apply(hosts);
    } catch (err) {
      this.report(err);
    }
  }

  /**
   * Tells `onError` (the pool's `discoveryError` event). A listener that throws does not stop
   * discovery: its exception is rethrown on its own, as an uncaught exception of the app's listener.
   */
  private report(err: unknown): void {
    try {
      this.onError?.(err instanceof Error ? err : new Error(String(err)));
    } catch (thrown) {
      process.nextTick(() => { throw thrown; });
    }
  }
}
