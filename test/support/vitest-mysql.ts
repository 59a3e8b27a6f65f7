// Vitest glue: one real MariaDB cluster per test file, stopped in afterAll even when tests fail.

import { afterAll, beforeAll } from 'vitest';
import mysql from 'mysql2/promise';
import { startMyCluster, type MyCluster } from './mysql-cluster.js';

export function useMyCluster(options?: { replicas?: number }): () => MyCluster {
  let cluster: MyCluster | undefined;
  beforeAll(async () => {
    try {
      cluster = await startMyCluster(options);
    } catch (err) {
      throw new Error(`This test needs MariaDB/MySQL servers and could not start them: ${(err as Error).message}`);
    }
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error('cluster not started');
    return cluster;
  };
}

/** Runs one statement as root on a node (replication control, promotion). */
export async function admin(url: string, sql: string): Promise<unknown> {
  const c = await mysql.createConnection(url);
  try {
    return (await c.query(sql))[0];
  } finally {
    await c.end();
  }
}

/** Waits until every replica has applied the primary's current GTID position. */
export async function waitForReplicas(cluster: MyCluster): Promise<void> {
  const pos = ((await admin(cluster.primary.adminUrl, 'SELECT @@GLOBAL.gtid_binlog_pos AS p')) as { p: string }[])[0]!.p;
  for (const r of cluster.replicas) {
    const res = (await admin(r.adminUrl, `SELECT MASTER_GTID_WAIT('${pos}', 10) AS r`)) as { r: number }[];
    if (res[0]!.r !== 0) throw new Error(`replica ${r.port} did not reach ${pos}`);
  }
}
