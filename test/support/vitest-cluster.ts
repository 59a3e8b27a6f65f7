// Vitest glue: one real cluster per test file, stopped in afterAll even when tests fail.

import { afterAll, beforeAll } from 'vitest';
import { startPgCluster, type ClusterOptions, type PgCluster } from './pg-cluster.js';

/** Starts a cluster before the file's tests; returns an accessor valid inside tests. */
export function useCluster(options?: ClusterOptions): () => PgCluster {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    try {
      cluster = await startPgCluster(options);
    } catch (err) {
      throw new Error(`This test needs PostgreSQL servers and could not start them: ${(err as Error).message}`);
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
