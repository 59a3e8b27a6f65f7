// PostgreSQL specifics of health and consistency: the probe query (role, lag, WAL position,
// timeline) on a fresh connection, and LSN parsing for read-your-writes tokens.

import pg from 'pg';
import type { ProbeResult } from '../../src/monitor.js';

/**
 * One round trip: role, replay lag, WAL position and timeline. Lag is 0 when everything received
 * has been replayed; otherwise the age of the last replayed transaction (or, when none was
 * replayed since the server started, its uptime).
 */
const PROBE_SQL = `SELECT pg_is_in_recovery() AS replica,
  CASE WHEN NOT pg_is_in_recovery() THEN 0
       WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
       ELSE EXTRACT(EPOCH FROM (clock_timestamp() - COALESCE(pg_last_xact_replay_timestamp(), pg_postmaster_start_time()))) * 1000 END::float8 AS lag_ms,
  (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn,
  CASE WHEN pg_is_in_recovery() THEN NULL
       ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS timeline`;

/** The primary's current WAL position, as text. */
export const WRITE_POSITION_SQL = 'SELECT pg_current_wal_lsn()::text AS lsn';

/** Probes a host on its own short-lived connection, so a saturated or hung pool cannot delay it. */
export async function probeHost(options: pg.ClientConfig, timeoutMillis: number): Promise<ProbeResult> {
  const client = new pg.Client({ ...options, connectionTimeoutMillis: timeoutMillis, query_timeout: timeoutMillis, statement_timeout: timeoutMillis });
  client.on('error', () => {}); // a failure surfaces through connect/query
  try {
    await client.connect();
    const { rows } = await client.query(PROBE_SQL);
    const row = rows[0] as { replica: boolean; lag_ms: number; lsn: string | null; timeline: number | null };
    return {
      replica: row.replica,
      lagMillis: row.lag_ms,
      position: row.lsn ?? undefined,
      timeline: row.timeline ?? undefined,
    };
  } finally {
    await client.end().catch(() => {});
  }
}

/** 'X/Y' (hex) to a comparable bigint; undefined for null or malformed input. */
export function parseLsn(lsn: string | null | undefined): bigint | undefined {
  if (typeof lsn !== 'string') return undefined;
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m) return undefined;
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** The inverse of parseLsn. */
export function formatLsn(position: bigint): string {
  return `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffffffffn).toString(16).toUpperCase()}`;
}
