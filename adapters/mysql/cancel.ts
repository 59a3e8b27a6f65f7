// `KILL QUERY <thread id>` on a connection of its own: MySQL's and MariaDB's way to cancel the
// statement another connection runs. The statement ends with errno 1317 and its connection stays usable.

import mysql from 'mysql2';
import type { Pool as MyPool, PoolConnection, PoolOptions } from 'mysql2';
import { connectionOptions } from './probe.js';

/** Each host pool's options, for the connection a cancel needs. */
const hostOptions = new WeakMap<MyPool, PoolOptions>();

/** Creates a host's mysql2 pool and remembers its options for cancels. */
export function createHostPool(options: PoolOptions): MyPool {
  const pool = mysql.createPool(options);
  hostOptions.set(pool, options);
  return pool;
}

/** errno of "Query execution was interrupted". */
export const QUERY_INTERRUPTED = 1317;

/**
 * Kills the statement running on `conn`; resolves once the server answered the KILL (a KILL QUERY
 * that reaches an idle connection is ignored), rejects on error or after `timeoutMillis`.
 */
export function cancelStatement(pool: MyPool, conn: PoolConnection, timeoutMillis: number): Promise<void> {
  const options = hostOptions.get(pool);
  if (options === undefined || typeof conn.threadId !== 'number') return Promise.reject(new Error('no way to cancel on this connection'));
  return new Promise<void>((resolve, reject) => {
    const killer = mysql.createConnection({ ...connectionOptions(options), connectTimeout: timeoutMillis });
    killer.on('error', () => {});
    const timer = setTimeout(() => {
      killer.destroy();
      reject(new Error(`KILL QUERY not answered within ${timeoutMillis} ms`));
    }, timeoutMillis);
    timer.unref();
    killer.query({ sql: `KILL QUERY ${conn.threadId}`, timeout: timeoutMillis }, (err) => {
      clearTimeout(timer);
      killer.end(() => {});
      killer.on('end', () => {});
      if (err) reject(err);
      else resolve();
    });
  });
}
