// Kysely on p2c-pool: PostgresDialect and MysqlDialect take the pool; `connectRole: 'auto'` makes
// each connection a routing client, so reads reach replicas and transactions stay on the primary.
// Run: npx tsc -p tsconfig.json && node dist/examples/orm/kysely.js

import { Kysely, MysqlDialect, PostgresDialect, sql } from 'kysely';
import { Pool } from '../../adapters/pg/index.js';
import { createPool } from '../../adapters/mysql/index.js';
import { mysql, postgres, withServers } from './servers.js';

interface DB { notes: { id: number; body: string } }

await withServers(postgres, async ({ primary, replicas }) => {
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: new Pool({ primary, replicas, connectRole: 'auto' }) }) });
  await sql`CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text)`.execute(db);
  const read = await sql<{ port: number }>`SELECT inet_server_port() AS port`.execute(db);
  const tx = await db.transaction().execute(async (trx) => {
    await trx.insertInto('notes').values({ body: 'hello' } as never).execute();
    return (await sql<{ port: number }>`SELECT inet_server_port() AS port`.execute(trx)).rows[0]!.port;
  });
  console.log(`PostgreSQL: read served by port ${read.rows[0]!.port} (a replica), transaction by ${tx} (the primary)`);
  await db.destroy();
});

await withServers(mysql, async ({ primary, replicas }) => {
  const db = new Kysely<DB>({ dialect: new MysqlDialect({ pool: createPool({ primary, replicas, connectRole: 'auto' }) as never }) });
  await sql`CREATE TABLE IF NOT EXISTS notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT)`.execute(db);
  const read = await sql<{ port: number }>`SELECT @@port AS port`.execute(db);
  const tx = await db.transaction().execute(async (trx) => {
    await trx.insertInto('notes').values({ body: 'hello' } as never).execute();
    return (await sql<{ port: number }>`SELECT @@port AS port`.execute(trx)).rows[0]!.port;
  });
  console.log(`MariaDB: read served by port ${read.rows[0]!.port} (a replica), transaction by ${tx} (the primary)`);
  await db.destroy();
});
