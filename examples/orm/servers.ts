// Servers for the ORM examples: P2C_PG_PRIMARY/P2C_PG_REPLICAS and P2C_MY_PRIMARY/P2C_MY_REPLICAS
// when set, else a local primary + 2 replicas started (and stopped) by the test harness.

import { startPgCluster } from '../../test/support/pg-cluster.js';
import { startMyCluster } from '../../test/support/mysql-cluster.js';

export interface Servers { primary: string; replicas: string[]; stop(): Promise<void> }

export async function postgres(): Promise<Servers> {
  const c = await startPgCluster({ replicas: 2 });
  return { primary: c.primary.url, replicas: c.replicas.map((r) => r.url), stop: () => c.stop() };
}

export async function mysql(): Promise<Servers> {
  const c = await startMyCluster({ replicas: 2 });
  return { primary: c.primary.url, replicas: c.replicas.map((r) => r.url), stop: () => c.stop() };
}

/** Runs `body` with servers, stopping them whatever happens. */
export async function withServers(start: () => Promise<Servers>, body: (s: Servers) => Promise<void>): Promise<void> {
  const s = await start();
  try {
    await body(s);
  } finally {
    await s.stop();
  }
}
