// The one interface between the core and a database driver: what differs between pg and mysql2.
// Everything else (routing, picking, retries, health, consistency) lives in the core, once.

import type { SqlDialect } from './routing.js';
import type { ProbeResult } from './monitor.js';

/** Callback with an optional value. */
export type Callback<T> = (err: Error | undefined, value?: T) => void;

/**
 * Whose doing an error is, which decides what the core does with it:
 * - 'host': the host failed or refused (refused, reset, terminated, shut down, too many
 *   connections, login refused): counts against the host; a read may go elsewhere.
 * - 'timeout': the client stopped waiting for an answer. A black-holed host and a slow statement
 *   look the same here, so the core asks the host itself (a probe) before blaming it.
 * - 'conflict': a replica cancelled a read to apply replication (recovery conflict): safe to
 *   re-run the read elsewhere; the host is healthy.
 * - 'client': the client's own doing (waiting in its own queue, a protocol error raised before
 *   sending): never counts against the host.
 * - 'statement': the server rejected the statement (syntax, constraint, permission...).
 */
export type ErrorKind = 'host' | 'timeout' | 'conflict' | 'client' | 'statement';

/**
 * A driver adapter. `P` is one host's driver pool (pg.Pool, a mysql2 pool), `C` a connection from it.
 * Positions (WAL LSN, GTID set) are opaque strings to the core.
 */
export interface Driver<P, C> {
  readonly dialect: SqlDialect;
  /**
   * Takes a connection from a host's pool, with the session read-only (`readOnly`: replica
   * sessions) or read-write, and an error listener attached for as long as it is leased.
   */
  acquire(pool: P, readOnly: boolean, callback: Callback<C>): void;
  /**
   * Gives a connection back and detaches the lease's error listener. The connection is destroyed
   * with `err` (or `true`), after an error event during the lease, or when it is still inside a
   * transaction, so no pooled connection is ever reused mid-transaction.
   */
  release(conn: C, err?: Error | boolean): void;
  /** Requests waiting for a connection in a host's pool. */
  waiting(pool: P): number;
  /** True the first time `conn` runs a statement for the core (its latency is not a load sample). */
  firstUse?(conn: C): boolean;
  /** Whether `conn` is inside a transaction now, when the driver can tell. */
  inTransaction?(conn: C): boolean;
  /** The driver's own error for a pool used after `end()` (its message, no extra code). */
  endedError(): Error;
  /** Whose doing `err` is; `connecting` when it came from acquiring a connection. */
  errorKind(err: unknown, connecting: boolean): ErrorKind;
  /** True when a replica refused a statement because it is read-only (SQLSTATE 25006, errno 1290/1792/1836). */
  isReadOnlyError(err: unknown): boolean;
  /** Position of the write just made on `conn` (on the primary); covers the commit record; fails after `timeoutMillis`. */
  writePosition(conn: C, timeoutMillis: number, callback: Callback<string | undefined>): void;
  /** The primary's current position, asked on a connection of its own, within `timeoutMillis`. */
  currentPosition(pool: P, timeoutMillis: number): Promise<string | undefined>;
  /** Whether the replica behind `conn` has applied `position`; fails after `timeoutMillis`. */
  hasApplied(conn: C, position: string, timeoutMillis: number, callback: Callback<boolean>): void;
  /** Local comparison when possible: true/false, or undefined to ask the server. */
  positionReached(have: string, need: string): boolean | undefined;
  /** A position covering both. */
  mergePosition(a: string | undefined, b: string): string;
  /** Checks a user-supplied token; returns it normalised, or undefined when malformed. */
  parsePosition(token: string): string | undefined;
  /**
   * Asks the server, on a connection of its own, to cancel the statement running on `conn`
   * (PostgreSQL cancel request, MySQL `KILL QUERY`); resolves once the server took the request,
   * rejects after `timeoutMillis`. Hedged reads need it.
   */
  cancel?(pool: P, conn: C, timeoutMillis: number): Promise<void>;
  /** True for the error of a statement ended by `cancel` (SQLSTATE 57014, errno 1317). */
  isCancelled?(err: unknown): boolean;
}

/** Probes a host (role, lag, position) on a connection of its own. */
export type HostProber<P> = (pool: P) => Promise<ProbeResult>;
