// The pool's own CPU per query, without I/O: pg.Pool and p2c-pool over a stub pg Client that
// answers every statement on the next turn of the event loop (setImmediate), so what differs is
// only the pools' code. Each configuration runs in a process of its own (a real app has one kind
// of pool: several kinds in one process would make the JIT's call sites polymorphic), 3 times in
// alternating order; the fastest run counts (noise only adds).

import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Pool } from '../../adapters/pg/index.js';
import { table, writeResult } from '../lib.js';

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

/** In the child: runs one configuration, prints its CPU nanoseconds per query (fastest of 8 rounds of 300 ms). */
export async function runNoIoChild(mode: string): Promise<void> {
  const pool = NO_IO_CONFIGS[mode]!.make();
  const loop = async (ms: number) => {
    let n = 0;
    const end = performance.now() + ms;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (performance.now() < end) {
        await pool.query('SELECT 1');
        n++;
      }
    }));
    return n;
  };
  await loop(1000);
  let best = Infinity;
  for (let r = 0; r < 8; r++) {
    const c0 = process.cpuUsage();
    const n = await loop(300);
    const c = process.cpuUsage(c0);
    best = Math.min(best, ((c.user + c.system) * 1000) / n);
  }
  await pool.end();
  process.stdout.write(`${best}\n`);
}

/** Every configuration 3 times, in alternating order, each in its own process. */
export function noIo(): void {
  const modes = Object.keys(NO_IO_CONFIGS);
  const runs: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
  const child = fileURLToPath(new URL('./no-io-child.js', import.meta.url));
  for (let round = 0; round < 3; round++) {
    for (const m of round % 2 === 0 ? modes : [...modes].reverse()) runs[m]!.push(Number(execFileSync(process.execPath, [child, m], { encoding: 'utf8' }).trim()));
  }
  const best = (m: string) => Math.min(...runs[m]!);
  const base = best('plain');
  const rows = modes.map((m) => [NO_IO_CONFIGS[m]!.label, Math.round(best(m)), m === 'plain' ? '-' : `+${Math.round(best(m) - base)}`] as (string | number)[]);
  writeResult('pg-no-io', { runs }, `### The pools' own CPU per query, without I/O (stub pg Client answering on the next loop turn; 32 concurrent; fastest of 3 processes x 8 rounds)\n\n`
    + table(['pool', 'CPU ns per query', 'vs pg.Pool (ns)'], rows)
    + '\n\nA real `SELECT 1` over loopback costs the client about 25 µs of CPU here (see the overhead table): each 250 ns above is 1% of it.');
}
