// The pg side of the core's Driver interface: connections from pg.Pool (read-only sessions on
// replicas, an error listener per lease), error classes, WAL positions.

import type pg from 'pg';
import type { Callback, Driver } from '../../src/driver.js';
import { ConnectionStates } from '../../src/connections.js';
import { errorKind, READ_ONLY_SQLSTATE } from './options.js';
import { formatLsn, parseLsn, WRITE_POSITION_SQL } from './probe.js';
import { cancelStatement } from './cancel.js';

type Row = { lsn?: string | null; ok?: boolean };

/** Lease errors and session access modes of pg clients. */
const states = new ConnectionStates<pg.PoolClient>();

/** See ConnectionStates.forgetMode: a user's lease may have made a read-only session writable. */
export function forgetSessionMode(client: pg.PoolClient): void {
  states.forgetMode(client);
}

/** Bound of the session-mode statement on a new connection, when the pool sets no query timeout. */
const SESSION_SET_TIMEOUT_MILLIS = 5000;

function setupTimeout(pool: pg.Pool): number {
  const o = pool.options as { query_timeout?: number; connectionTimeoutMillis?: number };
  return o.query_timeout || o.connectionTimeoutMillis || SESSION_SET_TIMEOUT_MILLIS;
}

interface TxClient {
  getTransactionStatus?(): string | null;
  connection?: { prependListener(event: 'readyForQuery', listener: (msg: { status?: string }) => void): void };
}

/** Last ReadyForQuery status of clients of a pg older than 8.21 (which has getTransactionStatus()). */
const watchedStatus = new WeakMap<pg.PoolClient, string | undefined>();

/** On a pg without getTransactionStatus(), watches the ReadyForQuery messages of a client once. */
function watchTransactionStatus(client: pg.PoolClient): void {
  const c = client as unknown as TxClient;
  if (typeof c.getTransactionStatus === 'function' || watchedStatus.has(client) || c.connection === undefined) return;
  watchedStatus.set(client, undefined);
  // Before pg's own listener, which completes the query (and so may release the client) synchronously.
  c.connection.prependListener('readyForQuery', (msg) => watchedStatus.set(client, msg?.status));
}

interface QueueClient { _activeQuery?: unknown; _queryQueue?: unknown[]; activeQuery?: unknown; queryQueue?: unknown[] }

/** True while a query runs or waits on the client (pg 8.23 names them `_activeQuery`/`_queryQueue`). */
function busy(client: pg.PoolClient): boolean {
  const c = client as unknown as QueueClient;
  const active = '_activeQuery' in c ? c._activeQuery : c.activeQuery;
  const queue = c._queryQueue ?? c.queryQueue;
  return (active !== null && active !== undefined) || (queue !== undefined && queue.length > 0);
}

/** 'T' (in a transaction) or 'E' (in a failed one) from the last ReadyForQuery. */
export function inTransaction(client: pg.PoolClient): boolean {
  const c = client as unknown as TxClient;
  const status = typeof c.getTransactionStatus === 'function' ? c.getTransactionStatus() : watchedStatus.get(client);
  return status === 'T' || status === 'E';
}

export const pgDriver: Driver<pg.Pool, pg.PoolClient> = {
  dialect: 'postgres',
  acquire(pool, readOnly, callback) {
    pool.connect((err, client) => {
      if (err || client === undefined) return callback(err ?? new Error('no connection'));
      // A checked-out pg client has no listener of pg-pool's: without this one, a reset socket
      // during the lease would be an uncaught 'error' event.
      states.leaseBegins(client, client.release);
      watchTransactionStatus(client);
      if (states.modeIs(client, readOnly)) return callback(undefined, client);
      // RESET returns to the session's configured default when a former replica now serves writes.
      const text = readOnly ? 'SET SESSION default_transaction_read_only = on' : 'RESET default_transaction_read_only';
      client.query({ text, query_timeout: setupTimeout(pool) } as pg.QueryConfig, (setErr: Error | undefined) => {
        if (setErr) {
          pgDriver.release(client, setErr);
          return callback(setErr);
        }
        states.modeSet(client, readOnly);
        callback(undefined, client);
      });
    });
  },
  release(client, err) {
    const release = states.takeRelease(client);
    if (release === undefined) return client.release(err);
    const leaseError = states.leaseEnds(client);
    // Never pool a connection that broke during the lease, is still inside a transaction, or still
    // has queries running or queued (a queued BEGIN would open a transaction on a pooled connection).
    const destroy = err || leaseError || (inTransaction(client) || busy(client) ? true : undefined);
    // A client destroyed with a statement still running (an abandoned hedge loser) may still report
    // its socket's end as an error: the connection's lifetime listener (ConnectionStates) takes it.
    release.call(client, destroy);
  },
  firstUse: (conn) => states.firstUse(conn),
  waiting: (pool) => pool.waitingCount,
  inTransaction,
  endedError: () => new Error('Cannot use a pool after calling end on the pool'),
  errorKind,
  isReadOnlyError: (err) => (err as { code?: unknown } | undefined)?.code === READ_ONLY_SQLSTATE,
  writePosition(client, timeoutMillis, callback) {
    const config = { text: WRITE_POSITION_SQL, query_timeout: timeoutMillis } as pg.QueryConfig;
    client.query(config, (err: Error | undefined, res: pg.QueryResult<Row>) => callback(err, res?.rows[0]?.lsn ?? undefined));
  },
  currentPosition(pool, timeoutMillis) {
    const query = pool.query<Row>({ text: WRITE_POSITION_SQL, query_timeout: timeoutMillis } as pg.QueryConfig).then((r) => r.rows[0]?.lsn ?? undefined);
    return within(query, timeoutMillis, 'the primary\'s WAL position');
  },
  hasApplied(client, position, timeoutMillis, callback: Callback<boolean>) {
    const config = { text: 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', values: [position], query_timeout: timeoutMillis } as pg.QueryConfig;
    client.query(config, (err: Error | undefined, res: pg.QueryResult<Row>) => callback(err, res?.rows[0]?.ok === true));
  },
  positionReached(have, need) {
    const h = parseLsn(have);
    const n = parseLsn(need);
    return h === undefined || n === undefined ? undefined : h >= n;
  },
  mergePosition(a, b) {
    const x = parseLsn(a);
    const y = parseLsn(b);
    if (x === undefined) return b;
    if (y === undefined) return a!;
    return x >= y ? a! : b;
  },
  parsePosition(token) {
    const p = parseLsn(token);
    return p === undefined ? undefined : formatLsn(p);
  },
  cancel: (_pool, client, timeoutMillis) => cancelStatement(client, timeoutMillis),
  // 57014 query_canceled: by a cancel request (also by statement_timeout, which never races a hedge's cancel).
  isCancelled: (err) => (err as { code?: unknown } | undefined)?.code === QUERY_CANCELED,
};

const QUERY_CANCELED = '57014';

/** Resolves as `promise` does, or rejects after `ms`; the timer never keeps the process alive. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not arrive within ${ms} ms`)), ms);
    timer.unref();
    promise.then((v) => { clearTimeout(timer); resolve(v); }, (e: unknown) => { clearTimeout(timer); reject(e); });
  });
}
