// The mysql2 side of the core's Driver interface: connections from a mysql2 pool, error classes,
// GTID positions (MariaDB @@last_gtid / MASTER_GTID_WAIT, MySQL gtid_executed / GTID_SUBSET).

import mysql from 'mysql2';
import type { Pool as MyPool, PoolConnection } from 'mysql2';
import type { Driver } from '../../src/driver.js';
import type { DriverCounts } from '../../src/host.js';
import { isHostError, isReadOnlyError } from './options.js';
import { gtidReached, mergeGtid, parseGtidToken } from './gtid.js';

interface PoolInternals { _allConnections: { length: number }; _freeConnections: { length: number }; _connectionQueue: { length: number } }
type Row = Record<string, unknown>;

/** True when the server behind a connection is MariaDB (from its handshake). */
export function isMariaDb(conn: PoolConnection): boolean {
  const version = (conn as unknown as { _handshakePacket?: { serverVersion?: string } })._handshakePacket?.serverVersion ?? '';
  return version.includes('MariaDB');
}

export function poolCounts(pool: MyPool): DriverCounts {
  const p = pool as unknown as PoolInternals;
  return { total: p._allConnections.length, idle: p._freeConnections.length, waiting: p._connectionQueue.length };
}

const releaseConnection = (mysql as unknown as { PoolConnection: { prototype: PoolConnection } }).PoolConnection.prototype.release;

function scalar(conn: PoolConnection, sql: string, values: unknown[], callback: (err: Error | undefined, value?: unknown) => void): void {
  conn.query(sql, values, (err, rows) => callback(err ?? undefined, err ? undefined : Object.values((rows as Row[])[0] ?? {})[0]));
}

export const mysqlDriver: Driver<MyPool, PoolConnection> = {
  dialect: 'mysql',
  acquire: (pool, callback) => pool.getConnection((err, conn) => callback(err ?? undefined, conn)),
  // SQL errors keep the connection, as mysql2's pool does; connection-level failures destroy it.
  release: (conn, err) => (err && isHostError(err) ? conn.destroy() : releaseConnection.call(conn)),
  waiting: (pool) => poolCounts(pool).waiting,
  isHostError,
  isReadOnlyError,
  writePosition(conn, callback) {
    scalar(conn, isMariaDb(conn) ? 'SELECT @@last_gtid' : 'SELECT @@GLOBAL.gtid_executed', [], (err, v) => callback(err, typeof v === 'string' && v !== '' ? v : undefined));
  },
  currentPosition(pool) {
    return new Promise((resolve) => {
      pool.getConnection((err, conn) => {
        if (err) return resolve(undefined);
        scalar(conn, isMariaDb(conn) ? 'SELECT @@GLOBAL.gtid_binlog_pos' : 'SELECT @@GLOBAL.gtid_executed', [], (qerr, v) => {
          releaseConnection.call(conn);
          resolve(!qerr && typeof v === 'string' && v !== '' ? v : undefined);
        });
      });
    });
  },
  hasApplied(conn, position, callback) {
    if (isMariaDb(conn)) {
      // 0: reached; -1: not within the (zero) timeout.
      scalar(conn, 'SELECT MASTER_GTID_WAIT(?, 0)', [position], (err, v) => callback(err, Number(v) === 0));
    } else {
      scalar(conn, 'SELECT GTID_SUBSET(?, @@GLOBAL.gtid_executed)', [position], (err, v) => callback(err, Number(v) === 1));
    }
  },
  positionReached: gtidReached,
  mergePosition: mergeGtid,
  parsePosition: parseGtidToken,
};
