// Sequelize on p2c-pool: `dialectModule` hands Sequelize routing clients backed by the pool.
// Turn off Sequelize's per-connection SETs so connections are not pinned to the primary.
// Run: npx tsc -p tsconfig.json && node dist/examples/orm/sequelize.js

import { QueryTypes, Sequelize } from 'sequelize';
import { Pool } from '../../adapters/pg/index.js';
import { sequelizeDialectModule as pgModule } from '../../adapters/pg/orm.js';
import { createPool, sequelizeDialectModule as mysqlModule } from '../../adapters/mysql/index.js';
import { mysql, postgres, withServers } from './servers.js';

await withServers(postgres, async ({ primary, replicas }) => {
  const pool = new Pool({ primary, replicas });
  const seq = new Sequelize({
    dialect: 'postgres', dialectModule: pgModule(pool), logging: false,
    keepDefaultTimezone: true, standardConformingStrings: false, dialectOptions: { clientMinMessages: 'ignore' },
  } as never);
  const read = await seq.query('SELECT inet_server_port() AS port', { type: QueryTypes.SELECT });
  const tx = await seq.transaction(async (t) => seq.query('SELECT inet_server_port() AS port', { type: QueryTypes.SELECT, transaction: t }));
  console.log(`PostgreSQL: read on ${JSON.stringify(read)}, transaction on ${JSON.stringify(tx)}`);
  await seq.close();
  await pool.end();
});

await withServers(mysql, async ({ primary, replicas }) => {
  const pool = createPool({ primary, replicas });
  const seq = new Sequelize({ dialect: 'mysql', dialectModule: mysqlModule(pool), logging: false, keepDefaultTimezone: true } as never);
  const read = await seq.query('SELECT @@port AS port', { type: QueryTypes.SELECT });
  const tx = await seq.transaction(async (t) => seq.query('SELECT @@port AS port', { type: QueryTypes.SELECT, transaction: t }));
  console.log(`MariaDB: read on ${JSON.stringify(read)}, transaction on ${JSON.stringify(tx)}`);
  await seq.close();
  await pool.promise().end();
});
