// MySQL/MariaDB health probe on a connection of its own: role from @@read_only/@@innodb_read_only,
// lag from SHOW REPLICA STATUS (Seconds_Behind_Master, or GTID comparison when the SQL thread is stopped).

import mysql from 'mysql2/promise';
import type { PoolOptions } from 'mysql2';
import type { ProbeResult } from '../../src/monitor.js';

type Row = Record<string, unknown>;

export async function probeHost(options: PoolOptions, timeoutMillis: number): Promise<ProbeResult> {
  const { connectionLimit: _l, maxIdle: _m, idleTimeout: _i, queueLimit: _q, waitForConnections: _w, resetOnRelease: _r, ...connOptions } = options;
  const conn = await mysql.createConnection({ ...connOptions, connectTimeout: timeoutMillis });
  conn.on('error', () => {});
  try {
    const [vars] = await conn.query({ sql: 'SELECT @@read_only AS ro, @@innodb_read_only AS iro, VERSION() AS v', timeout: timeoutMillis });
    const row = (vars as Row[])[0]!;
    const maria = String(row['v']).includes('MariaDB');
    const replica = Number(row['ro']) === 1 || Number(row['iro']) === 1;
    const positionSql = maria
      ? `SELECT ${replica ? '@@GLOBAL.gtid_slave_pos' : '@@GLOBAL.gtid_binlog_pos'} AS pos`
      : 'SELECT @@GLOBAL.gtid_executed AS pos';
    const [posRows] = await conn.query({ sql: positionSql, timeout: timeoutMillis });
    const position = String((posRows as Row[])[0]?.['pos'] ?? '') || undefined;
    return { replica, position, lagMillis: replica ? await lag(conn, timeoutMillis, position) : 0 };
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

/** Replication lag in ms; Infinity when the SQL thread is stopped with events waiting; undefined when unknown. */
async function lag(conn: mysql.Connection, timeout: number, applied: string | undefined): Promise<number | undefined> {
  let status: Row | undefined;
  for (const sql of ['SHOW REPLICA STATUS', 'SHOW SLAVE STATUS']) {
    try {
      const [rows] = await conn.query({ sql, timeout });
      status = (rows as Row[])[0];
      break;
    } catch {
      // older servers know only SHOW SLAVE STATUS; without REPLICA MONITOR neither works
    }
  }
  if (!status) return undefined;
  const seconds = status['Seconds_Behind_Master'] ?? status['Seconds_Behind_Source'];
  if (typeof seconds === 'number') return seconds * 1000;
  // NULL: a replication thread is stopped. Behind only if it has received more than it applied.
  const received = status['Gtid_IO_Pos'] ?? status['Retrieved_Gtid_Set'];
  if (typeof received === 'string' && applied !== undefined && received !== '' && received !== applied) return Infinity;
  return 0;
}
