// The pg side of the core's Driver interface: connections from pg.Pool, error classes, WAL positions.

import type pg from 'pg';
import type { Driver } from '../../src/driver.js';
import { isHostError, READ_ONLY_SQLSTATE } from './options.js';
import { formatLsn, parseLsn, WRITE_POSITION_SQL } from './probe.js';

type Row = { lsn?: string | null; ok?: boolean };

export const pgDriver: Driver<pg.Pool, pg.PoolClient> = {
  dialect: 'postgres',
  acquire: (pool, callback) => pool.connect((err, client) => callback(err ?? undefined, client)),
  release: (client, err) => client.release(err),
  waiting: (pool) => pool.waitingCount,
  isHostError,
  isReadOnlyError: (err) => (err as { code?: unknown } | undefined)?.code === READ_ONLY_SQLSTATE,
  writePosition(client, callback) {
    client.query(WRITE_POSITION_SQL, (err: Error | undefined, res: pg.QueryResult<Row>) => callback(err, res?.rows[0]?.lsn ?? undefined));
  },
  currentPosition: async (pool) => (await pool.query<Row>(WRITE_POSITION_SQL)).rows[0]?.lsn ?? undefined,
  hasApplied(client, position, callback) {
    client.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [position], (err: Error | undefined, res: pg.QueryResult<Row>) => callback(err, res?.rows[0]?.ok === true));
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
};
