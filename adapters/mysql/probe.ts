// MySQL/MariaDB health probe on a connection of its own: role from the replication status
// (SHOW REPLICA STATUS, or MariaDB's Slaves_running for users without REPLICA MONITOR) and
// @@read_only, lag from Seconds_Behind_Master (or a GTID comparison when the SQL thread is stopped).

import mysql from 'mysql2/promise';
import type { PoolOptions } from 'mysql2';
import type { ProbeResult } from '../../src/monitor.js';

type Row = Record<string, unknown>;

/**
 * A server is a replica when it replicates, whatever its read_only says (MariaDB's default is
 * read_only=0, and a writable replica must never be taken for the primary), or when it is read-only.
 */
export async function probeHost(options: PoolOptions, timeoutMillis: number): Promise<ProbeResult> {
  const connOptions = connectionOptions(options);
  // Looser than the monitor's bound (see HealthMonitor.bounded): a blocked event loop must not fail a host.
  timeoutMillis *= 2;
  const conn = await mysql.createConnection({ ...connOptions, connectTimeout: timeoutMillis });
  conn.on('error', () => {});
  try {
    const [vars] = await conn.query({ sql: 'SELECT @@read_only AS ro, @@innodb_read_only AS iro, VERSION() AS v', timeout: timeoutMillis });
    const row = (vars as Row[])[0]!;
    const maria = String(row['v']).includes('MariaDB');
    const readOnly = Number(row['ro']) === 1 || Number(row['iro']) === 1;
    const status = await replicaStatus(conn, timeoutMillis);
    const running = maria ? await slavesRunning(conn, timeoutMillis) : undefined;
    const replicates = status !== undefined ? status !== null : running !== undefined && running > 0;
    const replica = readOnly || replicates;
    const positionSql = maria
      ? `SELECT ${replica ? '@@GLOBAL.gtid_slave_pos' : '@@GLOBAL.gtid_binlog_pos'} AS pos`
      : 'SELECT @@GLOBAL.gtid_executed AS pos';
    const [posRows] = await conn.query({ sql: positionSql, timeout: timeoutMillis });
    const position = String((posRows as Row[])[0]?.['pos'] ?? '') || undefined;
    let receiving: boolean | undefined;
    if (status) receiving = isYes(status['Slave_IO_Running'] ?? status['Replica_IO_Running']) && isYes(status['Slave_SQL_Running'] ?? status['Replica_SQL_Running']);
    else if (status === null) receiving = replica ? false : undefined;
    else if (running !== undefined && replica) receiving = running > 0;
    return { replica, writable: !readOnly, receiving: replica ? receiving : undefined, position, lagMillis: replica ? lagOf(status, position) : 0 };
  } finally {
    // end() waits for the server's goodbye, which a black-holed host never sends.
    conn.end().catch(() => {});
    setTimeout(() => conn.destroy(), 100).unref();
  }
}

function isYes(v: unknown): boolean {
  return v === 'Yes';
}

/** The replication status row; null when the server does not replicate; undefined when it may not be read. */
async function replicaStatus(conn: mysql.Connection, timeout: number): Promise<Row | null | undefined> {
  for (const sql of ['SHOW REPLICA STATUS', 'SHOW SLAVE STATUS']) {
    try {
      const [rows] = await conn.query({ sql, timeout });
      return (rows as Row[])[0] ?? null;
    } catch {
      // older servers know only SHOW SLAVE STATUS; without REPLICA MONITOR neither works
    }
  }
  return undefined;
}

/** MariaDB: replication connections running both threads (readable without privileges). */
async function slavesRunning(conn: mysql.Connection, timeout: number): Promise<number | undefined> {
  try {
    const [rows] = await conn.query({ sql: "SHOW GLOBAL STATUS LIKE 'Slaves_running'", timeout });
    const v = Number((rows as Row[])[0]?.['Value']);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Replication lag in ms; Infinity when the SQL thread is stopped with events waiting; undefined when unknown. */
function lagOf(status: Row | null | undefined, applied: string | undefined): number | undefined {
  if (!status) return undefined;
  const seconds = status['Seconds_Behind_Master'] ?? status['Seconds_Behind_Source'];
  if (typeof seconds === 'number') return seconds * 1000;
  // NULL: a replication thread is stopped. Behind only if it has received more than it applied.
  const received = status['Gtid_IO_Pos'] ?? status['Retrieved_Gtid_Set'];
  if (typeof received === 'string' && applied !== undefined && received !== '' && received !== applied) return Infinity;
  return 0;
}

/** A host's pool options without the pool's own keys: what one connection of its own needs. */
export function connectionOptions(options: PoolOptions): mysql.ConnectionOptions {
  const { connectionLimit: _l, maxIdle: _m, idleTimeout: _i, queueLimit: _q, waitForConnections: _w, resetOnRelease: _r, ...connOptions } = options;
  return connOptions;
}
