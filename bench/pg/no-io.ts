// The pool's own CPU per query, without I/O: pg.Pool and p2c-pool over a stub pg Client that
// answers every statement on the next turn of the event loop (setImmediate), so what differs is
// only the pools' code. Each configuration runs in a process of its own, taking turns with a
// pg.Pool's process in short slices (bench/slices.ts).

import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Pool } from '../../adapters/pg/index.js';
import { table, writeResult } from '../lib.js';
import { repeatTurns, serveSlices, summarize } from '../slices.js';

const PROBE_ROW = { receiving: null, lag_ms: 0, lsn: '0/1', flushed: null, timeline: 1, replica_tli: null };

/** Answers like a server on the next loop turn: the health probe (primary or replica by host name), else one row. */
class StubClient extends EventEmitter {
  private readonly replica: boolean;
  /** What pg-pool checks before it keeps a released client (else it closes it and connects anew). */
  readonly _queryable = true;
  readonly _ending = false;
  constructor(config?: { host?: string }) {
    super();
    this.replica = config?.host !== 'primary';
  }
  connect(cb?: (err: Error | null, client: StubClient) => void): void {
    setImmediate(() => cb?.(null, this));
  }
  getTransactionStatus(): string {
    return 'I';
  }
  query(config: string | { text: string }, values?: unknown, cb?: (err: Error | null, res: unknown) => void): void | Promise<unknown> {
    const callback = typeof values === 'function' ? (values as typeof cb) : cb;
    const text = typeof config === 'string' ? config : config.text;
    const rows = text.includes('pg_is_in_recovery') ? [{ ...PROBE_ROW, replica: this.replica, receiving: this.replica ? true : null }] : [{ x: 1 }];
    const res = { rows, rowCount: rows.length, command: 'SELECT', fields: [] };
    if (callback) {
      setImmediate(() => callback(null, res));
      return;
    }
    return new Promise((resolve) => setImmediate(() => resolve(res)));
  }
  end(cb?: () => void): void | Promise<void> {
    setImmediate(() => { this.emit('end'); cb?.(); });
    if (!cb) return Promise.resolve();
  }
}

const host = (name: string) => ({ host: name, port: 5432, user: 'u', database: 'd', Client: StubClient as unknown as typeof pg.Client });
export const NO_IO_CONFIGS: Record<string, { label: string; make: () => { query(sql: string): Promise<unknown>; end(): Promise<void> } }> = {
  plain: { label: 'pg.Pool', make: () => new pg.Pool({ ...host('primary'), max: 32 }) },
  single: { label: 'single-host form', make: () => new Pool({ ...host('primary'), max: 32 }) },
  multi: { label: 'multi-host form, primary only', make: () => new Pool({ primary: host('primary'), max: 32 }) },
  telemetry: { label: 'multi-host, telemetry on (no-op API)', make: () => new Pool({ primary: host('primary'), max: 32, telemetry: true }) },
  replica: { label: 'replica reads (one replica, read-only sessions)', make: () => new Pool({ primary: host('primary'), replicas: [host('r1')], max: 32 }) },
  two: { label: 'replica reads over two replicas (pick, latency signal)', make: () => new Pool({ primary: host('primary'), replicas: [host('r1'), host('r2')], max: 16 }) },
  hedge: { label: 'replica reads, hedging configured, not triggered', make: () => new Pool({ primary: host('primary'), replicas: [host('r1')], max: 32, hedge: { afterMillis: 1000 } }) },
  hedgeP95: { label: "replica reads, hedging after 'p95' (the delay learnt from every read)", make: () => new Pool({ primary: host('primary'), replicas: [host('r1')], max: 32, hedge: { afterMillis: 'p95' } }) },
};

/** In a side's process: serves slices of one configuration (argv: mode of side a, mode of side b, side). */
export async function runNoIoChild(modes: readonly string[]): Promise<void> {
  const [aMode, bMode, side] = modes as [string, string, 'a' | 'b'];
  const pool = NO_IO_CONFIGS[side === 'a' ? aMode : bMode]!.make();
  await serveSlices({ query: () => pool.query('SELECT 1'), end: () => pool.end() }, 32, 1000);
}

/**
 * Every configuration against pg.Pool, each in a process of its own, in turns of 100 ms slices
 * (bench/slices.ts): CPU per query of each, and the difference with its 95% interval. The first
 * row is pg.Pool against a second pg.Pool: the noise floor of the method.
 */
export async function noIo(): Promise<void> {
  const pairs = Number(process.env['P2C_NOIO_PAIRS'] ?? 30) || 30;
  const runs = Number(process.env['P2C_NOIO_RUNS'] ?? 4) || 4;
  const child = fileURLToPath(new URL('./no-io-child.js', import.meta.url));
  const json: Record<string, unknown> = {};
  const rows: (string | number)[][] = [];
  for (const mode of Object.keys(NO_IO_CONFIGS)) {
    const { a, b, difference } = summarize(await repeatTurns(child, ['plain', mode], runs, pairs, 100));
    const d = difference.cpuUs;
    json[mode] = { a: a.cpuUs * 1000, b: b.cpuUs * 1000, difference: { value: d.value * 1000, lo: d.lo * 1000, hi: d.hi * 1000 } };
    const label = mode === 'plain' ? 'noise floor: a second pg.Pool' : NO_IO_CONFIGS[mode]!.label;
    const signed = (x: number) => `${x >= 0 ? '+' : ''}${Math.round(x * 1000)}`;
    rows.push([label, Math.round(a.cpuUs * 1000), Math.round(b.cpuUs * 1000), `**${signed(d.value)}** (${signed(d.lo)} to ${signed(d.hi)})`]);
    console.log(`  ${label}: ${signed(d.value)} ns`);
  }
  writeResult('pg-no-io', json, `### The pools' own CPU per query, without I/O (stub pg Client answering on the next loop turn; 32 concurrent; ${runs} runs x ${pairs} ABBA pairs of 100 ms slices per row)\n\n`
    + 'Each row: the pool (b) against a plain pg.Pool (a), each in a process of its own, taking turns in 100 ms slices (one runs at a time); CPU nanoseconds per query of each over all its slices of all runs (fresh processes each run), and b\'s minus a\'s with a 95% interval from a two-level bootstrap (resampling the runs, then the slice pairs within them).\n\n'
    + table(['pool (b)', 'pg.Pool (a): CPU ns per query', 'pool (b): CPU ns per query', 'b - a (ns)'], rows)
    + '\n\nA real `SELECT 1` over loopback costs the client 50-85 µs of CPU on this VM (the "a" columns of the overhead tables\' JSON), most of it in the socket write: 250 ns is 0.3-0.5% of it.');
}
