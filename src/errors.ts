// Typed errors of p2c-pool: one base class with a stable `code` and a `cause`.
// Messages name hosts as host:port only; they never carry a password or a connection string.

/** Stable machine-readable codes; assert on these, not on message text. */
export type PoolErrorCode =
  | 'P2C_CONFIG'
  | 'P2C_HOST_UNAVAILABLE'
  | 'P2C_NO_HOST_AVAILABLE'
  | 'P2C_NO_PRIMARY'
  | 'P2C_POOL_OVERLOADED'
  | 'P2C_POOL_ENDED'
  | 'P2C_FOREIGN_TRANSACTION';

/**
 * Base class of every error this library raises itself, with a stable `p2cCode`. Where the driver
 * has an error of its own for the case (a host that failed, an ended pool), the caller gets the
 * driver's error unchanged (class, message, `code`, `errno`, `sqlState`, `fatal`) with `p2cCode`
 * (and `host`) added as non-enumerable properties; `instanceof` the matching class is true for it.
 */
export class PoolError extends Error {
  /** For this library's own errors the same as `p2cCode`; on a driver's error, the driver's code. */
  readonly code: string | undefined;
  readonly p2cCode: PoolErrorCode;
  /** The p2cCode of this class's errors; undefined on PoolError itself (any p2c error). */
  static readonly p2cCode: PoolErrorCode | undefined = undefined;

  constructor(code: PoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.p2cCode = code;
  }

  /** True for instances, and for a driver's error marked with this class's p2cCode (see markError). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    const code = p2cCodeOf(value);
    if (code === undefined) return false;
    if (this === PoolError) return true;
    // Only the library's own classes match a marked driver error; a user's subclass matches its own instances.
    return Object.prototype.hasOwnProperty.call(this, 'p2cCode') && this.p2cCode === code;
  }
}

/** The p2cCode of an error this library raised or marked, else undefined. */
export function p2cCodeOf(value: unknown): PoolErrorCode | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const code = (value as { p2cCode?: unknown }).p2cCode;
  return typeof code === 'string' && code.startsWith('P2C_') ? (code as PoolErrorCode) : undefined;
}

/**
 * Adds p2c's `p2cCode` and the `host` it happened on to a driver's error, as non-enumerable
 * properties: the error still prints, serialises and compares as the driver's. A frozen error is
 * left as it is; returns false then.
 */
export function markError(err: Error, p2cCode: PoolErrorCode | undefined, host?: string): boolean {
  try {
    if (host !== undefined && !Object.prototype.hasOwnProperty.call(err, 'host')) {
      Object.defineProperty(err, 'host', { value: host, enumerable: false, configurable: true, writable: true });
    }
    if (p2cCode !== undefined) Object.defineProperty(err, 'p2cCode', { value: p2cCode, enumerable: false, configurable: true, writable: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * Invalid options. `key` names the offending option path, e.g. `replicas[1].weight`.
 * @example try { new Pool({ primary: 'x', replcas: [] }) } catch (e) { e.key === 'replcas' }
 */
export class ConfigError extends PoolError {
  static override readonly p2cCode = 'P2C_CONFIG';
  readonly key: string;
  constructor(key: string, message: string) {
    super('P2C_CONFIG', `Invalid option "${key}": ${message}`);
    this.key = key;
  }
}

/**
 * A connection-level failure on one host (refused, reset, timed out, shut down). In the multi-host
 * form the caller gets the driver's own error, marked with `p2cCode` 'P2C_HOST_UNAVAILABLE' and
 * `host`, so `err.code === 'ECONNREFUSED'` and `err instanceof HostUnavailableError` both hold.
 * An instance of this class is made only when the driver's failure is not an extensible Error.
 */
export class HostUnavailableError extends PoolError {
  static override readonly p2cCode = 'P2C_HOST_UNAVAILABLE';
  readonly host: string;
  constructor(host: string, cause: unknown) {
    super('P2C_HOST_UNAVAILABLE', `Host ${host} is unavailable: ${describe(cause)}`, { cause });
    this.host = host;
  }
}

/** The error a caller gets for a host's failure: the driver's error marked (see HostUnavailableError). */
export function hostFailure(host: string, err: unknown): Error {
  if (err instanceof Error && (p2cCodeOf(err) === 'P2C_HOST_UNAVAILABLE' || markError(err, 'P2C_HOST_UNAVAILABLE', host))) return err;
  return new HostUnavailableError(host, err);
}

/** Snapshot of one host's state, attached to NoHostAvailableError. */
export interface HostStateSnapshot { readonly name: string; readonly role: string; readonly state: string }

/** No host can serve the request (every candidate is down, ejected or closed). */
export class NoHostAvailableError extends PoolError {
  static override readonly p2cCode = 'P2C_NO_HOST_AVAILABLE';
  readonly hosts: readonly HostStateSnapshot[];
  /** `cause`: the latest failure of a host that is out, when there is one (e.g. the driver's ECONNREFUSED). */
  constructor(what: string, hosts: readonly HostStateSnapshot[], cause?: unknown) {
    super('P2C_NO_HOST_AVAILABLE', `No host available for ${what} (${hosts.map((h) => `${h.name}: ${h.role}/${h.state}`).join(', ') || 'no hosts'})`, { cause });
    this.hosts = hosts;
  }
}

/** No primary is known right now, so writes cannot be served. */
export class NoPrimaryError extends PoolError {
  static override readonly p2cCode = 'P2C_NO_PRIMARY';
  /** `cause`: the latest failure of a host that is out, when there is one (e.g. the driver's ECONNREFUSED). */
  constructor(message = 'No primary host is available for writes', cause?: unknown) {
    super('P2C_NO_PRIMARY', message, { cause });
  }
}

/** The wait queue is full (`maxWaitingClients`). */
export class PoolOverloadedError extends PoolError {
  static override readonly p2cCode = 'P2C_POOL_OVERLOADED';
  constructor(message: string) {
    super('P2C_POOL_OVERLOADED', message);
  }
}

/**
 * The pool was used after `end()`. The caller gets the driver's own error for it (pg: "Cannot use
 * a pool after calling end on the pool"; mysql2: "Pool is closed."), marked with `p2cCode`
 * 'P2C_POOL_ENDED', for which `instanceof PoolEndedError` is true.
 */
export class PoolEndedError extends PoolError {
  static override readonly p2cCode = 'P2C_POOL_ENDED';
  constructor(message = 'Cannot use a pool after calling end on the pool') {
    super('P2C_POOL_ENDED', message);
  }
}

/**
 * A statement ran on a pooled connection that earlier use had left inside a transaction (e.g. a
 * client used after release()): it was not committed, the connection was discarded, and this is
 * reported instead of a success that would be rolled back.
 */
export class ForeignTransactionError extends PoolError {
  static override readonly p2cCode = 'P2C_FOREIGN_TRANSACTION';
  constructor(host: string) {
    super('P2C_FOREIGN_TRANSACTION', `The statement ran on a connection to ${host} left inside a transaction by earlier use; it was not committed and the connection was discarded`);
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${redact(cause.message)}` : redact(cause.message);
  }
  return redact(String(cause));
}

/** Removes anything shaped like user:password@ from a message. */
export function redact(text: string): string {
  // Up to the last '@' of the authority: a password may itself contain '@' or ':'.
  return text.replace(/(\/\/[^:/@\s]*:)[^/\s]*@/g, '$1***@').replace(/(password\s*[=:]\s*)\S+/gi, '$1***');
}
