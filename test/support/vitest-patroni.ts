// Vitest glue: one real Patroni cluster per test file, stopped in afterAll even when tests fail.

import { afterAll, beforeAll } from 'vitest';
import { startPatroniCluster, type PatroniCluster, type PatroniOptions } from './patroni-cluster.js';

/** Starts a Patroni cluster before the file's tests; returns an accessor valid inside tests. */
export function usePatroni(options?: PatroniOptions): () => PatroniCluster {
  let cluster: PatroniCluster | undefined;
  beforeAll(async () => {
    try {
      cluster = await startPatroniCluster(options);
    } catch (err) {
      throw new Error(`This test needs a Patroni cluster (patroni, etcd, PostgreSQL) and could not start one: ${(err as Error).message}`);
    }
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error('Patroni cluster not started');
    return cluster;
  };
}
