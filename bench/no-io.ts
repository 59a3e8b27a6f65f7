// The table of a no-I/O benchmark (bench/pg/no-io.ts, bench/mysql/no-io.ts): every configuration
// against the driver's own pool, each in a process of its own, in turns of 100 ms slices
// (bench/slices.ts): CPU per query of each, and the difference with its 95% interval. The first
// configuration, `plain`, is the driver's pool against a second one: the noise floor of the method.

import { table, writeResult } from './lib.js';
import { repeatTurns, summarize } from './slices.js';

export interface NoIoConfig {
  readonly label: string;
  make(): { query(sql: string): Promise<unknown>; end(): Promise<void> };
}

export interface NoIoTable {
  /** Name of the result files in bench/results. */
  readonly result: string;
  /** The side's script (argv: mode of side a, mode of side b, side). */
  readonly child: string;
  readonly configs: Record<string, NoIoConfig>;
  /** What the `plain` configuration is called ('pg.Pool'). */
  readonly driverPool: string;
  /** What answers the statements, for the title. */
  readonly stub: string;
  readonly footnote: string;
}

export async function noIoTable(t: NoIoTable): Promise<void> {
  const pairs = Number(process.env['P2C_NOIO_PAIRS'] ?? 30) || 30;
  const runs = Number(process.env['P2C_NOIO_RUNS'] ?? 4) || 4;
  const only = (process.env['P2C_NOIO_ROWS'] ?? '').split(',').filter(Boolean);
  const json: Record<string, unknown> = {};
  const rows: (string | number)[][] = [];
  for (const mode of Object.keys(t.configs)) {
    if (only.length > 0 && !only.includes(mode)) continue;
    const { a, b, difference } = summarize(await repeatTurns(t.child, ['plain', mode], runs, pairs, 100));
    const d = difference.cpuUs;
    json[mode] = { a: a.cpuUs * 1000, b: b.cpuUs * 1000, difference: { value: d.value * 1000, lo: d.lo * 1000, hi: d.hi * 1000 } };
    const label = mode === 'plain' ? `noise floor: a second ${t.driverPool}` : t.configs[mode]!.label;
    const signed = (x: number) => `${x >= 0 ? '+' : ''}${Math.round(x * 1000)}`;
    rows.push([label, Math.round(a.cpuUs * 1000), Math.round(b.cpuUs * 1000), `**${signed(d.value)}** (${signed(d.lo)} to ${signed(d.hi)})`]);
    console.log(`  ${label}: ${signed(d.value)} ns`);
  }
  writeResult(t.result, json, `### The pools' own CPU per query, without I/O (${t.stub}; 32 concurrent; ${runs} runs x ${pairs} ABBA pairs of 100 ms slices per row)\n\n`
    + `Each row: the pool (b) against a plain ${t.driverPool} (a), each in a process of its own, taking turns in 100 ms slices (one runs at a time); CPU nanoseconds per query of each over all its slices of all runs (fresh processes each run), and b's minus a's with a 95% interval from a two-level bootstrap (resampling the runs, then the slice pairs within them).\n\n`
    + table(['pool (b)', `${t.driverPool} (a): CPU ns per query`, 'pool (b): CPU ns per query', 'b - a (ns)'], rows)
    + `\n\n${t.footnote}`);
}
