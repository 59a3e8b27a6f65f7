// Shapes some ORMs need beyond a mysql2 pool: a mysql2-like module for TypeORM's `driver` option
// and for Sequelize's `dialectModule`, both backed by p2c-pool.

import mysql from 'mysql2';
import { Pool, type PoolConfig } from './pool.js';
import { RoutingConnection } from './routing-connection.js';

/**
 * TypeORM's `driver` option for type 'mysql'/'mariadb': mysql2 whose createPool makes a p2c-pool.
 * Put `primary`/`replicas` (and `connectRole: 'auto'`) in `extra`; keep TypeORM's `replication` off.
 * TypeORM's own `host`/`port`/credentials then act as defaults for every host.
 */
export const typeormDriver: Record<string, unknown> = { ...mysql, createPool: (options: PoolConfig) => new Pool(stripUndefined(options)) };

/**
 * Sequelize's `dialectModule` for 'mysql'/'mariadb': createConnection returns a RoutingConnection
 * on `pool`. Use `keepDefaultTimezone: true` or every connection is pinned by its `SET time_zone`.
 */
export function sequelizeDialectModule(pool: Pool): typeof mysql {
  return {
    ...mysql,
    createConnection: () => {
      const conn = new RoutingConnection(pool);
      setImmediate(() => conn.emit('connect'));
      return conn;
    },
  } as unknown as typeof mysql;
}

/** TypeORM passes mysql (not mysql2) options too; drop the undefined ones and those mysql2 lacks. */
function stripUndefined(options: PoolConfig): PoolConfig {
  if (typeof options !== 'object' || options === null) return options;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (v !== undefined && k !== 'acquireTimeout') out[k] = v;
  return out as PoolConfig;
}
