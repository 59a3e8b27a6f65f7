// The pool's own CPU per query, without I/O: pg.Pool and p2c-pool over a stub pg Client that
// answers every statement on the next turn of the event loop (setImmediate), so what differs is
// only the pools' code. Each configuration runs in a process of its own, taking turns with a
// pg.Pool's process in short slices (bench/slices.ts).

import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Pool } from '../../adapters/pg/index.js';
import { noIoTable, type NoIoConfig } from '../no-io.js';
import { serveSlices } from '../slices.js';

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
export const NO_IO_CONFIGS: Record<string, NoIoConfig> = {
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

/** Every configuration against pg.Pool (bench/no-io.ts). */
export async function noIo(): Promise<void> {
  await noIoTable({
    result: 'pg-no-io',
    child: fileURLToPath(new URL('./no-io-child.js', import.meta.url)),
    configs: NO_IO_CONFIGS,
    driverPool: 'pg.Pool',
    stub: 'stub pg Client answering on the next loop turn',
    footnote: 'A real `SELECT 1` over loopback costs the client 50-85 µs of CPU on this VM (the "a" columns of the overhead tables\' JSON), most of it in the socket write: 250 ns is 0.3-0.5% of it.',
  });
}
