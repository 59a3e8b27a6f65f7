// Shapes some ORMs need beyond pg.Pool: a `pg`-like module for TypeORM's `driver` option and for
// Sequelize's `dialectModule`. Both hand out p2c-pool connections instead of raw pg connections.

import { EventEmitter } from 'node:events';
import pg from 'pg';
import { Pool, type PoolOptions } from './pool.js';
import { RoutingClient } from './routing-client.js';

/**
 * TypeORM's `driver` option: pg with p2c-pool's Pool. Put the multi-host options in `extra`
 * (TypeORM merges `extra` into the pool options) and keep TypeORM's own `replication` off.
 * @example new DataSource({ type: 'postgres', driver: typeormDriver, extra: { primary, replicas, connectRole: 'auto' } })
 */
export const typeormDriver = { ...pg, Pool };

/**
 * Sequelize's `dialectModule`: a pg-like module whose `Client` is a RoutingClient on `pool`, so
 * Sequelize's own connection pool holds cheap virtual clients and every statement is routed.
 * Turn off Sequelize's per-connection SETs (`keepDefaultTimezone: true`,
 * `dialectOptions.clientMinMessages: 'ignore'`, `standardConformingStrings: false`), or each
 * connection is pinned to the primary for good.
 * @example new Sequelize({ dialect: 'postgres', dialectModule: sequelizeDialectModule(pool), keepDefaultTimezone: true, ... })
 */
export function sequelizeDialectModule(pool: Pool): typeof pg {
  class SequelizeClient extends RoutingClient {
    /** Sequelize listens for parameter status messages on `connection.connection`. */
    readonly connection = new EventEmitter();
    _ending = false;
    _invalid = false;
    constructor() {
      super(pool);
    }
    override end(callback?: (err?: Error) => void): Promise<void> | void {
      this._ending = true;
      return super.end(callback);
    }
  }
  return { ...pg, Client: SequelizeClient } as unknown as typeof pg;
}

export type { PoolOptions };
