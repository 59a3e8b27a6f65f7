// Knex on p2c-pool: Knex 3.3+ takes an external driver pool as `connectionPool`. With
// `connectRole: 'auto'` every Knex connection is a routing client.
// Run: npx tsc -p tsconfig.json && node dist/examples/orm/knex.js

import knexFactory from 'knex';
import { Pool } from '../../adapters/pg/index.js';
import { createPool } from '../../adapters/mysql/index.js';
import { mysql, postgres, withServers } from './servers.js';

await withServers(postgres, async ({ primary, replicas }) => {
  const pool = new Pool({ primary, replicas, connectRole: 'auto' });
  const knex = knexFactory({ client: 'pg', connectionPool: pool } as never);
  const read = (await knex.raw('SELECT inet_server_port() AS port')).rows[0];
  const tx = await knex.transaction(async (trx) => (await trx.raw('SELECT inet_server_port() AS port')).rows[0]);
  console.log(`PostgreSQL: read on ${JSON.stringify(read)}, transaction on ${JSON.stringify(tx)}`);
  await knex.destroy(); // knex does not end a pool it was given
  await pool.end();
});

await withServers(mysql, async ({ primary, replicas }) => {
  const pool = createPool({ primary, replicas, connectRole: 'auto' });
  const knex = knexFactory({ client: 'mysql2', connectionPool: pool } as never);
  const read = (await knex.raw('SELECT @@port AS port'))[0][0];
  const tx = await knex.transaction(async (trx) => (await trx.raw('SELECT @@port AS port'))[0][0]);
  console.log(`MariaDB: read on ${JSON.stringify(read)}, transaction on ${JSON.stringify(tx)}`);
  await knex.destroy();
  await pool.promise().end();
});
