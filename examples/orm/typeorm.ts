// TypeORM on p2c-pool: `driver` is p2c-pool's pg (or mysql2) module, the hosts go in `extra`,
// and TypeORM's own `replication` stays off (the pool routes).
// Run: npx tsc -p tsconfig.json && node dist/examples/orm/typeorm.js

import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { typeormDriver as pgDriver } from '../../adapters/pg/orm.js';
import { typeormDriver as mysqlDriver } from '../../adapters/mysql/index.js';
import { mysql, postgres, withServers } from './servers.js';

await withServers(postgres, async ({ primary, replicas }) => {
  const ds = new DataSource({ type: 'postgres', driver: pgDriver, extra: { primary, replicas, connectRole: 'auto' } } as never);
  await ds.initialize();
  const read = (await ds.query('SELECT inet_server_port() AS port'))[0];
  const tx = await ds.transaction(async (m) => (await m.query('SELECT inet_server_port() AS port'))[0]);
  console.log(`PostgreSQL: read on ${JSON.stringify(read)}, transaction on ${JSON.stringify(tx)}`);
  await ds.destroy();
});

await withServers(mysql, async ({ primary, replicas }) => {
  const ds = new DataSource({ type: 'mysql', driver: mysqlDriver, extra: { primary, replicas, connectRole: 'auto' } } as never);
  await ds.initialize();
  const read = (await ds.query('SELECT @@port AS port'))[0];
  const tx = await ds.transaction(async (m) => (await m.query('SELECT @@port AS port'))[0]);
  console.log(`MariaDB: read on ${JSON.stringify(read)}, transaction on ${JSON.stringify(tx)}`);
  await ds.destroy();
});
