// What p2c-pool needs to know about mysql2: its option keys, host naming, and which errors are the host's fault.

import type { PoolOptions } from 'mysql2';
import { checkNonNegativeInteger, databaseFromUrl, splitHostPort, type DriverSpec } from '../../src/config.js';
import type { ErrorKind } from '../../src/driver.js';

/** Every mysql2 connection and pool option (mysql2 3.x). */
const MYSQL_OPTION_KEYS = new Set([
  'user', 'password', 'password1', 'password2', 'password3', 'passwordSha1', 'database', 'charset', 'charsetNumber', 'host', 'port',
  'localAddress', 'socketPath', 'timezone', 'connectTimeout', 'stringifyObjects', 'insecureAuth', 'infileStreamFactory',
  'supportBigNumbers', 'bigNumberStrings', 'dateStrings', 'debug', 'trace', 'multipleStatements', 'flags', 'queryFormat', 'ssl',
  'rowsAsArray', 'enableKeepAlive', 'keepAliveInitialDelay', 'compress', 'authSwitchHandler', 'connectAttributes', 'isServer',
  'maxPreparedStatements', 'namedPlaceholders', 'nestTables', 'stream', 'uri', 'decimalNumbers', 'authPlugins', 'typeCast',
  'jsonStrings', 'disableEval', 'gracefulEnd', 'Promise', 'enableCleartextPlugin', 'connectionLimit', 'maxIdle', 'idleTimeout',
  'queueLimit', 'waitForConnections', 'resetOnRelease',
]);

export const mysqlDriverSpec: DriverSpec<PoolOptions> = {
  optionKeys: MYSQL_OPTION_KEYS,
  capacityKey: 'connectionLimit',
  defaultCapacity: 10,
  fromUrl: (uri) => ({ uri }),
  describe: describeHost,
  endpoint(options) {
    const [address, port] = splitHostPort(describeHost(options));
    return { system: 'mysql', address, port, database: options.database ?? databaseFromUrl(options.uri) };
  },
  check(key, value) {
    if (key === 'connectionLimit') return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? undefined : 'must be an integer >= 1';
    if (key === 'port') {
      const n = typeof value === 'string' ? Number(value) : value;
      return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535 ? undefined : 'must be a port number (1-65535)';
    }
    if (key === 'connectTimeout' || key === 'queueLimit' || key === 'maxIdle' || key === 'idleTimeout') return checkNonNegativeInteger(value);
    if (key === 'uri') return typeof value === 'string' ? uriProblem(value) : 'must be a string';
    if (key === 'host' || key === 'user' || key === 'database') return typeof value === 'string' ? undefined : 'must be a string';
    return undefined;
  },
};

/** Why mysql2 could not parse a URI, or undefined; never repeats the URI (it may hold a password). */
export function uriProblem(value: string): string | undefined {
  try {
    new URL(value);
    return undefined;
  } catch {
    return 'is not a valid URL';
  }
}

/** `host:port` of a MySQL host, from its options or URI; never includes credentials. */
export function describeHost(options: PoolOptions | undefined): string {
  let host = options?.host;
  let port: string | number | undefined = options?.port;
  if (options?.uri) {
    try {
      const url = new URL(options.uri);
      host ??= url.hostname || undefined;
      port ??= url.port || undefined;
    } catch {
      // not a URL: use the discrete options
    }
  }
  if (options?.socketPath && host === undefined) return options.socketPath;
  return `${host ?? 'localhost'}:${port ?? 3306}`;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND',
  'EAI_AGAIN', 'ECONNABORTED', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_PACKETS_OUT_OF_ORDER']);
/** mysql2's own pool refusing to queue or closed: the client's doing. */
const CLIENT_MESSAGES = new Set(['Queue limit reached.', 'No connections available.', 'Pool is closed.']);
/** Server errnos that blame the server: too many connections, shutdown, gone away, lost, killed. */
const HOST_ERRNOS = new Set([1040, 1053, 1077, 1078, 1079, 1080, 1152, 1158, 1159, 1160, 1161, 1927, 2002, 2003, 2006, 2013, 4031]);
/** Errnos of a read-only server refusing a write: read_only option, read-only transaction, read-only mode. */
const READ_ONLY_ERRNOS = new Set([1290, 1792, 1836]);

/** True when `err` says the host failed rather than the statement. */
export function isHostError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as { code?: unknown; errno?: unknown; fatal?: unknown };
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (typeof e.errno === 'number' && HOST_ERRNOS.has(e.errno)) return true;
  // A fatal error with no server errno is a connection failure (mysql2 marks them fatal), except
  // a statement timeout, which is the client giving up (see errorKind).
  return e.fatal === true && typeof e.errno !== 'number' && e.code !== 'PROTOCOL_SEQUENCE_TIMEOUT';
}

/**
 * Whose doing a mysql2 error is (see ErrorKind). While connecting, everything but mysql2's own
 * pool limits is the host's: refused, reset, timed out, and logins it refuses (1045, 1044, 1049).
 * A statement `timeout` (PROTOCOL_SEQUENCE_TIMEOUT) is the client's giving up: the host is asked.
 */
export function errorKind(err: unknown, connecting: boolean): ErrorKind {
  if (!(err instanceof Error)) return 'statement';
  if (CLIENT_MESSAGES.has(err.message)) return 'client';
  // connectTimeout (ETIMEDOUT) may be the client's own event loop: the host is asked first.
  if (connecting && (err as { code?: unknown }).code === 'ETIMEDOUT') return 'timeout';
  if (connecting) return 'host';
  if ((err as { code?: unknown }).code === 'PROTOCOL_SEQUENCE_TIMEOUT') return 'timeout';
  return isHostError(err) ? 'host' : 'statement';
}

export function isReadOnlyError(err: unknown): boolean {
  const errno = (err as { errno?: unknown } | undefined)?.errno;
  return typeof errno === 'number' && READ_ONLY_ERRNOS.has(errno);
}
