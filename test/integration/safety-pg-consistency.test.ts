// Read-your-writes and lag on a real PostgreSQL primary + 2 replicas, under the faults the safety
// review used: resets during internal queries, a black-holed primary, a replica that lost its
// upstream, recovery conflicts. Each test is a regression test of one finding (issue 9, items 4, 7-10).
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Pool } from '../../adapters/pg/index.js';
import { useCluster } from '../support/vitest-cluster.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { recordUncaught, sql, waitForReplay } from '../support/pg-admin.js';
import { waitFor } from '../support/load.js';

const cluster = useCluster({ replicas: 2 });
const cleanups: (() => Promise<unknown> | unknown)[] = [];
const uncaught = recordUncaught();



function track(p: Pool): Pool {
  p.on('error', () => {});
  cleanups.push(() => p.end().catch(() => {}));
  return p;
}

beforeAll(async () => {
  await sql(cluster().primary.url, 'CREATE TABLE IF NOT EXISTS ryw (id serial PRIMARY KEY, v text)');
  await sql(cluster().primary.url, "CREATE OR REPLACE FUNCTION ryw_write(x text) RETURNS int LANGUAGE sql AS $$ INSERT INTO ryw(v) VALUES (x) RETURNING id $$");
  await sql(cluster().primary.url, 'CREATE TABLE IF NOT EXISTS conflict_t (id int)');
  await sql(cluster().primary.url, 'INSERT INTO conflict_t VALUES (1)');
  await waitForReplay(cluster());
});

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  expect(uncaught).toEqual([]);
});


async function pausedReplicas<T>(fn: () => Promise<T>): Promise<T> {
  const replicas = cluster().replicas;
  for (const r of replicas) await sql(r.url, 'SELECT pg_wal_replay_pause()');
  try {
    return await fn();
  } finally {
    for (const r of replicas) await sql(r.url, 'SELECT pg_wal_replay_resume()').catch(() => {});
  }
}

/**
 * Writes a row every 50 ms for 4 s from `cutAt` on and reads the newest one as often as it can;
 * returns when (ms after the cut) a read served by `port` missed a write acknowledged before it began.
 */
async function staleReadsFrom(p: Pool, port: number, tag: string, cutAt: number): Promise<number[]> {
  let last = (await p.query('INSERT INTO ryw(v) VALUES ($1) RETURNING id', [tag])).rows[0].id as number;
  const staleAt: number[] = [];
  const writer = (async () => {
    while (Date.now() - cutAt < 4000) {
      last = (await p.query('INSERT INTO ryw(v) VALUES ($1) RETURNING id', [tag])).rows[0].id;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  while (Date.now() - cutAt < 4000) {
    const acked = last;
    const { rows } = await p.query('SELECT max(id) AS m, inet_server_port() AS port FROM ryw WHERE v = $1', [tag]);
    if (rows[0].m < acked && rows[0].port === port) staleAt.push(Date.now() - cutAt);
    await new Promise((r) => setTimeout(r, 10));
  }
  await writer;
  return staleAt;
}

const count = async (p: Pool, v: string) => Number((await p.query('SELECT count(*) AS n FROM ryw WHERE v = $1', [v])).rows[0].n);

describe('read-your-writes', () => {
  it('a connection reset during the freshness check is no uncaught exception; the read is served (item 4)', async () => {
    const c = cluster();
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: c.replicas[0]!.port });
    cleanups.push(() => proxy.stop());
    const p = track(new Pool({ primary: c.primary.url, replicas: [{ host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres' }], consistency: 'read-your-writes', healthCheckIntervalMillis: 0 }));
    await p.query('SELECT 1');
    for (let i = 0; i < 5; i++) {
      await p.query('INSERT INTO ryw(v) VALUES ($1)', [`reset-${i}`]);
      proxy.setDelay(150);
      const read = count(p, `reset-${i}`);
      await new Promise((r) => setTimeout(r, 60));
      proxy.reset(); // while the freshness check (pg_last_wal_replay_lsn() >= $1) is on the wire
      expect(await read).toBe(1);
      await proxy.heal();
    }
  });

  it('a black-holed primary after a leased write: reads are served by replicas within the check timeout (item 7)', async () => {
    const c = cluster();
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: c.primary.port });
    cleanups.push(() => proxy.stop());
    const p = track(new Pool({ primary: { host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres' }, replicas: c.replicas.map((r) => r.url),
      consistency: 'read-your-writes', healthCheckIntervalMillis: 0, healthCheckTimeoutMillis: 300, connectionTimeoutMillis: 300 }));
    const client = await p.connect();
    await client.query("INSERT INTO ryw(v) VALUES ('leased')");
    proxy.blackhole();
    client.release(); // read-your-writes now asks the silent primary for its position
    const t0 = Date.now();
    const ports = await Promise.all(Array.from({ length: 10 }, async () => (await p.query('SELECT inet_server_port() AS port')).rows[0].port));
    const elapsed = Date.now() - t0;
    expect(ports.every((x) => c.replicas.some((r) => r.port === x))).toBe(true);
    expect(elapsed).toBeLessThan(5000); // before: forever
    expect(p.stats().hosts[0]!.state).not.toBe('up');
  });

  it('a write re-run on the primary after a read-only rejection records its position (item 8)', async () => {
    const p = track(new Pool({ primary: cluster().primary.url, replicas: cluster().replicas.map((r) => r.url), consistency: 'read-your-writes', healthCheckIntervalMillis: 0 }));
    await p.query('SELECT 1');
    await pausedReplicas(async () => {
      for (let i = 0; i < 20; i++) {
        // Classified a read; the replica's read-only session refuses it; it runs once on the primary.
        await p.query('SELECT ryw_write($1)', [`rerun-${i}`]);
        expect(await count(p, `rerun-${i}`)).toBe(1);
      }
    });
  });

  it('synchronous_commit=off: the recorded position covers the commit record; no stale read in 300 (item 8)', async () => {
    const c = cluster();
    const p = track(new Pool({ primary: { connectionString: c.primary.url, options: '-c synchronous_commit=off' }, replicas: c.replicas.map((r) => r.url), consistency: 'read-your-writes', healthCheckIntervalMillis: 0 }));
    let stale = 0;
    for (let i = 0; i < 300; i++) {
      await p.query('INSERT INTO ryw(v) VALUES ($1)', [`async-${i}`]);
      if ((await count(p, `async-${i}`)) !== 1) stale++;
    }
    expect(stale).toBe(0);
  });

  it('connect({ role: "replica" }) after a write gives a client that sees it, read-only (item 8)', async () => {
    const p = track(new Pool({ primary: cluster().primary.url, replicas: cluster().replicas.map((r) => r.url), consistency: 'read-your-writes', healthCheckIntervalMillis: 0 }));
    await p.query('SELECT 1');
    await pausedReplicas(async () => {
      await p.query("INSERT INTO ryw(v) VALUES ('replica-client')");
      const client = await p.connect({ role: 'replica' });
      try {
        expect(Number((await client.query("SELECT count(*) AS n FROM ryw WHERE v = 'replica-client'")).rows[0].n)).toBe(1);
        await expect(client.query("INSERT INTO ryw(v) VALUES ('must-fail')")).rejects.toMatchObject({ code: '25006' });
      } finally {
        client.release();
      }
    });
  });
});

describe('found by the adversarial review', () => {
  it('a writing function that reached the primary through the freshness fallback records its position', async () => {
    const c = cluster();
    for (const r of c.replicas) {
      await sql(r.url, "ALTER SYSTEM SET recovery_min_apply_delay = '1500ms'");
      await sql(r.url, 'SELECT pg_reload_conf()');
    }
    try {
      const p = track(new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), consistency: 'read-your-writes', healthCheckIntervalMillis: 0 }));
      await p.query('SELECT 1');
      await p.query("INSERT INTO ryw(v) VALUES ('fallback-a')");
      await new Promise((r) => setTimeout(r, 500));
      // Replicas have not applied the INSERT yet: this "read" goes to the primary, where it writes.
      await p.query("SELECT ryw_write('fallback-x')");
      let stale = 0;
      const until = Date.now() + 2500; // covers the moment replicas apply the INSERT but not yet the function's write
      while (Date.now() < until) {
        if ((await count(p, 'fallback-x')) !== 1) stale++;
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(stale).toBe(0);
    } finally {
      for (const r of c.replicas) {
        await sql(r.url, 'ALTER SYSTEM RESET recovery_min_apply_delay');
        await sql(r.url, 'SELECT pg_reload_conf()');
      }
      await waitForReplay(c);
    }
  });

  it('a primary client released with an error after a write still records the write\'s position', async () => {
    const c = cluster();
    const p = track(new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), consistency: 'read-your-writes', healthCheckIntervalMillis: 0 }));
    await p.query('SELECT 1');
    await pausedReplicas(async () => {
      const client = await p.connect();
      await client.query("INSERT INTO ryw(v) VALUES ('release-err')");
      const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      await sql(c.primary.url, 'SELECT pg_terminate_backend($1)', [pid]);
      const err = await client.query('SELECT 1').catch((e: Error) => e);
      client.release(err as Error); // the usual pg idiom in a catch block
      expect(await count(p, 'release-err')).toBe(1);
    });
  });

  it('a read-only session changed by a user lease (DISCARD ALL) is made read-only again before reads use it', async () => {
    const c = cluster();
    const p = track(new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), consistency: 'read-your-writes', healthCheckIntervalMillis: 0, max: 1 }));
    await p.query('SELECT 1');
    await pausedReplicas(async () => {
      await p.query("INSERT INTO ryw(v) VALUES ('discard-a')");
      const client = await p.connect({ role: 'replica' }); // no replica is fresh: the primary, read-only
      await client.query('DISCARD ALL');
      client.release();
      const before = p.lastWriteToken();
      await p.query("SELECT ryw_write('discard-x')"); // a read that writes: refused read-only, re-run as a write
      expect(p.lastWriteToken()).not.toBe(before);
    });
  });

  it('a replica whose replication stream is black-holed (receiver still "streaming") stops serving past maxReplicationLagMillis', async () => {
    const c = cluster();
    const r1 = c.replicas[0]!;
    const original = (await sql<{ primary_conninfo: string }>(r1.url, 'SHOW primary_conninfo'))[0]!.primary_conninfo;
    const upstream = await FaultProxy.start({ host: '127.0.0.1', port: c.primary.port });
    cleanups.push(() => upstream.stop());
    try {
      await sql(r1.url, `ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=${upstream.port} user=postgres'`);
      await sql(r1.url, 'SELECT pg_reload_conf()');
      await waitFor(async () => (await sql<{ n: string }>(r1.url, "SELECT count(*) AS n FROM pg_stat_wal_receiver WHERE status = 'streaming' AND sender_port = $1", [upstream.port]))[0]!.n === '1', 15_000);
      const p = track(new Pool({ primary: c.primary.url, replicas: c.replicas.map((r, i) => ({ connectionString: r.url, name: `replica${i + 1}` })),
        maxReplicationLagMillis: 1000, healthCheckIntervalMillis: 200, max: 4 }));
      await p.query("INSERT INTO ryw(v) VALUES ('hole')");
      await waitForReplay(c);
      upstream.blackhole();
      const staleAt = await staleReadsFrom(p, r1.port, 'hole', Date.now());
      const lastStale = staleAt.reduce((m, t) => Math.max(m, t), 0);
      console.log(`stream black-holed: ${staleAt.length} stale reads from replica1, the last ${lastStale} ms after the cut`);
      expect(lastStale).toBeLessThan(2000); // before: until wal_receiver_timeout (60 s)
    } finally {
      await sql(r1.url, `ALTER SYSTEM SET primary_conninfo = '${original.replace(/'/g, "''")}'`);
      await sql(r1.url, 'SELECT pg_reload_conf()');
      await upstream.stop();
    }
    await waitForReplay(c);
  });
});

describe('lag and recovery conflicts', () => {
  it('a replica whose WAL receiver is down stops getting reads once past maxReplicationLagMillis (item 9)', async () => {
    const c = cluster();
    const r1 = c.replicas[0]!;
    const original = (await sql<{ primary_conninfo: string }>(r1.url, 'SHOW primary_conninfo'))[0]!.primary_conninfo;
    const p = track(new Pool({ primary: c.primary.url, replicas: c.replicas.map((r, i) => ({ connectionString: r.url, name: `replica${i + 1}` })),
      maxReplicationLagMillis: 1000, healthCheckIntervalMillis: 200, max: 4 }));
    await p.query('SELECT 1');
    await p.query("INSERT INTO ryw(v) VALUES ('lag')");
    await waitForReplay(cluster());
    try {
      // The upstream is lost: the receiver cannot reconnect (port 1), as when the network to the primary breaks.
      await sql(r1.url, `ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1 user=postgres connect_timeout=1'`);
      await sql(r1.url, 'SELECT pg_reload_conf()');
      const staleAt = await staleReadsFrom(p, r1.port, 'lag', Date.now());
      const lastStale = staleAt.reduce((m, t) => Math.max(m, t), 0);
      console.log(`receiver down: ${staleAt.length} stale reads from replica1, the last ${lastStale} ms after the upstream was cut`);
      expect(lastStale).toBeLessThan(2000); // before: 7-10 s with a 1 s limit
      expect(p.stats().hosts.find((h) => h.name === 'replica1')!.lagMillis).toBeGreaterThan(1000);
    } finally {
      await sql(r1.url, `ALTER SYSTEM SET primary_conninfo = '${original.replace(/'/g, "''")}'`);
      await sql(r1.url, 'SELECT pg_reload_conf()');
    }
    await waitForReplay(cluster());
  });

  it('a read cancelled by a recovery conflict (40001) is re-run elsewhere; the replica is not blamed (item 10)', async () => {
    const c = cluster();
    const r1 = c.replicas[0]!;
    await sql(r1.url, "ALTER SYSTEM SET max_standby_streaming_delay = '100ms'");
    await sql(r1.url, 'SELECT pg_reload_conf()');
    try {
      const p = track(new Pool({ primary: c.primary.url, replicas: [{ connectionString: r1.url, name: 'replica1' }], healthCheckIntervalMillis: 0 }));
      await p.query('SELECT 1');
      const read = p.query('SELECT pg_sleep(1), inet_server_port() AS port FROM conflict_t');
      await new Promise((r) => setTimeout(r, 300));
      // Replaying an ACCESS EXCLUSIVE lock conflicts with the replica's running read: it is cancelled.
      const admin = new pg.Client(c.primary.url);
      await admin.connect();
      await admin.query('BEGIN; LOCK TABLE conflict_t IN ACCESS EXCLUSIVE MODE; COMMIT;');
      await admin.end();
      const { rows } = await read;
      expect(rows[0].port).toBe(c.primary.port); // retried: the only other host
      expect(p.stats().hosts.find((h) => h.name === 'replica1')).toMatchObject({ state: 'up', errors: 0 });
    } finally {
      await sql(r1.url, 'ALTER SYSTEM RESET max_standby_streaming_delay');
      await sql(r1.url, 'SELECT pg_reload_conf()');
    }
  });
});
