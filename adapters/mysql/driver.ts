// The mysql2 side of the core's Driver interface: connections from a mysql2 pool (read-only
// sessions on replicas, an error listener per lease), error classes, GTID positions
// (MariaDB @@last_gtid / MASTER_GTID_WAIT, MySQL gtid_executed / GTID_SUBSET).

import mysql from 'mysql2';
import { inspect } from 'node:util';
import type { Pool as MyPool, PoolConnection } from 'mysql2';
import type { Driver } from '../../src/driver.js';
import { ConnectionStates } from '../../src/connections.js';
import type { DriverCounts } from '../../src/host.js';
import { errorKind, isHostError, isReadOnlyError } from './options.js';
import { gtidReached, mergeGtid, parseGtidToken } from './gtid.js';
import { cancelStatement, QUERY_INTERRUPTED } from './cancel.js';

/**
 * mysql2 keeps its pool's counts in fields it does not document (the same from 3.9 to the newest:
 * test/lowest/run.sh runs the suite on 3.9.0). Read defensively: a mysql2 without them reports 0.
 */
interface PoolInternals { _allConnections?: { length: number }; _freeConnections?: { length: number }; _connectionQueue?: { length: number } }
type Row = Record<string, unknown>;

/** True when the server behind a connection is MariaDB (from its handshake, an undocumented field of mysql2's from 3.9 on). */
export function isMariaDb(conn: PoolConnection): boolean {
  const version = (conn as unknown as { _handshakePacket?: { serverVersion?: string } })._handshakePacket?.serverVersion ?? '';
  return version.includes('MariaDB');
}

export function poolCounts(pool: MyPool): DriverCounts {
  const p = pool as unknown as PoolInternals;
  return { total: p._allConnections?.length ?? 0, idle: p._freeConnections?.length ?? 0, waiting: p._connectionQueue?.length ?? 0 };
}

/** mysql2's own PoolConnection methods, whatever a lease puts on the instance. */
export const connectionPrototype = (mysql as unknown as { PoolConnection: { prototype: PoolConnection } }).PoolConnection.prototype;
// Looked up at each call, not kept: instrumentation (APM) patches the prototype after load.
const releaseConnection = function (this: PoolConnection) { connectionPrototype.release.call(this); };
const destroyConnection = function (this: PoolConnection) { connectionPrototype.destroy.call(this); };

/** Bound of the session-mode statement and internal queries when no other bound is known. */
const INTERNAL_TIMEOUT_MILLIS = 5000;

/** Lease errors and session access modes of mysql2 connections. */
const states = new ConnectionStates<PoolConnection>();

/**
 * See ConnectionStates.forgetMode: a `getConnection` lease or a session statement run with
 * `role: 'replica'` may have made a read-only session writable.
 */
export function forgetSessionMode(conn: PoolConnection): void {
  states.forgetMode(conn);
}

/**
 * `util.inspect` of a pooled connection shows its thread id, not mysql2's config (which holds the
 * password): these objects reach users through leases and the pool's events.
 */
export function hideConfig(conn: PoolConnection): PoolConnection {
  if (!Object.prototype.hasOwnProperty.call(conn, inspect.custom)) {
    Object.defineProperty(conn, inspect.custom, { value: () => `PoolConnection { threadId: ${conn.threadId} }`, enumerable: false });
  }
  return conn;
}

function scalar(conn: PoolConnection, sql: string, values: unknown[], timeout: number, callback: (err: Error | undefined, value?: unknown) => void): void {
  conn.query({ sql, values, timeout }, (err, rows) => callback(err ?? undefined, err ? undefined : Object.values((rows as Row[])[0] ?? {})[0]));
}

export const mysqlDriver: Driver<MyPool, PoolConnection> = {
  dialect: 'mysql',
  acquire(pool, readOnly, callback) {
    pool.getConnection((err, conn) => {
      if (err || !conn) return callback(err ?? new Error('no connection'));
      hideConfig(conn);
      // mysql2 listens only once per connection: a second error during a lease would crash the process.
      states.leaseBegins(conn);
      // With resetOnRelease mysql2 resets the session on release, read-only mode included.
      const reset = (pool as unknown as { config: { resetOnRelease?: boolean } }).config.resetOnRelease === true;
      if (states.modeIs(conn, readOnly) && !(readOnly && reset)) return callback(undefined, conn);
      const sql = readOnly ? 'SET SESSION TRANSACTION READ ONLY' : 'SET SESSION TRANSACTION READ WRITE';
      conn.query({ sql, timeout: INTERNAL_TIMEOUT_MILLIS }, (setErr) => {
        if (setErr) {
          mysqlDriver.release(conn, true);
          return callback(setErr);
        }
        states.modeSet(conn, readOnly);
        callback(undefined, conn);
      });
    });
  },
  // SQL errors keep the connection, as mysql2's pool does; connection-level failures, read-only
  // rejections (as mysql2 does since Aurora failovers) and open transactions destroy it.
  release(conn, err) {
    const leaseError = states.leaseEnds(conn);
    const destroy = err === true || leaseError !== undefined || (err instanceof Error && (isHostError(err) || isReadOnlyError(err) || errorKind(err, false) === 'timeout'));
    if (destroy) {
      states.forget(conn);
      // A destroyed connection's socket may still report an error: its lifetime listener (ConnectionStates) takes it.
      destroyConnection.call(conn);
    } else {
      releaseConnection.call(conn);
    }
  },
  firstUse: (conn) => states.firstUse(conn),
  waiting: (pool) => poolCounts(pool).waiting,
  endedError: () => new Error('Pool is closed.'),
  errorKind,
  isReadOnlyError,
  writePosition(conn, timeoutMillis, callback) {
    scalar(conn, isMariaDb(conn) ? 'SELECT @@last_gtid' : 'SELECT @@GLOBAL.gtid_executed', [], timeoutMillis, (err, v) => callback(err, typeof v === 'string' && v !== '' ? v : undefined));
  },
  currentPosition(pool, timeoutMillis) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the primary's GTID position did not arrive within ${timeoutMillis} ms`)), timeoutMillis);
      timer.unref();
      mysqlDriver.acquire(pool, false, (err, conn) => {
        if (err || !conn) {
          clearTimeout(timer);
          return reject(err);
        }
        scalar(conn, isMariaDb(conn) ? 'SELECT @@GLOBAL.gtid_binlog_pos' : 'SELECT @@GLOBAL.gtid_executed', [], timeoutMillis, (qerr, v) => {
          clearTimeout(timer);
          mysqlDriver.release(conn, qerr);
          if (qerr) return reject(qerr);
          resolve(typeof v === 'string' && v !== '' ? v : undefined);
        });
      });
    });
  },
  hasApplied(conn, position, timeoutMillis, callback) {
    if (isMariaDb(conn)) {
      // 0: reached; -1: not within the (zero) timeout.
      scalar(conn, 'SELECT MASTER_GTID_WAIT(?, 0)', [position], timeoutMillis, (err, v) => callback(err, Number(v) === 0));
    } else {
      scalar(conn, 'SELECT GTID_SUBSET(?, @@GLOBAL.gtid_executed)', [position], timeoutMillis, (err, v) => callback(err, Number(v) === 1));
    }
  },
  positionReached: gtidReached,
  mergePosition: mergeGtid,
  parsePosition: parseGtidToken,
  cancel: cancelStatement,
  isCancelled: (err) => (err as { errno?: unknown } | undefined)?.errno === QUERY_INTERRUPTED,
};
