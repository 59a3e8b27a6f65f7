// Timelines after a promotion, found by the third adversarial review: writes never split between a
// deposed primary and the new one, and a replica left on the old timeline serves no reads.
// Each test promotes a replica, so each starts a cluster of its own (stopped even on failure).
import { describe, expect, it } from 'vitest';
import { Pool } from '../../adapters/pg/index.js';
import { startPgCluster } from '../support/pg-cluster.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../support/load.js';
import { recordUncaught, sql, waitForReplay } from '../support/pg-admin.js';

const uncaught = recordUncaught();

describe('after a promotion', () => {
  it('a deposed primary gets no writes while the new primary is briefly out', async () => {
    const cluster = await startPgCluster({ replicas: 1 });
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: cluster.replicas[0]!.port });
    const pool = new Pool({ primary: cluster.primary.url, replicas: [{ host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres', name: 'r1' }],
      healthCheckIntervalMillis: 300, healthCheckTimeoutMillis: 1000, connectionTimeoutMillis: 500 });
    pool.on('error', () => {});
    try {
      await pool.query('CREATE TABLE split (id serial PRIMARY KEY)');
      await waitFor(async () => (await sql<{ n: string }>(cluster.replicas[0]!.url, "SELECT count(*) AS n FROM pg_class WHERE relname = 'split'"))[0]!.n === '1', 10_000);
      await sql(cluster.replicas[0]!.url, 'SELECT pg_promote()');
      await waitFor(() => pool.stats().hosts.find((h) => h.name === 'r1')!.role === 'primary', 10_000);
      const ports = new Set<number>();
      const writing = (async () => {
        const until = Date.now() + 4000;
        while (Date.now() < until) {
          try { ports.add((await pool.query('INSERT INTO split DEFAULT VALUES RETURNING inet_server_port() AS port')).rows[0].port); } catch { /* the new primary is out */ }
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      await new Promise((r) => setTimeout(r, 500));
      await proxy.refuse(); // the new primary is out for a while...
      await new Promise((r) => setTimeout(r, 2000));
      await proxy.heal(); // ...and back
      await writing;
      // The old primary (timeline 1) is still up and writable, but it was deposed: no write may land there.
      expect([...ports]).toEqual([cluster.replicas[0]!.port]);
    } finally {
      await pool.end().catch(() => {});
      await proxy.stop();
      await cluster.stop();
    }
    expect(uncaught).toEqual([]);
  });

  it('a routing client pinned to a primary that is deposed fails its next statement instead of writing there', async () => {
    const cluster = await startPgCluster({ replicas: 1 });
    const pool = new Pool({ primary: cluster.primary.url, replicas: [{ connectionString: cluster.replicas[0]!.url, name: 'r1' }], connectRole: 'auto', healthCheckIntervalMillis: 200 });
    pool.on('error', () => {});
    try {
      await pool.query('CREATE TABLE pinned (id int)');
      await waitForReplay(cluster); // the replica must have the table when it is promoted
      const client = await pool.connect();
      await client.query("SET application_name = 'pinned-client'"); // session state: pinned to the primary
      await sql(cluster.replicas[0]!.url, 'SELECT pg_promote()');
      await waitFor(() => pool.stats().hosts.find((h) => h.name === 'r1')!.role === 'primary', 10_000);
      await expect(client.query('INSERT INTO pinned VALUES (1)')).rejects.toMatchObject({ code: 'P2C_NO_PRIMARY' });
      // Unpinned now: the next write goes to the new primary.
      const { rows } = await client.query('INSERT INTO pinned VALUES (2) RETURNING inet_server_port() AS port');
      expect(rows[0].port).toBe(cluster.replicas[0]!.port);
      client.release();
      expect((await sql<{ n: string }>(cluster.primary.url, 'SELECT count(*) AS n FROM pinned'))[0]!.n).toBe('0');
    } finally {
      await pool.end().catch(() => {});
      await cluster.stop();
    }
    expect(uncaught).toEqual([]);
  });

  it('a replica left following the deposed primary (older timeline) serves no reads', async () => {
    const cluster = await startPgCluster({ replicas: 2 });
    const [r1, r2] = cluster.replicas as [typeof cluster.replicas[0], typeof cluster.replicas[0]];
    const pool = new Pool({ hosts: [{ connectionString: cluster.primary.url, name: 'p' }, { connectionString: r1!.url, name: 'r1' }, { connectionString: r2!.url, name: 'r2' }],
      consistency: 'read-your-writes', healthCheckIntervalMillis: 200 });
    pool.on('error', () => {});
    try {
      await pool.query('CREATE TABLE tl (id int)');
      // Promoted before it replayed the table, r1 would not have it (seen on a busy machine).
      await waitForReplay(cluster);
      // r1 is promoted while the old primary keeps running and streaming to r2 (timeline 1).
      await sql(r1!.url, 'SELECT pg_promote()');
      await waitFor(() => pool.stats().hosts.find((h) => h.name === 'r1')!.role === 'primary', 10_000);
      // The deposed primary goes on writing WAL on timeline 1 (r2 follows): r2's positions pass r1's.
      for (let i = 0; i < 3; i++) await sql(cluster.primary.url, 'SELECT pg_switch_wal() FROM (SELECT txid_current()) x');
      await new Promise((r) => setTimeout(r, 600)); // a few checks see r2 on the old timeline
      for (let i = 0; i < 30; i++) {
        const { rows } = await pool.query('INSERT INTO tl VALUES ($1) RETURNING inet_server_port() AS port', [i]);
        expect(rows[0].port).toBe(r1!.port);
        const read = await pool.query('SELECT count(*)::int AS n, inet_server_port() AS port FROM tl WHERE id = $1', [i]);
        expect(read.rows[0].port).not.toBe(r2!.port);
        expect(read.rows[0].n).toBe(1);
      }
    } finally {
      await pool.end().catch(() => {});
      await cluster.stop();
    }
    expect(uncaught).toEqual([]);
  });
});
