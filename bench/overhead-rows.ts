// The rows of the overhead benchmark (issue 13), for both drivers: each row a pool (b) measured
// against the driver's own pool (a). A row is built by name in a child process
// (bench/overhead-child.ts), so the definitions live here and not in the parent.

import { performance } from 'node:perf_hooks';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { Pool, type PoolOptions } from '../adapters/pg/index.js';
import { createPool } from '../adapters/mysql/index.js';

import type { Runner } from './slices.js';

export type Driver = 'pg' | 'mysql';
/** Where the benchmark's cluster runs: the primary's and one replica's URL. */
export interface Urls { readonly primary: string; readonly replica: string }

export interface RowSpec {
  readonly key: string;
  readonly label: string;
  /** Builds side a or b of the row, with `max` connections per host. */
  make(side: 'a' | 'b', urls: Urls, max: number): Runner;
}

const runner = (p: { query(sql: string): Promise<unknown>; end(): Promise<void> }): Runner => ({ query: () => p.query('SELECT 1'), end: () => p.end() });

/**
 * The calibration row's extra client CPU per query: a known cost added to the driver's own pool,
 * so the table shows what size of difference the method resolves.
 */
export const CALIBRATION_NS = 500;
function spin(ns: number): void {
  const end = performance.now() + ns / 1e6;
  while (performance.now() < end) { /* burn */ }
}
/** What one busy wait of the calibration costs in CPU here (ns): more than its nominal length (reading the clock). */
export function calibrationCpuNs(): number {
  const calls = 20_000;
  for (let i = 0; i < 1000; i++) spin(CALIBRATION_NS);
  const c0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) spin(CALIBRATION_NS);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / calls;
}
const calibrated = (r: Runner): Runner => ({ query: () => { spin(CALIBRATION_NS); return r.query(); }, end: () => r.end() });

const pgHost = (url: string) => {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), database: u.pathname.slice(1) };
};

/** A row builder whose side a is the driver's own pool `plain` on the primary (or the replica, for replica reads). */
const rowAgainst = (plain: (url: string, max: number) => Runner) =>
  (key: string, label: string, b: (u: Urls, max: number) => Runner, onReplica = false): RowSpec => ({
    key, label, make: (side, u, max) => (side === 'a' ? plain(onReplica ? u.replica : u.primary, max) : b(u, max)),
  });

function pgRows(): RowSpec[] {
  const plain = (url: string, max: number) => runner(new pg.Pool({ connectionString: url, max }));
  const ours = (config: PoolOptions) => runner(new Pool(config));
  const row = rowAgainst(plain);
  return [
    row('noise', 'noise floor: a second pg.Pool', (u, max) => plain(u.primary, max)),
    row('calibration', `calibration: pg.Pool + ${CALIBRATION_NS} ns of busy CPU per query`, (u, max) => calibrated(plain(u.primary, max))),
    row('single', 'single-host form (`connectionString`)', (u, max) => ours({ connectionString: u.primary, max })),
    row('multi', 'multi-host form, primary only', (u, max) => ours({ primary: u.primary, max })),
    row('telemetry', 'multi-host, `telemetry: true`, no SDK (no-op API)', (u, max) => ours({ primary: u.primary, max, telemetry: true })),
    row('readonly', 'replica reads, read-only sessions (default)', (u, max) => ours({ primary: u.primary, replicas: [u.replica], max }), true),
    row('hedge', 'replica reads, hedging configured (1 s), not triggered', (u, max) => ours({ primary: u.primary, replicas: [u.replica], max, hedge: { afterMillis: 1000 } }), true),
    row('picker', 'replica reads over two hosts (same server, half the connections each): p2c cost + latency signal',
      (u, max) => ours({ primary: u.primary, replicas: [{ ...pgHost(u.replica), name: 'r1' }, { ...pgHost(u.replica), name: 'r2' }], max: max / 2 }), true),
  ];
}

function mysqlRows(): RowSpec[] {
  const plain = (uri: string, max: number) => runner(mysql.createPool({ uri, connectionLimit: max }));
  const ours = (config: Parameters<typeof createPool>[0]) => runner(createPool(config).promise());
  const row = rowAgainst(plain);
  return [
    row('noise', 'noise floor: a second mysql2 pool', (u, max) => plain(u.primary, max)),
    row('calibration', `calibration: mysql2 pool + ${CALIBRATION_NS} ns of busy CPU per query`, (u, max) => calibrated(plain(u.primary, max))),
    row('single', 'single-host form (`uri`)', (u, max) => ours({ uri: u.primary, connectionLimit: max })),
    row('multi', 'multi-host form, primary only', (u, max) => ours({ primary: u.primary, connectionLimit: max })),
    row('telemetry', 'multi-host, `telemetry: true`, no SDK (no-op API)', (u, max) => ours({ primary: u.primary, connectionLimit: max, telemetry: true })),
    row('readonly', 'replica reads, read-only sessions (default)', (u, max) => ours({ primary: u.primary, replicas: [u.replica], connectionLimit: max }), true),
    row('hedge', 'replica reads, hedging configured (1 s), not triggered', (u, max) => ours({ primary: u.primary, replicas: [u.replica], connectionLimit: max, hedge: { afterMillis: 1000 } }), true),
    row('picker', 'replica reads over two hosts (same server, half the connections each): p2c cost + latency signal',
      (u, max) => ours({ primary: u.primary, replicas: [{ uri: u.replica, name: 'r1' }, { uri: u.replica, name: 'r2' }], connectionLimit: max / 2 }), true),
  ];
}

export const OVERHEAD_ROWS: Record<Driver, () => RowSpec[]> = { pg: pgRows, mysql: mysqlRows };

/** The rows named in `only` (P2C_OVERHEAD_ROWS), in that order and as often as named (to check order effects); all rows when empty. */
export function selectRows(rows: readonly RowSpec[], only: readonly string[]): RowSpec[] {
  if (only.length === 0) return [...rows];
  return only.map((key) => {
    const row = rows.find((r) => r.key === key);
    if (row === undefined) throw new Error(`P2C_OVERHEAD_ROWS: no row "${key}" (rows: ${rows.map((r) => r.key).join(', ')})`);
    return row;
  });
}

/**
 * Five statements of other shapes (several columns and types) on a connection of the side's own,
 * before its pool starts. A process that only ever runs `SELECT 1` lets V8 specialise the driver's
 * code to that one shape, and which inlining it ends with depends on its first statements:
 * measured, the single-host form after five such statements was 1.020 (0.981-1.057) of the
 * multi-host form, without them 0.934 (0.891-0.980) and 0.885-0.890 in other runs (the multi-host
 * form's health probe runs other shapes). Apps run many shapes; every side now starts alike.
 */
export async function mixedStart(driver: Driver, urls: Urls): Promise<void> {
  if (driver === 'pg') {
    const c = new pg.Client(urls.primary);
    await c.connect();
    for (let i = 0; i < 5; i++) await c.query("SELECT pg_is_in_recovery() AS replica, now() AS t, 'x'::text AS s, 1.5::float8 AS f");
    await c.end();
  } else {
    const c = await mysql.createConnection(urls.primary);
    for (let i = 0; i < 5; i++) await c.query("SELECT @@read_only AS ro, NOW() AS t, 'x' AS s, 1.5 AS f");
    await c.end();
  }
}
