// Replica lag limits, read-your-writes and backpressure on a real primary + 2 replicas.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Pool, PoolOverloadedError, PoolError, NoHostAvailableError } from '../../adapters/pg/index.js';
import { useCluster } from '../support/vitest-cluster.js';
import { waitFor } from '../support/load.js';

const cluster = useCluster({ replicas: 2 });
const admin: pg.Client[] = [];

async function on(url: string, sql: string): Promise<void> {
  const c = new pg.Client(url);
  await c.connect();
  try { await c.query(sql); } finally { await c.end(); }
}

beforeAll(async () => {
  await on(cluster().primary.url, 'CREATE TABLE IF NOT EXISTS kv (id int PRIMARY KEY, v int)');
});
afterAll(async () => {
  for (const c of admin) await c.end().catch(() => {});
});

function pool(extra: Record<string, unknown>): Pool {
  const c = cluster();
  const p = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r, i) => ({ connectionString: r.url, name: `replica${i + 1}` })), max: 5, ...extra });
  p.on('error', () => {});
  return p;
}

describe('replica lag', () => {
  it('a replica whose replay is paused and lags past maxReplicationLagMillis gets no reads until it catches up', async () => {
    const p = pool({ maxReplicationLagMillis: 300, healthCheckIntervalMillis: 100 });
    const r1 = cluster().replicas[0]!;
    try {
      // Pause before the replica has replayed anything of this file's: the no-replay-yet case.
      await on(r1.url, 'SELECT pg_wal_replay_pause()');
      await p.query("INSERT INTO kv VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET v = kv.v + 1");
      await waitFor(() => (p.stats().hosts[1]!.lagMillis ?? 0) > 300, 5000);
      const ports = await Promise.all(Array.from({ length: 50 }, async () => (await p.query('SELECT inet_server_port() AS port')).rows[0].port));
      expect(new Set(ports)).toEqual(new Set([cluster().replicas[1]!.port]));
      await on(r1.url, 'SELECT pg_wal_replay_resume()');
      await waitFor(() => p.stats().hosts[1]!.lagMillis === 0, 5000);
      const after = await Promise.all(Array.from({ length: 50 }, async () => (await p.query('SELECT inet_server_port() AS port')).rows[0].port));
      expect(after).toContain(r1.port);
    } finally {
      await on(r1.url, 'SELECT pg_wal_replay_resume()').catch(() => {});
      await p.end();
    }
  });
});

describe('read-your-writes', () => {
  it('write then read 1000 times with a replica paused: never a stale read', async () => {
    const p = pool({ consistency: 'read-your-writes', healthCheckIntervalMillis: 0 });
    const r1 = cluster().replicas[0]!;
    let stale = 0;
    const served = new Map<number, number>();
    try {
      await on(r1.url, 'SELECT pg_wal_replay_pause()');
      for (let i = 0; i < 1000; i++) {
        await p.query('INSERT INTO kv VALUES (2, $1) ON CONFLICT (id) DO UPDATE SET v = $1', [i]);
        const { rows } = await p.query('SELECT v, inet_server_port() AS port FROM kv WHERE id = 2');
        if (rows[0]?.v !== i) stale++;
        served.set(rows[0].port, (served.get(rows[0].port) ?? 0) + 1);
      }
      console.log(`read-your-writes: ${stale} stale of 1000; served by port ${JSON.stringify(Object.fromEntries(served))} (paused replica ${r1.port})`);
      expect(stale).toBe(0);
      expect(served.get(r1.port) ?? 0).toBe(0);
      expect(served.get(cluster().replicas[1]!.port) ?? 0).toBeGreaterThan(0); // the live replica still serves
      expect(p.lastWriteToken()).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    } finally {
      await on(r1.url, 'SELECT pg_wal_replay_resume()').catch(() => {});
      await p.end();
    }
  });

  it('a token carried explicitly (e.g. in a session cookie) routes reads of an eventual pool', async () => {
    const writer = pool({ consistency: 'read-your-writes', healthCheckIntervalMillis: 0 });
    const reader = pool({ healthCheckIntervalMillis: 0 });
    const [r1, r2] = cluster().replicas;
    try {
      await on(r1!.url, 'SELECT pg_wal_replay_pause()');
      await on(r2!.url, 'SELECT pg_wal_replay_pause()');
      await writer.query('INSERT INTO kv VALUES (3, 42) ON CONFLICT (id) DO UPDATE SET v = 42');
      const token = writer.lastWriteToken();
      const { rows } = await reader.query({ text: 'SELECT v, inet_server_port() AS port FROM kv WHERE id = 3', after: token });
      expect(rows[0]).toEqual({ v: 42, port: cluster().primary.port });
      await expect(reader.query({ text: 'SELECT 1', after: 'not-a-token' })).rejects.toBeInstanceOf(TypeError);
    } finally {
      await on(r1!.url, 'SELECT pg_wal_replay_resume()').catch(() => {});
      await on(r2!.url, 'SELECT pg_wal_replay_resume()').catch(() => {});
      await writer.end();
      await reader.end();
    }
  });

  it('a released primary client counts as a write for later reads', async () => {
    const p = pool({ consistency: 'read-your-writes', healthCheckIntervalMillis: 0 });
    const [r1, r2] = cluster().replicas;
    try {
      await on(r1!.url, 'SELECT pg_wal_replay_pause()');
      await on(r2!.url, 'SELECT pg_wal_replay_pause()');
      const client = await p.connect();
      await client.query('BEGIN');
      await client.query('INSERT INTO kv VALUES (4, 7) ON CONFLICT (id) DO UPDATE SET v = 7');
      await client.query('COMMIT');
      client.release();
      const { rows } = await p.query('SELECT v FROM kv WHERE id = 4');
      expect(rows[0].v).toBe(7);
    } finally {
      await on(r1!.url, 'SELECT pg_wal_replay_resume()').catch(() => {});
      await on(r2!.url, 'SELECT pg_wal_replay_resume()').catch(() => {});
      await p.end();
    }
  });
});

describe('timeouts, backpressure and errors', () => {
  it('maxWaitingClients rejects with PoolOverloadedError instead of queueing without limit', async () => {
    const p = pool({ max: 1, maxWaitingClients: 2, replicas: [], healthCheckIntervalMillis: 0 });
    try {
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => p.query('SELECT pg_sleep(0.1)')));
      const rejected = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      expect(rejected).toHaveLength(3);
      for (const e of rejected) {
        expect(e).toBeInstanceOf(PoolOverloadedError);
        expect(e).toBeInstanceOf(PoolError);
        expect(e.code).toBe('P2C_POOL_OVERLOADED');
      }
    } finally {
      await p.end();
    }
  });

  it('queryTimeoutMillis applies per query on every host; a slow statement does not blame its host', async () => {
    const p = pool({ queryTimeoutMillis: 200, healthCheckIntervalMillis: 0, retryReads: false });
    try {
      const t0 = Date.now();
      const err = await p.query({ text: 'SELECT pg_sleep(2)', role: 'primary' }).catch((e: unknown) => e);
      expect(Date.now() - t0).toBeLessThan(1500);
      // pg's own timeout error, unchanged: the host answered its check, so it is not at fault.
      expect((err as Error).message).toBe('Query read timeout');
      await new Promise((r) => setTimeout(r, 300));
      expect(p.stats().hosts[0]).toMatchObject({ state: 'up', errors: 0 });
    } finally {
      await p.end();
    }
  });

  it('without fallback and without replicas, reads fail with NoHostAvailableError listing host states', async () => {
    const p = pool({ replicas: [], fallbackToPrimary: false, healthCheckIntervalMillis: 0 });
    try {
      const err = await p.query('SELECT 1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NoHostAvailableError);
      expect((err as NoHostAvailableError).hosts).toEqual([expect.objectContaining({ role: 'primary', state: 'up' })]);
    } finally {
      await p.end();
    }
  });
});
