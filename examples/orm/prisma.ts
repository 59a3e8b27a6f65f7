// Prisma's pg driver adapter on p2c-pool: `new PrismaPg(pool)` (Pool is a pg.Pool at run time).
// With a generated client: `new PrismaClient({ adapter: new PrismaPg(pool) })`. The client cannot be
// generated on a machine without network access to Prisma's engine downloads, so this example
// drives the adapter directly, the way the Prisma client does.
// Run: npx tsc -p tsconfig.json && node dist/examples/orm/prisma.js

import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from '../../adapters/pg/index.js';
import { postgres, withServers } from './servers.js';

await withServers(postgres, async ({ primary, replicas }) => {
  const pool = new Pool({ primary, replicas });
  const adapter = await new PrismaPg(pool).connect();
  const port = { sql: 'SELECT inet_server_port()', args: [], argTypes: [] };
  const read = (await adapter.queryRaw(port)).rows[0];
  const tx = await adapter.startTransaction();
  const inTx = (await tx.queryRaw(port)).rows[0];
  await tx.commit();
  console.log(`PostgreSQL: read on port ${read}, transaction on port ${inTx}`);
  await adapter.dispose();
  await pool.end();
});
