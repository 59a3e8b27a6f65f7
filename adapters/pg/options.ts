// What p2c-pool needs to know about pg: its option keys, host naming, and which errors are the host's fault.
// Everything pg-specific the core asks for through DriverSpec lives here.

import type pg from 'pg';
import { checkNonNegativeInteger, splitHostPort, type DriverSpec } from '../../src/config.js';
import type { ErrorKind } from '../../src/driver.js';
import { ConfigError } from '../../src/errors.js';
import { parse as parseConnectionString } from 'pg-connection-string';

/** Every pg.Pool and pg.Client option (pg 8 / pg-pool 3). */
const PG_OPTION_KEYS = new Set([
  // pg.Client
  'user', 'database', 'password', 'port', 'host', 'connectionString', 'keepAlive', 'stream', 'statement_timeout',
  'ssl', 'query_timeout', 'lock_timeout', 'keepAliveInitialDelayMillis', 'idle_in_transaction_session_timeout',
  'application_name', 'fallback_application_name', 'connectionTimeoutMillis', 'types', 'options', 'client_encoding',
  'binary', 'parseInputDatesAsUTC', 'enableChannelBinding', 'sslnegotiation', 'pipeline', 'replication', 'parseInt8',
  'sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'lookup',
  // pg-pool
  'max', 'min', 'idleTimeoutMillis', 'log', 'Promise', 'allowExitOnIdle', 'maxUses', 'maxLifetimeSeconds', 'Client',
  'onConnect', 'verify', 'poolSize',
]);

const NON_NEGATIVE = new Set(['min', 'idleTimeoutMillis', 'connectionTimeoutMillis', 'query_timeout', 'lock_timeout',
  'keepAliveInitialDelayMillis', 'idle_in_transaction_session_timeout', 'maxLifetimeSeconds']);
const FUNCTIONS = new Set(['log', 'onConnect', 'verify', 'stream', 'Client', 'lookup']);
const STRINGS = new Set(['user', 'database', 'host', 'connectionString', 'application_name', 'fallback_application_name', 'options', 'client_encoding']);

export const pgDriverSpec: DriverSpec<pg.PoolConfig> = {
  optionKeys: PG_OPTION_KEYS,
  capacityKey: 'max',
  defaultCapacity: 10,
  fromUrl: (url) => ({ connectionString: url }),
  describe: describeHost,
  endpoint(options) {
    const [address, port] = splitHostPort(describeHost(options));
    return { system: 'postgresql', address, port, database: databaseOf(options) };
  },
  check(key, value) {
    if (key === 'max' || key === 'poolSize') {
      return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? undefined : 'must be an integer >= 1';
    }
    if (key === 'maxUses') return typeof value === 'number' && value >= 1 ? undefined : 'must be a number >= 1';
    if (key === 'port') {
      const n = typeof value === 'string' ? Number(value) : value;
      return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535 ? undefined : 'must be a port number (1-65535)';
    }
    if (NON_NEGATIVE.has(key)) return value === undefined ? undefined : checkNonNegativeInteger(value);
    if (key === 'statement_timeout') return value === false || checkNonNegativeInteger(value) === undefined ? undefined : 'must be false or an integer >= 0';
    if (FUNCTIONS.has(key)) return typeof value === 'function' ? undefined : 'must be a function';
    if (key === 'connectionString') return typeof value === 'string' ? connectionStringProblem(value) : 'must be a string';
    if (STRINGS.has(key)) return typeof value === 'string' ? undefined : 'must be a string';
    return undefined;
  },
};

/**
 * Why pg could not use a connection string, or undefined when it can. Parsed with pg's own parser
 * now, because pg parses it only when connecting, where a bad URL throws an uncatchable TypeError.
 * The reason never repeats the string (it may hold a password).
 */
export function connectionStringProblem(value: string): string | undefined {
  try {
    const parsed = parseConnectionString(value);
    // pg reads anything else as a URL relative to postgres://base: a libpq keyword string would
    // connect to a host named "base" with the whole string (password included) as the database.
    if (parsed.host === 'base' && !/^(postgres(ql)?:\/\/|socket:)/i.test(value.trim())) {
      return 'is not a postgres:// URL (pg does not understand libpq keyword strings such as "host=... dbname=...")';
    }
    return undefined;
  } catch (err) {
    return `is not a valid connection string (${err instanceof Error ? err.message.replace(/:\s.*$/s, '') : 'unparsable'})`;
  }
}

/**
 * Host, port and database of a connection string, read by pg's own parser (pg-connection-string),
 * so that `?host=/var/run/postgresql`, `?port=6543`, `socket:` URLs and keyword strings mean what
 * they mean to pg. As in pg, what the string says wins over the discrete options.
 */
function fromConnectionString(connectionString: string | undefined): { host?: string; port?: string; database?: string } {
  if (!connectionString) return {};
  try {
    const parsed = parseConnectionString(connectionString);
    const out: { host?: string; port?: string; database?: string } = {};
    if (parsed.host) out.host = parsed.host;
    if (parsed.port) out.port = String(parsed.port);
    if (parsed.database) out.database = parsed.database;
    return out;
  } catch {
    return {}; // unparsable strings are refused by the options check before this is asked
  }
}

/** `host:port` of a pg host, from its connection string or options, as pg resolves them; never includes credentials. */
export function describeHost(options: pg.PoolConfig | undefined): string {
  const parsed = fromConnectionString(options?.connectionString);
  const host = parsed.host ?? options?.host ?? process.env['PGHOST'] ?? 'localhost';
  const port = parsed.port ?? options?.port ?? process.env['PGPORT'] ?? 5432;
  return `${host.includes(':') ? `[${host}]` : host}:${port}`; // an IPv6 address in brackets
}

/** The database a pg host connects to, as pg resolves it (connection string, option, PGDATABASE, then the user). */
export function databaseOf(options: pg.PoolConfig): string | undefined {
  return fromConnectionString(options.connectionString).database ?? options.database ?? process.env['PGDATABASE'];
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTDOWN', 'ENETDOWN']);
/** SQLSTATEs that blame the server, not the statement: shutdowns and connection limits. */
const HOST_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '53400']);
const HOST_MESSAGES = /^(Connection terminated|Client has encountered a connection error|Client was closed and is not queryable|Connection ended|terminating connection)/;
/** pg-pool's own queue wait (connectionTimeoutMillis while all connections are busy): the client's queueing. */
const QUEUE_TIMEOUT = 'timeout exceeded when trying to connect';
/** pg-pool's and pg's connect timers (connectionTimeoutMillis). */
const CONNECT_TIMEOUT = /due to conn(ect|ection) timeout/;
/** pg's query_timeout: the client stopped waiting; a slow statement or a silent host. */
const QUERY_TIMEOUT = 'Query read timeout';

/**
 * True when `err` says the host failed (refused, reset, terminated, timed out, shut down, too many
 * connections) rather than the statement (syntax, constraint, permission...).
 */
export function isHostError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // A server that answers a statement with severity ERROR is up and serving: its class 08 codes
  // then come from postgres_fdw or dblink about *their* remote server. Failures of this
  // connection itself come as FATAL (shutdown, too many connections) or from the socket.
  if ((err as { severity?: unknown }).severity === 'ERROR') return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    // 08P01 "invalid message format": the client sent something the protocol cannot carry (a NUL byte).
    if (NETWORK_CODES.has(code) || HOST_SQLSTATES.has(code) || (code.startsWith('08') && code !== '08P01')) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return false; // any other SQLSTATE is the statement's doing
  }
  return HOST_MESSAGES.test(err.message);
}

/**
 * Whose doing a pg error is (see ErrorKind). While connecting, everything but pg-pool's own queue
 * wait is the host's: refused, reset, timed out, and logins it refuses (28000, 28P01, 3D000).
 */
export function errorKind(err: unknown, connecting: boolean): ErrorKind {
  if (!(err instanceof Error)) return 'statement';
  if (err.message === QUEUE_TIMEOUT) return 'client';
  // A connect that timed out may be the client's own doing (its event loop blocked past the
  // timer): the host is asked before it is blamed.
  if (connecting && (CONNECT_TIMEOUT.test(err.message) || (err as { code?: unknown }).code === 'ETIMEDOUT')) return 'timeout';
  if (connecting) return 'host';
  if (err.message === QUERY_TIMEOUT) return 'timeout';
  const code = (err as { code?: unknown }).code;
  if (code === '08P01') return 'client';
  if (isHostError(err)) return 'host';
  if (/conflict with recovery/.test(err.message)) return 'conflict';
  return 'statement';
}

/** SQLSTATE of "cannot execute ... in a read-only transaction", raised by a hot standby. */
export const READ_ONLY_SQLSTATE = '25006';

/** What a libpq multi-host URL says: one single-host URL per host, and the libpq-only parameters. */
export interface MultiHostUrl {
  /** One URL per host, credentials, database and parameters kept; each parsed by pg's own parser. */
  readonly urls: readonly string[];
  readonly targetSessionAttrs: string | undefined;
  readonly loadBalanceHosts: string | undefined;
}

/** Parameters libpq understands and pg does not: the pool takes them out and honours them. */
const LIBPQ_ONLY = ['target_session_attrs', 'load_balance_hosts'];

/**
 * Splits a libpq multi-host URL (`postgres://u:pw@h1:5432,h2:5433,h3/db?target_session_attrs=any`,
 * or `postgres:///db?host=h1,h2&port=5432,5433`) into one URL per host; undefined for a single-host
 * string (which then behaves exactly as in pg). Only the host list is split here: every resulting
 * URL is read by pg-connection-string, pg's own parser, as pg would read it.
 */
export function splitMultiHostUrl(value: string): MultiHostUrl | undefined {
  const m = /^(postgres(?:ql)?:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(value.trim());
  if (!m) return undefined;
  const [, scheme, authority, path, query = ''] = m as unknown as [string, string, string, string, string | undefined];
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at + 1) : '';
  const hostList = splitList(authority.slice(at + 1)).map((h) => h.trim());
  if (hostList.length > 1 && hostList.some((h) => h === '')) throw new Error('the host list has an empty entry');
  const params = new URLSearchParams(query.slice(1));
  const paramHosts = params.get('host')?.split(',').map((h) => h.trim()) ?? [];
  const paramPorts = params.get('port')?.split(',').map((p) => p.trim()) ?? [];
  if (hostList.length <= 1 && paramHosts.length <= 1) return undefined;
  if (hostList.length > 1 && params.has('host')) throw new Error('hosts are listed both in the URL and in its host parameter');
  if (paramHosts.length > 1 && paramHosts.some((h) => h === '')) throw new Error('the host parameter has an empty entry');
  const targetSessionAttrs = params.get('target_session_attrs') ?? undefined;
  const loadBalanceHosts = params.get('load_balance_hosts') ?? undefined;
  for (const key of LIBPQ_ONLY) params.delete(key);
  let urls: string[];
  if (hostList.length > 1) {
    const rest = params.size > 0 ? `?${params.toString()}` : '';
    urls = hostList.map((h) => `${scheme}${userinfo}${h}${path}${rest}`);
  } else {
    // libpq: one port for every host, or one per host.
    if (paramPorts.length > 1 && paramPorts.length !== paramHosts.length) throw new Error('the port parameter lists a number of ports other than the number of hosts');
    urls = paramHosts.map((h, i) => {
      const own = new URLSearchParams(params);
      own.set('host', h);
      const port = paramPorts.length > 1 ? paramPorts[i] : paramPorts[0];
      if (port !== undefined && port !== '') own.set('port', port);
      else own.delete('port');
      return `${scheme}${authority}${path}?${own.toString()}`;
    });
  }
  for (const u of urls) {
    const problem = connectionStringProblem(u);
    if (problem !== undefined) throw new Error(`one host's URL ${problem}`);
  }
  return { urls, targetSessionAttrs, loadBalanceHosts };
}

/** Splits `h1:1,[::1]:2,h3` at the commas outside brackets. */
function splitList(hosts: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < hosts.length; i++) {
    const c = hosts[i];
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      out.push(hosts.slice(start, i));
      start = i + 1;
    }
  }
  out.push(hosts.slice(start));
  return out;
}

/** pg-connection-string's reading of a URL, restricted to what pg takes from it. */
function urlOptions(url: string): Record<string, unknown> {
  const parsed = parseConnectionString(url) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (value === undefined || value === null || value === '' || !PG_OPTION_KEYS.has(key)) continue;
    out[key] = value;
  }
  return out;
}

const LOAD_BALANCE = { random: 'p2c', disable: 'ordered' } as const;

/**
 * The multi-host form of a config that lists several hosts in libpq URL syntax (as `connectionString`,
 * `primary` or a `hosts` entry): every listed host becomes an entry of `hosts` (roles discovered),
 * what the URL says besides the hosts (user, password, database, ssl...) becomes the options shared
 * by every host (discovered and added ones too), `target_session_attrs` becomes `targetSessionAttrs`
 * and `load_balance_hosts` the picker (`random` p2c, `disable` ordered), unless set explicitly.
 * Configs without such a URL are returned unchanged.
 */
export function expandMultiHostUrls<T>(config: T): T {
  if (typeof config !== 'object' || config === null) return config;
  const c = config as Record<string, unknown>;
  const split = (value: unknown, path: string): MultiHostUrl | undefined => {
    if (typeof value !== 'string') return undefined;
    try {
      return splitMultiHostUrl(value);
    } catch (err) {
      throw new ConfigError(path, `is not a valid multi-host connection string (${(err as Error).message})`);
    }
  };
  const top = split(c['connectionString'], 'connectionString');
  const primary = split(c['primary'], 'primary');
  const listed = Array.isArray(c['hosts']) ? (c['hosts'] as unknown[]).map((h, i) => split(h, `hosts[${i}]`)) : [];
  const found = [top, primary, ...listed].filter((x): x is MultiHostUrl => x !== undefined);
  if (found.length === 0) return config;
  if (top && ('primary' in c || 'replicas' in c || 'hosts' in c)) {
    throw new ConfigError('connectionString', 'lists several hosts: it cannot be combined with primary, replicas or hosts');
  }
  const out: Record<string, unknown> = { ...c };
  delete out['connectionString'];
  delete out['primary'];
  delete out['replicas'];
  const hosts: unknown[] = [];
  const seen = new Set<string>();
  let shared: Record<string, unknown> | undefined;
  const take = (m: MultiHostUrl) => {
    for (const url of m.urls) {
      // Each host keeps its own URL, read by pg as pg reads it (its login, database, parameters).
      // A server listed twice is one host: two would both claim the primary role.
      const name = describeHost({ connectionString: url });
      if (seen.has(name)) continue;
      seen.add(name);
      hosts.push(url);
      // Hosts found later (discovery, addHost) get the first URL's options, as far as they are
      // options pg.Pool takes as values (a numeric URL parameter stays in that host's URL only).
      if (shared === undefined) {
        const { host: _h, port: _p, ...rest } = urlOptions(url);
        shared = Object.fromEntries(Object.entries(rest).filter(([k, v]) => pgDriverSpec.check?.(k, v) === undefined));
      }
    }
  };
  if (top) take(top);
  if (c['primary'] !== undefined) (primary ? take(primary) : hosts.push(c['primary']));
  if (Array.isArray(c['replicas'])) hosts.push(...(c['replicas'] as unknown[]));
  if (Array.isArray(c['hosts'])) (c['hosts'] as unknown[]).forEach((h, i) => (listed[i] ? take(listed[i]!) : hosts.push(h)));
  // As in pg, what the connection string says wins over the discrete options.
  Object.assign(out, shared);
  out['hosts'] = hosts;
  const first = found[0]!;
  if (first.targetSessionAttrs !== undefined && out['targetSessionAttrs'] === undefined) out['targetSessionAttrs'] = first.targetSessionAttrs;
  if (first.loadBalanceHosts !== undefined && out['picker'] === undefined) {
    const picker = (LOAD_BALANCE as Record<string, string>)[first.loadBalanceHosts];
    if (picker === undefined) throw new ConfigError('load_balance_hosts', "must be 'random' or 'disable'");
    out['picker'] = picker;
  }
  return out as T;
}
