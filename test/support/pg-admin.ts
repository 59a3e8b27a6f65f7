// Direct statements on one server of a test cluster (setup, checks, faults), outside any pool,
// and a record of uncaught exceptions and unhandled rejections for tests that must see none.

import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import type { PgCluster } from './pg-cluster.js';
import { waitFor } from './load.js';

/** Runs one statement on its own connection and returns the rows. */
export async function sql<T = Record<string, unknown>>(url: string, text: string, values?: unknown[]): Promise<T[]> {
  const c = new pg.Client(url);
  c.on('error', () => {});
  await c.connect();
  try { return (await c.query(text, values)).rows as T[]; } finally { await c.end(); }
}

/** Waits until every replica has replayed the primary's current WAL insert position. */
export async function waitForReplay(cluster: PgCluster): Promise<void> {
  const lsn = (await sql<{ lsn: string }>(cluster.primary.url, 'SELECT pg_current_wal_insert_lsn()::text AS lsn'))[0]!.lsn;
  for (const r of cluster.replicas) {
    await waitFor(async () => (await sql<{ ok: boolean }>(r.url, 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]))[0]!.ok, 10_000);
  }
}

/** Records every uncaught exception and unhandled rejection while the file's tests run. */
export function recordUncaught(): unknown[] {
  const seen: unknown[] = [];
  const record = (err: unknown) => { seen.push(err); };
  beforeAll(() => {
    process.on('uncaughtException', record);
    process.on('unhandledRejection', record);
  });
  afterAll(() => {
    process.off('uncaughtException', record);
    process.off('unhandledRejection', record);
  });
  return seen;
}
