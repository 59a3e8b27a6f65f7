// PostgreSQL specifics of health and consistency: the probe query (role, lag, WAL position,
// timeline) on a fresh connection, and LSN parsing for read-your-writes tokens.

import pg from 'pg';
import type { ProbeResult } from '../../src/monitor.js';

/**
 * One round trip: role, receiver state, replay lag, WAL position and timeline. While the WAL
 * receiver streams, lag is 0 when everything received has been replayed, else the age of the last
 * replayed transaction; when it does not stream (upstream lost), lag is the age of the last
 * replayed transaction (or the server's uptime), and the core lets it grow with the clock.
 * `receiving` is NULL when the role may not see pg_stat_wal_receiver's status.
 */
const PROBE_SQL = `SELECT pg_is_in_recovery() AS replica,
  (SELECT CASE WHEN count(*) = 0 THEN false WHEN bool_or(status = 'streaming') THEN true
               WHEN bool_and(status IS NOT NULL) THEN false END FROM pg_stat_wal_receiver) AS receiving,
  CASE WHEN NOT pg_is_in_recovery() THEN 0
       WHEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming' OR status IS NULL)
        AND (pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn()) THEN 0
       ELSE EXTRACT(EPOCH FROM (clock_timestamp() - COALESCE(pg_last_xact_replay_timestamp(), pg_postmaster_start_time()))) * 1000 END::float8 AS lag_ms,
  (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END)::text AS lsn,
  (CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn() END)::text AS flushed,
  CASE WHEN pg_is_in_recovery() THEN NULL
       ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS timeline,
  CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1) END AS replica_tli`;

/**
 * The primary's WAL insert position, as text. It covers every record inserted so far, the commit
 * record of the last write included, even with synchronous_commit=off (where pg_current_wal_lsn(),
 * the write position, can lag the commit).
 */
export const WRITE_POSITION_SQL = 'SELECT pg_current_wal_insert_lsn()::text AS lsn';

/** Probes a host on its own short-lived connection, so a saturated or hung pool cannot delay it. */
export async function probeHost(options: pg.ClientConfig, timeoutMillis: number): Promise<ProbeResult> {
  // The driver's own timers are looser than the monitor's bound, which lets an answer already in
  // the socket arrive when this process's event loop was blocked (see HealthMonitor.bounded).
  // The pool's own Client class (the `Client` option: native, instrumented or custom clients).
  const Client = (options as { Client?: typeof pg.Client }).Client ?? pg.Client;
  const client = new Client({ ...options, connectionTimeoutMillis: timeoutMillis * 2, query_timeout: timeoutMillis * 2, statement_timeout: timeoutMillis });
  client.on('error', () => {}); // a failure surfaces through connect/query
  try {
    // Callback forms, as pg-pool calls them: a custom Client need not return promises.
    await callBack<void>((cb) => client.connect(cb));
    const { rows } = await callBack<pg.QueryResult>((cb) => client.query(PROBE_SQL, [], cb));
    const row = rows[0] as { replica: boolean; receiving: boolean | null; lag_ms: number; lsn: string | null; flushed: string | null; timeline: number | null; replica_tli: number | null };
    return {
      replica: row.replica,
      writable: !row.replica,
      receiving: row.replica ? row.receiving ?? undefined : undefined,
      lagMillis: row.lag_ms,
      position: row.lsn ?? undefined,
      // What a replica can have received: flushed WAL (the insert position may sit past a page header).
      shippedPosition: row.flushed ?? undefined,
      timeline: row.timeline ?? undefined,
      // The timeline a replica streams (NULL without pg_read_all_stats or while not receiving).
      replicaTimeline: row.replica_tli ?? undefined,
    };
  } finally {
    // end() waits for the server's goodbye, which a black-holed host never sends: close the socket.
    const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
    // A custom Client's end() may throw, return nothing, or reject: none of it escapes.
    Promise.resolve().then(() => client.end()).catch(() => {});
    setTimeout(() => stream?.destroy(), 100).unref();
  }
}

/** Calls `call` with a node-style callback; a promise it returns (a promise-only Client ignores the callback) counts too. */
function callBack<T>(call: (cb: (err: Error | null | undefined, value?: T) => void) => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const returned = call((err, value) => (err ? reject(err) : resolve(value as T)));
    if (returned && typeof (returned as Promise<T>).then === 'function') (returned as Promise<T>).then(resolve, reject);
  });
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
