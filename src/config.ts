// Validation and normalisation of the multi-host options shared by every driver face.
// Drivers describe their own per-host option keys; unknown keys and bad values throw ConfigError.

import { ConfigError } from './errors.js';
import { fastRandom, PICKER_NAMES, type PickerName, type Random } from './picker.js';
import type { HostRole } from './host.js';
import { DEFAULT_HEALTH_OPTIONS, type HealthOptions } from './health.js';
import type { DiscoveryProvider } from './discovery.js';

/**
 * libpq's `target_session_attrs`, as the pool honours it: 'any', 'read-write' and 'primary' change
 * nothing (writes and `connect()` on the primary, reads balanced over replicas); 'read-only' and
 * 'standby' never use the primary (writes fail with NoPrimaryError, reads never fall back to it,
 * `connect()` leases a replica); 'prefer-standby' leases replicas on `connect()` and falls back to
 * the primary when none is up.
 */
export type TargetSessionAttrs = 'any' | 'read-write' | 'primary' | 'read-only' | 'standby' | 'prefer-standby';
export const TARGET_SESSION_ATTRS: readonly TargetSessionAttrs[] = ['any', 'read-write', 'primary', 'read-only', 'standby', 'prefer-standby'];

/**
 * Options of the `telemetry` pool option. Off unless given. Telemetry needs `@opentelemetry/api`
 * (a peer dependency, ^1.3.0) installed by the application. The providers are typed structurally
 * so that these declarations compile without the API installed.
 */
export interface TelemetryOptions {
  /** Default: the global tracer provider. An OpenTelemetry `TracerProvider`. */
  tracerProvider?: { getTracer(name: string, version?: string, options?: object): unknown };
  /** Default: the global meter provider. An OpenTelemetry `MeterProvider`. */
  meterProvider?: { getMeter(name: string, version?: string, options?: object): unknown };
  /** Record the statement text as `db.query.text`. Default false. Parameters are never recorded. */
  queryText?: boolean;
}

/** Where a host lives, for `server.*` and `db.namespace` attributes. */
export interface Endpoint {
  readonly system: 'postgresql' | 'mysql' | 'mariadb';
  readonly address: string;
  readonly port: number;
  readonly database?: string | undefined;
}

/** Read consistency: 'read-your-writes' sends reads after a write only to replicas that replayed it. */
export type Consistency = 'eventual' | 'read-your-writes';

/** Options of the balancing core, accepted next to the driver's own options. */
export interface CoreOptions {
  /** How to choose among eligible hosts. Default 'p2c'. */
  picker?: PickerName;
  /** Send reads to the primary when no replica can serve them. Default true. */
  fallbackToPrimary?: boolean;
  /** After this long without a query sample, a host's latency estimate follows its health checks' round trips (ms). Default 2000. */
  latencyStaleMillis?: number;
  /** Decay time of the error EWMA in ms. Default 30000. */
  errorDecayMillis?: number;
  /** Uniform random source in [0, 1) for the picker; inject a seeded one for reproducible runs. Default: a fast generator seeded from Math.random (fastRandom). */
  random?: Random;
  /** Retry a read once on another host when its host failed (never writes, transactions or leased clients). Default true. */
  retryReads?: boolean;
  /** Interval of background health checks in ms; 0 turns them off. Default 5000. */
  healthCheckIntervalMillis?: number;
  /** Timeout of one health check or probe in ms. Default 2000. */
  healthCheckTimeoutMillis?: number;
  /** Replicas lagging more than this get no reads until they catch up. Default: no limit. */
  maxReplicationLagMillis?: number;
  /** Default 'eventual'. */
  consistency?: Consistency;
  /** Per-query timeout in ms, applied on every host. Default: none. */
  queryTimeoutMillis?: number;
  /** Most requests that may wait for a connection on one host; more fail with PoolOverloadedError. Default: unbounded. */
  maxWaitingClients?: number;
  /** Consecutive host failures that eject a host. Default 5. */
  ejectAfterFailures?: number;
  /** Error EWMA above which a host is ejected (with ejectMinSamples samples). Default 0.5. */
  ejectErrorRate?: number;
  /** Default 20. */
  ejectMinSamples?: number;
  /** First ejection time in ms; n-th consecutive ejection lasts n times this. Default 30000. */
  ejectionMillis?: number;
  /** Cap of one ejection in ms. Default 300000. */
  maxEjectionMillis?: number;
  /** Relative jitter of ejection times in [0, 1). Default 0.1. */
  ejectionJitter?: number;
  /** Slow-start ramp (10% -> 100% of weight) after a host returns, ms. Default 30000. */
  slowStartMillis?: number;
  /** Failed probes in a row after which an ejected host is reported down. Default 3. */
  downAfterProbes?: number;
  /** OpenTelemetry spans and metrics; off unless set. `true` uses the global providers. */
  telemetry?: boolean | TelemetryOptions;
  /**
   * Hedged reads, off unless set: a `pool.query` read on a replica not answered after `afterMillis`
   * (or the recent 95th percentile of reads, `'p95'`) is also sent to another replica; the first
   * answer wins and the other statement is cancelled on its server. `maxExtraLoad` (default 0.05)
   * caps hedges at that share of reads.
   */
  hedge?: HedgeOptions;
  /**
   * Let health checks change a host's role (promotion, demotion). Default true; false keeps the
   * configured roles, for servers that cannot report theirs (e.g. behind a proxy).
   */
  detectRoles?: boolean;
  /**
   * Follow a changing host list: `dnsDiscovery({ name })` or `patroniDiscovery({ urls })` (or your
   * own provider). Hosts that appear are added, hosts that vanish are drained and removed.
   */
  discovery?: DiscoveryProvider;
  /** Which hosts writes and `connect()` may use, as libpq's option of that name (see TargetSessionAttrs). Default 'any'. */
  targetSessionAttrs?: TargetSessionAttrs;
  /** Longest wait (ms) for a removed host's work and leased connections before its connections are closed anyway. Default 30000. */
  drainTimeoutMillis?: number;
  /**
   * Every replica connection is a read-only session (PostgreSQL `default_transaction_read_only`,
   * MySQL `SET SESSION TRANSACTION READ ONLY`), so a write the classifier missed fails there and
   * is re-run once on the primary instead of landing on a replica. Default true.
   */
  readOnlyReplicas?: boolean;
}

/** Per-host options every driver accepts in addition to its own. */
export interface HostExtras {
  /** Name used in stats, events and errors. Default `host:port`. */
  name?: string;
  /** Static weight, > 0; a host of weight 2 is as attractive as one with half the cost. Default 1. */
  weight?: number;
}

/** What a driver adapter tells the core about its options. */
export interface DriverSpec<O extends object> {
  /** Every driver option key a host may carry (e.g. all pg.Pool and pg.Client options). */
  readonly optionKeys: ReadonlySet<string>;
  /** Key holding a host's connection limit, e.g. 'max' or 'connectionLimit'. */
  readonly capacityKey: string;
  readonly defaultCapacity: number;
  /** Turns a connection string into driver options. Must not throw with the string in its message. */
  fromUrl(url: string): O;
  /** `host:port` of a host, for its default name. */
  describe(options: O): string;
  /** Returns a reason when `value` is not acceptable for `key`, else undefined. */
  check?(key: string, value: unknown): string | undefined;
  /** Where a host is, for telemetry attributes. */
  endpoint(options: O): Endpoint;
}

/** One host after normalisation. */
export interface HostSpec<O extends object> {
  readonly role: HostRole;
  readonly name: string;
  readonly weight: number;
  readonly capacity: number;
  readonly options: O;
  /** True when the user named the host. */
  readonly explicitName: boolean;
}

/** Normalised multi-host configuration. */
export interface ClusterSpec<O extends object> {
  readonly hosts: readonly HostSpec<O>[];
  readonly picker: PickerName;
  readonly fallbackToPrimary: boolean;
  readonly latencyStaleMillis: number;
  readonly errorDecayMillis: number;
  readonly random: Random;
  /** True in the `hosts` form: roles are discovered by asking each host. */
  readonly discover: boolean;
  readonly retryReads: boolean;
  readonly healthCheckIntervalMillis: number;
  readonly healthCheckTimeoutMillis: number;
  readonly maxReplicationLagMillis: number | undefined;
  readonly consistency: Consistency;
  readonly queryTimeoutMillis: number | undefined;
  readonly maxWaitingClients: number | undefined;
  readonly hedge: Required<HedgeOptions> | undefined;
  readonly health: HealthOptions;
  readonly telemetry: TelemetryOptions | undefined;
  readonly detectRoles: boolean;
  readonly readOnlyReplicas: boolean;
  /** Driver options at the top level, applied to every host (added and discovered ones too). */
  readonly shared: Readonly<Record<string, unknown>>;
  readonly discovery: DiscoveryProvider | undefined;
  readonly targetSessionAttrs: TargetSessionAttrs;
  readonly drainTimeoutMillis: number;
}

const HEALTH_KEYS = ['ejectAfterFailures', 'ejectErrorRate', 'ejectMinSamples', 'ejectionMillis', 'maxEjectionMillis', 'ejectionJitter', 'slowStartMillis', 'downAfterProbes'] as const;
const CORE_KEYS = new Set(['primary', 'replicas', 'hosts', 'picker', 'fallbackToPrimary', 'latencyStaleMillis', 'errorDecayMillis', 'random',
  'retryReads', 'healthCheckIntervalMillis', 'healthCheckTimeoutMillis', 'maxReplicationLagMillis', 'consistency', 'queryTimeoutMillis',
  'maxWaitingClients', 'hedge', 'telemetry', 'detectRoles', 'readOnlyReplicas', 'discovery', 'targetSessionAttrs', 'drainTimeoutMillis', ...HEALTH_KEYS]);
const HOST_EXTRA_KEYS = new Set(['name', 'weight']);

/** True when `config` uses the multi-host form (has `primary` or `replicas`). */
export function isMultiHost(config: unknown): boolean {
  return typeof config === 'object' && config !== null && ('primary' in config || 'replicas' in config || 'hosts' in config || 'discovery' in config);
}

/**
 * Validates the multi-host form and returns one HostSpec per host, the primary first.
 * Shared driver options at the top level apply to every host; a host's own options override them.
 */
export function normalizeCluster<O extends object>(config: Record<string, unknown>, driver: DriverSpec<O>): ClusterSpec<O> {
  const shared: Record<string, unknown> = {};
  for (const key of Object.keys(config)) {
    if (CORE_KEYS.has(key)) continue;
    if (!driver.optionKeys.has(key)) throw unknownKey(key, [...CORE_KEYS, ...driver.optionKeys]);
    // As pg and mysql2 do, an option set to undefined is an option not given (ORMs pass many).
    if (config[key] === undefined) continue;
    checkDriverValue(driver, key, config[key]);
    shared[key] = config[key];
  }
  const discovery = discoveryOption(config['discovery']);
  const discover = config['hosts'] !== undefined || (discovery !== undefined && config['primary'] === undefined);
  const hosts: HostSpec<O>[] = [];
  if (discover) {
    if (config['primary'] !== undefined || config['replicas'] !== undefined) throw new ConfigError('hosts', 'cannot be combined with primary/replicas');
    const list = config['hosts'] ?? [];
    if (!Array.isArray(list) || (list.length === 0 && discovery === undefined)) throw new ConfigError('hosts', 'must be a non-empty array of connection strings or option objects');
    // Roles are unknown until each host is asked; they start as replicas and no write is sent before discovery.
    list.forEach((h, i) => hosts.push(hostSpec('replica', `hosts[${i}]`, h, shared, driver)));
  } else {
    if (config['primary'] === undefined) throw new ConfigError('primary', 'is required in the multi-host form (or list `hosts` to discover roles)');
    const replicas = config['replicas'] ?? [];
    if (!Array.isArray(replicas)) throw new ConfigError('replicas', 'must be an array of connection strings or option objects');
    hosts.push(hostSpec('primary', 'primary', config['primary'], shared, driver));
    replicas.forEach((r, i) => hosts.push(hostSpec('replica', `replicas[${i}]`, r, shared, driver)));
  }
  // Explicit names must be unique; default host:port names that repeat get a #n suffix.
  const names = new Set<string>();
  hosts.forEach((h, i) => {
    if (!names.has(h.name)) return void names.add(h.name);
    if (h.explicitName) throw new ConfigError(discover ? `hosts[${i}].name` : i === 0 ? 'primary.name' : `replicas[${i - 1}].name`, `host name "${h.name}" is used twice`);
    let n = 2;
    while (names.has(`${h.name}#${n}`)) n++;
    hosts[i] = { ...h, name: `${h.name}#${n}` };
    names.add(hosts[i]!.name);
  });

  const picker = config['picker'] ?? 'p2c';
  if (typeof picker !== 'string' || !(PICKER_NAMES as readonly string[]).includes(picker)) {
    throw new ConfigError('picker', `must be one of ${PICKER_NAMES.join(', ')}`);
  }
  const fallbackToPrimary = config['fallbackToPrimary'] ?? true;
  if (typeof fallbackToPrimary !== 'boolean') throw new ConfigError('fallbackToPrimary', 'must be a boolean');
  const random = config['random'] ?? fastRandom;
  if (typeof random !== 'function') throw new ConfigError('random', 'must be a function returning numbers in [0, 1)');
  const retryReads = config['retryReads'] ?? true;
  if (typeof retryReads !== 'boolean') throw new ConfigError('retryReads', 'must be a boolean');
  const consistency = config['consistency'] ?? 'eventual';
  if (consistency !== 'eventual' && consistency !== 'read-your-writes') throw new ConfigError('consistency', "must be 'eventual' or 'read-your-writes'");
  const health: Record<string, number> = { ...DEFAULT_HEALTH_OPTIONS };
  for (const key of HEALTH_KEYS) {
    if (config[key] === undefined) continue;
    health[key] = key === 'ejectErrorRate' || key === 'ejectionJitter' ? fraction(config, key) : nonNegative(config, key, 0);
  }
  return {
    hosts,
    discover,
    picker: picker as PickerName,
    fallbackToPrimary,
    // A starved host is explored every eighth of it: below 100 ms a slow host would get a read
    // every few ms (27-31% of reads for a host 20 ms slower at 1 ms).
    latencyStaleMillis: atLeast(config, 'latencyStaleMillis', 2000, 100),
    errorDecayMillis: positive(config, 'errorDecayMillis', 30_000),
    random: random as Random,
    retryReads,
    healthCheckIntervalMillis: nonNegative(config, 'healthCheckIntervalMillis', 5000),
    healthCheckTimeoutMillis: positive(config, 'healthCheckTimeoutMillis', 2000),
    maxReplicationLagMillis: optional(config, 'maxReplicationLagMillis'),
    consistency,
    queryTimeoutMillis: optional(config, 'queryTimeoutMillis'),
    maxWaitingClients: optional(config, 'maxWaitingClients'),
    hedge: hedgeOptions(config['hedge']),
    health: health as unknown as HealthOptions,
    telemetry: telemetryOptions(config['telemetry']),
    detectRoles: bool(config, 'detectRoles', true),
    readOnlyReplicas: bool(config, 'readOnlyReplicas', true),
    shared,
    discovery,
    targetSessionAttrs: targetSessionAttrs(config['targetSessionAttrs']),
    drainTimeoutMillis: nonNegative(config, 'drainTimeoutMillis', 30_000),
  };
}

function discoveryOption(value: unknown): DiscoveryProvider | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || typeof (value as DiscoveryProvider).discover !== 'function') {
    throw new ConfigError('discovery', 'must be a discovery provider: dnsDiscovery({ name }), patroniDiscovery({ urls }) or { kind, discover(signal) }');
  }
  const interval = (value as DiscoveryProvider).intervalMillis;
  if (interval !== undefined && (typeof interval !== 'number' || !(interval >= 10 && interval <= 2 ** 31 - 1))) {
    throw new ConfigError('discovery.intervalMillis', 'must be a number of ms from 10 to 2147483647');
  }
  return value as DiscoveryProvider;
}

function targetSessionAttrs(value: unknown): TargetSessionAttrs {
  if (value === undefined) return 'any';
  if (!(TARGET_SESSION_ATTRS as readonly unknown[]).includes(value)) throw new ConfigError('targetSessionAttrs', `must be one of ${TARGET_SESSION_ATTRS.join(', ')}`);
  return value as TargetSessionAttrs;
}

/**
 * One host added after construction (`addHost`, discovery), normalised like the configured ones:
 * the pool's shared driver options apply, the host's own override them.
 */
export function addedHostSpec<O extends object>(spec: ClusterSpec<O>, driver: DriverSpec<O>, value: unknown, role: HostRole = 'replica'): HostSpec<O> {
  return hostSpec(role, 'host', value, spec.shared as Record<string, unknown>, driver);
}

/** Options of hedged reads (see `hedge`). */
export interface HedgeOptions {
  /** Delay before the second request, ms, or `'p95'`: the 95th percentile of recent replica reads. */
  afterMillis: number | 'p95';
  /** Most hedges as a share of reads, in (0, 1]. Default 0.05. */
  maxExtraLoad?: number;
}

function hedgeOptions(value: unknown): Required<HedgeOptions> | undefined {
  if (value === undefined || value === false) return undefined;
  if (typeof value !== 'object' || value === null) throw new ConfigError('hedge', "must be { afterMillis: number | 'p95', maxExtraLoad?: number }");
  for (const key of Object.keys(value)) {
    if (key !== 'afterMillis' && key !== 'maxExtraLoad') throw unknownKey(`hedge.${key}`, ['afterMillis', 'maxExtraLoad'], key);
  }
  const { afterMillis, maxExtraLoad = 0.05 } = value as HedgeOptions;
  if (afterMillis !== 'p95' && (typeof afterMillis !== 'number' || !Number.isFinite(afterMillis) || afterMillis < 0 || afterMillis > 2 ** 31 - 1)) {
    throw new ConfigError('hedge.afterMillis', "must be a number of ms from 0 to 2147483647 (what a timer takes), or 'p95'");
  }
  if (typeof maxExtraLoad !== 'number' || !(maxExtraLoad > 0 && maxExtraLoad <= 1)) throw new ConfigError('hedge.maxExtraLoad', 'must be a number in (0, 1]');
  return { afterMillis, maxExtraLoad };
}

function telemetryOptions(value: unknown): TelemetryOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return {};
  if (typeof value !== 'object' || value === null) throw new ConfigError('telemetry', 'must be true, false or { tracerProvider?, meterProvider?, queryText? }');
  for (const key of Object.keys(value)) {
    if (key !== 'tracerProvider' && key !== 'meterProvider' && key !== 'queryText') throw new ConfigError(`telemetry.${key}`, 'is not a known option');
  }
  const q = (value as TelemetryOptions).queryText;
  if (q !== undefined && typeof q !== 'boolean') throw new ConfigError('telemetry.queryText', 'must be a boolean');
  return value as TelemetryOptions;
}

function bool(config: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = config[key] ?? fallback;
  if (typeof v !== 'boolean') throw new ConfigError(key, 'must be a boolean');
  if (key === 'detectRoles' && v === false && (config['hosts'] !== undefined || config['discovery'] !== undefined)) throw new ConfigError(key, 'cannot be false with `hosts`: roles would never be known');
  return v;
}

function nonNegative(config: Record<string, unknown>, key: string, fallback: number): number {
  const v = config[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(key, 'must be a finite number >= 0');
  return v;
}

function optional(config: Record<string, unknown>, key: string): number | undefined {
  return config[key] === undefined ? undefined : nonNegative(config, key, 0);
}

function fraction(config: Record<string, unknown>, key: string): number {
  const v = config[key];
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new ConfigError(key, 'must be a number in [0, 1]');
  return v;
}

function hostSpec<O extends object>(role: HostRole, path: string, value: unknown, shared: Record<string, unknown>, driver: DriverSpec<O>): HostSpec<O> {
  let own: Record<string, unknown>;
  if (typeof value === 'string') {
    own = { ...(driver.fromUrl(value) as Record<string, unknown>) };
    for (const key of Object.keys(own)) checkDriverValue(driver, path, own[key], key);
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    own = {};
    for (const key of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[key];
      if (HOST_EXTRA_KEYS.has(key)) continue;
      if (!driver.optionKeys.has(key)) throw unknownKey(`${path}.${key}`, [...HOST_EXTRA_KEYS, ...driver.optionKeys], key);
      if (v === undefined) continue;
      checkDriverValue(driver, `${path}.${key}`, v, key);
      own[key] = v;
    }
    // pg keeps `password` non-enumerable on its options; copy it explicitly if present.
    const pw = Object.getOwnPropertyDescriptor(value, 'password');
    if (pw && !pw.enumerable) own['password'] = pw.value;
  } else {
    throw new ConfigError(path, 'must be a connection string or an options object');
  }
  const extras = (typeof value === 'object' && value !== null ? value : {}) as HostExtras;
  const weight = extras.weight ?? 1;
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) throw new ConfigError(`${path}.weight`, 'must be a finite number > 0');
  if (extras.name !== undefined && (typeof extras.name !== 'string' || extras.name === '')) throw new ConfigError(`${path}.name`, 'must be a non-empty string');
  const options = { ...shared, ...own } as O;
  const capacity = (options as Record<string, unknown>)[driver.capacityKey] ?? driver.defaultCapacity;
  return { role, name: extras.name ?? driver.describe(options), explicitName: extras.name !== undefined, weight, capacity: capacity as number, options };
}

function checkDriverValue<O extends object>(driver: DriverSpec<O>, path: string, value: unknown, key = path): void {
  const reason = driver.check?.(key, value);
  if (reason !== undefined) throw new ConfigError(path, reason);
}

/** A finite number >= `min` (> 0 when `min` is 0), or `fallback` when unset. */
function atLeast(config: Record<string, unknown>, key: string, fallback: number, min: number): number {
  const v = config[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v <= 0) throw new ConfigError(key, `must be a finite number ${min > 0 ? `>= ${min}` : '> 0'}`);
  return v;
}

function positive(config: Record<string, unknown>, key: string, fallback: number): number {
  return atLeast(config, key, fallback, 0);
}

function unknownKey(path: string, known: readonly string[], key = path): ConfigError {
  const guess = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
  return new ConfigError(path, `is not a known option${guess ? ` (did you mean "${guess}"?)` : ''}`);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** Checks used by drivers for common numeric options. */
export function checkNonNegativeInteger(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? undefined : 'must be an integer >= 0';
}

/** Splits "host:port" (the port is after the last colon). */
export function splitHostPort(name: string): [string, number] {
  const i = name.lastIndexOf(':');
  if (i < 0) return [name, 0];
  const host = name.slice(0, i);
  return [host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, Number(name.slice(i + 1)) || 0];
}

/** The database named by a connection URL's path, or undefined. */
export function databaseFromUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return decodeURIComponent(new URL(url).pathname.slice(1)) || undefined;
  } catch {
    return undefined; // not a URL (e.g. a libpq keyword string)
  }
}

/** What a face's connect()/getConnection() returns without a role: see the `connectRole` option. */
export type ConnectRole = 'primary' | 'replica' | 'auto';

/** Takes the face option `connectRole` out of a config (any form); validates it. */
export function takeConnectRole<T>(config: T): { connectRole: ConnectRole; rest: T } {
  if (typeof config !== 'object' || config === null) return { connectRole: 'primary', rest: config };
  // target_session_attrs read-only, standby and prefer-standby lease replicas, as libpq connects to one.
  const tsa = (config as { targetSessionAttrs?: unknown }).targetSessionAttrs;
  const fallback: ConnectRole = tsa === 'read-only' || tsa === 'standby' || tsa === 'prefer-standby' ? 'replica' : 'primary';
  if (!('connectRole' in config)) return { connectRole: fallback, rest: config };
  const { connectRole, ...rest } = config as T & { connectRole?: unknown };
  if (connectRole !== undefined && connectRole !== 'primary' && connectRole !== 'replica' && connectRole !== 'auto') {
    throw new ConfigError('connectRole', "must be 'primary', 'replica' or 'auto'");
  }
  return { connectRole: (connectRole as ConnectRole | undefined) ?? fallback, rest: rest as T };
}
