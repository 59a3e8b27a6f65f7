// Typed errors of p2c-pool: one base class with a stable `code` and a `cause`.
// Messages name hosts as host:port only; they never carry a password or a connection string.

/** Stable machine-readable codes; assert on these, not on message text. */
export type PoolErrorCode =
  | 'P2C_CONFIG'
  | 'P2C_HOST_UNAVAILABLE'
  | 'P2C_NO_HOST_AVAILABLE'
  | 'P2C_NO_PRIMARY'
  | 'P2C_POOL_OVERLOADED'
  | 'P2C_POOL_ENDED';

/** Base class of every error this library raises itself. Server errors are passed through unchanged. */
export class PoolError extends Error {
  readonly code: PoolErrorCode;
  constructor(code: PoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * Invalid options. `key` names the offending option path, e.g. `replicas[1].weight`.
 * @example try { new Pool({ primary: 'x', replcas: [] }) } catch (e) { e.key === 'replcas' }
 */
export class ConfigError extends PoolError {
  readonly key: string;
  constructor(key: string, message: string) {
    super('P2C_CONFIG', `Invalid option "${key}": ${message}`);
    this.key = key;
  }
}

/** A connection-level failure on one host (refused, reset, timed out, shut down). `cause` is the driver's error. */
export class HostUnavailableError extends PoolError {
  readonly host: string;
  constructor(host: string, cause: unknown) {
    super('P2C_HOST_UNAVAILABLE', `Host ${host} is unavailable: ${describe(cause)}`, { cause });
    this.host = host;
  }
}

/** Snapshot of one host's state, attached to NoHostAvailableError. */
export interface HostStateSnapshot { readonly name: string; readonly role: string; readonly state: string }

/** No host can serve the request (every candidate is down, ejected or closed). */
export class NoHostAvailableError extends PoolError {
  readonly hosts: readonly HostStateSnapshot[];
  constructor(what: string, hosts: readonly HostStateSnapshot[]) {
    super('P2C_NO_HOST_AVAILABLE', `No host available for ${what} (${hosts.map((h) => `${h.name}: ${h.role}/${h.state}`).join(', ') || 'no hosts'})`);
    this.hosts = hosts;
  }
}

/** No primary is known right now, so writes cannot be served. */
export class NoPrimaryError extends PoolError {
  constructor(message = 'No primary host is available for writes') {
    super('P2C_NO_PRIMARY', message);
  }
}

/** The wait queue is full (`maxWaitingClients`). */
export class PoolOverloadedError extends PoolError {
  constructor(message: string) {
    super('P2C_POOL_OVERLOADED', message);
  }
}

/** The pool was used after `end()`. */
export class PoolEndedError extends PoolError {
  constructor(message = 'Cannot use a pool after calling end on the pool') {
    super('P2C_POOL_ENDED', message);
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
  return text.replace(/(\/\/[^:/@\s]*:)[^@\s]*@/g, '$1***@').replace(/(password\s*[=:]\s*)\S+/gi, '$1***');
}
