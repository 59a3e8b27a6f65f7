// Drizzle on p2c-pool: pass the pool as `client`. Plain queries go through pool.query (routed);
// db.transaction() takes a primary connection from pool.connect()/getConnection().
// Run: npx tsc -p tsconfig.json && node dist/examples/orm/drizzle.js

import { drizzle as pgDrizzle } from 'drizzle-orm/node-postgres';
import { drizzle as myDrizzle } from 'drizzle-orm/mysql2';
import { sql } from 'drizzle-orm';
import { Pool } from '../../adapters/pg/index.js';
import { createPool } from '../../adapters/mysql/index.js';
import { mysql, postgres, withServers } from './servers.js';

await withServers(postgres, async ({ primary, replicas }) => {
  const pool = new Pool({ primary, replicas });
  const db = pgDrizzle({ client: pool });
  const read = (await db.execute(sql`SELECT inet_server_port() AS port`)).rows[0];
  const tx = await db.transaction(async (t) => (await t.execute(sql`SELECT inet_server_port() AS port`)).rows[0]);
  console.log(`PostgreSQL: read on ${JSON.stringify(read)}, transaction on ${JSON.stringify(tx)}`);
  await pool.end();
});

await withServers(mysql, async ({ primary, replicas }) => {
  const pool = createPool({ primary, replicas });
  const db = myDrizzle({ client: pool as never });
  const [read] = (await db.execute(sql`SELECT @@port AS port`)) as unknown as [unknown[]];
  const tx = await db.transaction(async (t) => ((await t.execute(sql`SELECT @@port AS port`)) as unknown as [unknown[]])[0]);
  console.log(`MariaDB: read on ${JSON.stringify(read)}, transaction on ${JSON.stringify(tx)}`);
  await pool.promise().end();
});
