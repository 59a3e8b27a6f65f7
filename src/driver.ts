// The one interface between the core and a database driver: what differs between pg and mysql2.
// Everything else (routing, picking, retries, health, consistency) lives in the core, once.

import type { SqlDialect } from './routing.js';
import type { ProbeResult } from './monitor.js';

/** Callback with an optional value. */
export type Callback<T> = (err: Error | undefined, value?: T) => void;

/**
 * A driver adapter. `P` is one host's driver pool (pg.Pool, a mysql2 pool), `C` a connection from it.
 * Positions (WAL LSN, GTID set) are opaque strings to the core.
 */
export interface Driver<P, C> {
  readonly dialect: SqlDialect;
  /** Takes a connection from a host's pool. */
  acquire(pool: P, callback: Callback<C>): void;
  /** Gives a connection back; with `err` the connection is destroyed. */
  release(conn: C, err?: Error): void;
  /** Requests waiting for a connection in a host's pool. */
  waiting(pool: P): number;
  /** True when `err` blames the host (refused, reset, timeout, shutdown), not the statement. */
  isHostError(err: unknown): boolean;
  /** True when a replica refused a statement because it is read-only (SQLSTATE 25006, errno 1290). */
  isReadOnlyError(err: unknown): boolean;
  /** Position of the write just made on `conn` (on the primary). */
  writePosition(conn: C, callback: Callback<string | undefined>): void;
  /** The primary's current position, asked on a connection of its own. */
  currentPosition(pool: P): Promise<string | undefined>;
  /** Whether the replica behind `conn` has applied `position`. */
  hasApplied(conn: C, position: string, callback: Callback<boolean>): void;
  /** Local comparison when possible: true/false, or undefined to ask the server. */
  positionReached(have: string, need: string): boolean | undefined;
  /** A position covering both. */
  mergePosition(a: string | undefined, b: string): string;
  /** Checks a user-supplied token; returns it normalised, or undefined when malformed. */
  parsePosition(token: string): string | undefined;
}

/** Probes a host (role, lag, position) on a connection of its own. */
export type HostProber<P> = (pool: P) => Promise<ProbeResult>;
