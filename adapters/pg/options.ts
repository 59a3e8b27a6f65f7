// What p2c-pool needs to know about pg: its option keys, host naming, and which errors are the host's fault.
// Everything pg-specific the core asks for through DriverSpec lives here.

import type pg from 'pg';
import { checkNonNegativeInteger, databaseFromUrl, splitHostPort, type DriverSpec } from '../../src/config.js';

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
    const database = options.database ?? databaseFromUrl(options.connectionString) ?? process.env['PGDATABASE'];
    return { system: 'postgresql', address, port, database };
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
    if (STRINGS.has(key)) return typeof value === 'string' ? undefined : 'must be a string';
    if (key === 'connectionString') return typeof value === 'string' ? undefined : 'must be a string';
    return undefined;
  },
};

/** `host:port` of a pg host, from its options or connection string; never includes credentials. */
export function describeHost(options: pg.PoolConfig | undefined): string {
  let host = options?.host;
  let port: string | number | undefined = options?.port;
  if (options?.connectionString) {
    try {
      const url = new URL(options.connectionString);
      host ??= decodeURIComponent(url.hostname) || url.searchParams.get('host') || undefined;
      port ??= url.port || undefined;
    } catch {
      // Not a URL (e.g. a libpq keyword string): fall back to the discrete options.
    }
  }
  host ??= process.env['PGHOST'] ?? 'localhost';
  port ??= process.env['PGPORT'] ?? 5432;
  return `${host}:${port}`;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTDOWN', 'ENETDOWN']);
/** SQLSTATEs that blame the server, not the statement: shutdowns and connection limits. */
const HOST_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '53400']);
const HOST_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed and is not queryable|Connection ended|terminating connection)/;

/**
 * True when `err` says the host failed (refused, reset, terminated, timed out, shut down, too many
 * connections) rather than the statement (syntax, constraint, permission...).
 */
export function isHostError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || HOST_SQLSTATES.has(code) || code.startsWith('08')) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return false; // any other SQLSTATE is the statement's doing
  }
  return HOST_MESSAGES.test(err.message);
}

/** SQLSTATE of "cannot execute ... in a read-only transaction", raised by a hot standby. */
export const READ_ONLY_SQLSTATE = '25006';
