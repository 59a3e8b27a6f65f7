// Topologies: a libpq multi-host URL, then a replica added and one removed while reads run.
// Run: npx tsc -p tsconfig.json && node dist/examples/topologies.js

import { Pool } from '../adapters/pg/index.js';
import { postgres, withServers } from './orm/servers.js';

await withServers(postgres, async ({ primary, replicas }) => {
  // One URL, every host listed: roles are discovered, whatever the order.
  const hostsOf = (url: string) => new URL(url).host;
  const first = new URL(primary);
  const url = `postgres://${first.username}@${[replicas[0]!, primary].map(hostsOf).join(',')}${first.pathname}?target_session_attrs=read-write`;
  const pool = new Pool({ connectionString: url });
  pool.on('hostAdded', (h) => console.log(`added ${h.name}`));
  pool.on('hostRemoved', (h) => console.log(`removed ${h.name} (drained)`));
  const port = async () => (await pool.query('SELECT inet_server_port() AS port')).rows[0].port as number;
  const firstRead = await port(); // the first statement waits for the roles to be known
  console.log('hosts:', pool.stats().hosts.map((h) => `${h.name} ${h.role}`).join(', '), '| first read on port', firstRead);

  const added = await pool.addHost(replicas[1]!);
  console.log(`${added.name} serves as ${added.role}; reads land on ports`, [...new Set(await Promise.all(Array.from({ length: 40 }, port)))].join(', '));
  await pool.removeHost(hostsOf(replicas[0]!));
  console.log('after removal, reads land on ports', [...new Set(await Promise.all(Array.from({ length: 40 }, port)))].join(', '));
  await pool.end();
});
