// The mysql face's own CPU per query, without I/O: mysql2's promise pool and p2c-pool/mysql over
// in-memory streams to a stub server in the same process (mysql2's own server-side protocol code),
// which answers every statement on the next turn of the event loop. Both sides pay the same
// protocol work (client and stub), so the difference is the pools' code. Each configuration runs in
// a process of its own, taking turns with a mysql2 pool's process in short slices (bench/slices.ts).

import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2';
import { createPool } from '../../adapters/mysql/index.js';
import { noIoTable, type NoIoConfig } from '../no-io.js';
import { serveSlices } from '../slices.js';

/** One end of an in-memory connection: what one end writes, the other reads at once. */
class End extends Duplex {
  other!: End;
  /** While set, writes are kept here instead of reaching the other end (the stub records a reply). */
  capture: Buffer[] | undefined;
  remoteAddress = '127.0.0.1';
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.capture !== undefined) this.capture.push(chunk);
    else this.other.push(chunk);
    cb();
  }
  override _final(cb: () => void): void {
    this.other.push(null);
    cb();
  }
  setKeepAlive(): this { return this; }
  setNoDelay(): this { return this; }
  setTimeout(): this { return this; }
}

type Column = { catalog: string; name: string; columnType: number; characterSet: number; columnLength: number; schema: string; table: string; orgTable: string; orgName: string; flags: number; decimals: number };
const column = (name: string, columnType: number): Column =>
  ({ catalog: 'def', name, columnType, characterSet: 63, columnLength: 20, schema: '', table: '', orgTable: '', orgName: name, flags: 0, decimals: 0 });
const LONGLONG = 8;
const VAR_STRING = 253;

/** The stub's answers: one row of `SELECT 1`, and what the health probe asks (replica or primary by host name). */
function answer(sql: string, replica: boolean): { columns: Column[]; rows: Record<string, unknown>[] } | undefined {
  if (sql.includes('@@read_only')) return { columns: [column('ro', LONGLONG), column('iro', LONGLONG), column('v', VAR_STRING)], rows: [{ ro: replica ? 1 : 0, iro: 0, v: '10.11.0-MariaDB-stub' }] };
  if (sql.includes('gtid')) return { columns: [column('pos', VAR_STRING)], rows: [{ pos: '0-1-1' }] };
  if (sql.startsWith('SHOW REPLICA STATUS') || sql.startsWith('SHOW SLAVE STATUS')) {
    const names = ['Slave_IO_Running', 'Slave_SQL_Running', 'Seconds_Behind_Master', 'Gtid_IO_Pos'];
    return { columns: [column(names[0]!, VAR_STRING), column(names[1]!, VAR_STRING), column(names[2]!, LONGLONG), column(names[3]!, VAR_STRING)], rows: replica ? [{ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Seconds_Behind_Master: 0, Gtid_IO_Pos: '0-1-1' }] : [] };
  }
  if (sql.startsWith('SHOW GLOBAL STATUS')) return { columns: [column('Variable_name', VAR_STRING), column('Value', VAR_STRING)], rows: [{ Variable_name: 'Slaves_running', Value: replica ? '1' : '0' }] };
  if (sql.startsWith('SET')) return undefined;
  return { columns: [column('1', LONGLONG)], rows: [{ 1: 1 }] };
}

interface ServerConnection {
  /** mysql2 counts the packets of a command here: a reply starts at 1, the next command at 0. */
  sequenceId: number;
  serverHandshake(args: object): void;
  on(event: string, fn: (arg: never) => void): void;
  writeTextResult(rows: object[], columns: Column[]): void;
  writeOk(): void;
}
const ServerConnection = (mysql as unknown as { Connection: new (o: { config: unknown }) => ServerConnection }).Connection;
const ConnectionConfig = (mysql as unknown as { ConnectionConfig: new (o: object) => unknown }).ConnectionConfig;

const COM_QUIT = 0x01;
const COM_QUERY = 0x03;
/** Replies already recorded, by replica and statement: the same bytes every time (a reply's packets count from 1). */
const replies = new Map<string, Buffer>();

let threadId = 0;
/**
 * mysql2's `stream` option: a new in-memory connection to a stub server for each connection the
 * pool opens. mysql2's server code does the handshake and records each distinct reply once; after
 * the handshake the stub reads commands itself and sends the recorded bytes, so that a statement
 * costs the stub little (the client's protocol work is the one being compared).
 */
export function stubStream(opts: { config: { host?: string } }): End {
  const client = new End();
  const server = new End();
  client.other = server;
  server.other = client;
  const replica = opts.config.host !== 'primary';
  const conn = new ServerConnection({ config: new ConnectionConfig({ stream: server, isServer: true }) });
  // The client closing its end (a probe's connection, end()) is the stub's 'error'.
  conn.on('error', () => {});
  const record = (sql: string): Buffer => {
    const key = `${replica}:${sql}`;
    let reply = replies.get(key);
    if (reply === undefined) {
      const a = answer(sql, replica);
      server.capture = [];
      conn.sequenceId = 1;
      if (a === undefined) conn.writeOk();
      else conn.writeTextResult(a.rows, a.columns);
      reply = Buffer.concat(server.capture);
      server.capture = undefined;
      replies.set(key, reply);
    }
    return reply;
  };
  let pending: Buffer = Buffer.alloc(0);
  const onCommands = (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readUIntLE(0, 3)) {
      const length = pending.readUIntLE(0, 3);
      const command = pending[4];
      const sql = pending.toString('utf8', 5, 4 + length);
      pending = pending.subarray(4 + length);
      if (command === COM_QUIT) {
        server.end();
        return;
      }
      if (command !== COM_QUERY) throw new Error(`stub server: command ${command} not supported`);
      setImmediate(() => client.push(record(sql)));
    }
  };
  // The handshake ends with mysql2's OK: from then on the stub reads the commands.
  const ok = conn.writeOk.bind(conn);
  conn.writeOk = () => {
    ok();
    conn.writeOk = ok;
    server.removeAllListeners('data');
    server.on('data', onCommands);
  };
  conn.serverHandshake({ protocolVersion: 10, serverVersion: '10.11.0-MariaDB-stub', connectionId: ++threadId, statusFlags: 2, characterSet: 8, capabilityFlags: 0xf7fff });
  return client;
}

const host = (name: string) => ({ host: name, port: 3306, user: 'u', database: 'd', stream: stubStream });
type CallbackPool = { query(sql: string, cb: (err: Error | null, rows?: unknown) => void): unknown; end(cb: (err?: Error | null) => void): void };
/**
 * Through the callback API, the same promise around each call on both sides: mysql2's promise
 * wrapper captures a stack per query (a quarter of a no-I/O query's CPU, and as much again in GC),
 * which would hide the pools' own difference; it is the same wrapper on both sides.
 */
const promised = (pool: CallbackPool): ReturnType<NoIoConfig['make']> => ({
  query: (sql) => new Promise((resolve, reject) => { pool.query(sql, (err, rows) => (err ? reject(err) : resolve(rows))); }),
  end: () => new Promise((resolve, reject) => pool.end((err) => (err ? reject(err) : resolve()))),
});
/**
 * A mysql2 pool whose `query` leases a connection for each statement, as the face does underneath:
 * the baseline of the face's own cost. mysql2's own `pool.query` costs ~8 µs more per query here
 * (its own row): about 3-4 KB per query reach the old generation (a mark-compact every ~0.4 s).
 */
const leasing = (pool: mysql.Pool): CallbackPool => ({
  query: (sql, cb) => pool.getConnection((err, conn) => {
    if (err) return cb(err);
    conn.query(sql, (qerr, rows) => {
      conn.release();
      cb(qerr, rows);
    });
  }),
  end: (cb) => pool.end(cb),
});
export const MYSQL_NO_IO_CONFIGS: Record<string, NoIoConfig> = {
  plain: { label: 'mysql2 pool (getConnection, query, release)', make: () => promised(leasing(mysql.createPool({ ...host('primary'), connectionLimit: 32 }))) },
  query: { label: "mysql2's own `pool.query` (not the face: its cost, for comparison)", make: () => promised(mysql.createPool({ ...host('primary'), connectionLimit: 32 })) },
  single: { label: 'single-host form', make: () => promised(createPool({ ...host('primary'), connectionLimit: 32 })) },
  multi: { label: 'multi-host form, primary only', make: () => promised(createPool({ primary: host('primary'), connectionLimit: 32 })) },
  telemetry: { label: 'multi-host, telemetry on (no-op API)', make: () => promised(createPool({ primary: host('primary'), connectionLimit: 32, telemetry: true })) },
  replica: { label: 'replica reads (one replica, read-only sessions)', make: () => promised(createPool({ primary: host('primary'), replicas: [host('r1')], connectionLimit: 32 })) },
  two: { label: 'replica reads over two replicas (pick, latency signal)', make: () => promised(createPool({ primary: host('primary'), replicas: [host('r1'), host('r2')], connectionLimit: 16 })) },
  hedge: { label: 'replica reads, hedging configured, not triggered', make: () => promised(createPool({ primary: host('primary'), replicas: [host('r1')], connectionLimit: 32, hedge: { afterMillis: 1000 } })) },
};

/** In a side's process: serves slices of one configuration (argv: mode of side a, mode of side b, side). */
export async function runMysqlNoIoChild(modes: readonly string[]): Promise<void> {
  const [aMode, bMode, side] = modes as [string, string, 'a' | 'b'];
  const pool = MYSQL_NO_IO_CONFIGS[side === 'a' ? aMode : bMode]!.make();
  await serveSlices({ query: () => pool.query('SELECT 1'), end: () => pool.end() }, 32, 1000);
}

/** Every configuration against mysql2's pool, as for pg (bench/pg/no-io.ts). */
export async function mysqlNoIo(): Promise<void> {
  await noIoTable({
    result: 'mysql-no-io',
    child: fileURLToPath(new URL('./no-io-child.js', import.meta.url)),
    configs: MYSQL_NO_IO_CONFIGS,
    driverPool: 'mysql2 pool (getConnection, query, release)',
    stub: 'callback API; in-memory streams to a stub server in the same process answering on the next loop turn',
    footnote: 'The face runs each statement on a leased connection (getConnection, query, release), which costs mysql2 less than its own `pool.query`: the baseline is a mysql2 pool used that way, so each row is the face\'s own code; the `pool.query` row shows what an app moving from mysql2\'s `pool.query` saves. Both columns include the stub server\'s work (the same for both sides). A real `SELECT 1` over loopback costs a mysql2 client 55-90 µs of CPU on this VM (the "a" columns of the overhead tables\' JSON).',
  });
}
