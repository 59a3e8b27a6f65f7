// Reads land on replicas, writes on the primary, clients and transactions stay on one host.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pool } from '../../adapters/pg/index.js';
import { useCluster } from '../support/vitest-cluster.js';

const cluster = useCluster({ replicas: 2 });
let pool: Pool;
let primaryPort: number;
let replicaPorts: number[];

const port = async (p: { query(sql: string): Promise<{ rows: { port: number }[] }> }, sql = 'SELECT inet_server_port() AS port') => (await p.query(sql)).rows[0]!.port;

beforeAll(async () => {
  const c = cluster();
  pool = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), max: 4 });
  pool.on('error', () => {});
  primaryPort = c.primary.port;
  replicaPorts = c.replicas.map((r) => r.port);
  await pool.query('CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text)');
  await pool.query(`CREATE OR REPLACE FUNCTION bump() RETURNS int LANGUAGE sql AS $$ INSERT INTO items(name) VALUES ('bump') RETURNING id $$`);
  await waitForReplicas();
});

afterAll(async () => {
  await pool?.end();
});

/** Waits until both replicas have replayed the primary's current WAL position. */
async function waitForReplicas(): Promise<void> {
  const lsn = (await pool.query('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn;
  for (const r of cluster().replicas) {
    const direct = new Pool({ connectionString: r.url, max: 1 });
    for (let i = 0; i < 500; i++) {
      const { rows } = await direct.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]);
      if (rows[0].ok) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    await direct.end();
  }
}

describe('routing on a real primary + 2 replicas', () => {
  it('sends reads to replicas, spread over both', async () => {
    const ports = await Promise.all(Array.from({ length: 60 }, () => port(pool)));
    expect(ports.every((p) => replicaPorts.includes(p))).toBe(true);
    for (const r of replicaPorts) expect(ports.filter((p) => p === r).length).toBeGreaterThan(5);
  });

  it('sends writes and write-like reads to the primary', async () => {
    const { rows } = await pool.query("INSERT INTO items(name) VALUES ('a') RETURNING inet_server_port() AS port");
    expect(rows[0].port).toBe(primaryPort);
    expect(await port(pool, 'SELECT inet_server_port() AS port FROM items LIMIT 1 FOR UPDATE')).toBe(primaryPort);
    expect(await port(pool, "WITH x AS (INSERT INTO items(name) VALUES ('cte') RETURNING id) SELECT inet_server_port() AS port FROM x")).toBe(primaryPort);
    expect(await port(pool, "SELECT inet_server_port() AS port, nextval('items_id_seq')")).toBe(primaryPort);
  });

  it('honours an explicit role on a QueryConfig', async () => {
    expect((await pool.query({ text: 'SELECT inet_server_port() AS port', role: 'primary' })).rows[0].port).toBe(primaryPort);
    expect(replicaPorts).toContain((await pool.query({ text: 'SELECT inet_server_port() AS port', role: 'replica' })).rows[0].port);
  });

  it('re-runs on the primary, once, a read that a replica rejects as read-only (25006)', async () => {
    const before = (await pool.query({ text: 'SELECT count(*)::int AS n FROM items', role: 'primary' })).rows[0].n;
    const { rows } = await pool.query('SELECT bump() AS id, inet_server_port() AS port');
    expect(rows[0].port).toBe(primaryPort);
    const after = (await pool.query({ text: 'SELECT count(*)::int AS n FROM items', role: 'primary' })).rows[0].n;
    expect(after).toBe(before + 1);
  });

  it('a read whose wait in a saturated replica\'s own queue times out goes once to another host, unblamed', async () => {
    // Replica A is so heavy that P2C prefers it even with its one connection leased; the read waits
    // in pg-pool's queue there until connectionTimeoutMillis. Nothing was sent, so it may go elsewhere.
    const c = cluster();
    const [a, b] = c.replicas;
    const p = new Pool({
      primary: c.primary.url,
      replicas: [{ connectionString: a!.url, name: 'a', weight: 1000, max: 1 }, { connectionString: b!.url, name: 'b', weight: 1 }],
      connectionTimeoutMillis: 150,
    });
    p.on('error', () => {});
    try {
      await p.query('SELECT 1');
      const held = await p.connect({ role: 'replica' });
      try {
        expect((await held.query('SELECT inet_server_port() AS port')).rows[0].port).toBe(a!.port);
        expect(await port(p)).toBe(b!.port);
        const hostA = p.stats().hosts.find((h) => h.name === 'a')!;
        expect(hostA.errors).toBe(0);
        expect(hostA.state).toBe('up');
      } finally {
        held.release();
      }
    } finally {
      await p.end();
    }
  });

  it('with no other host, the driver\'s queue-wait timeout reaches the caller unchanged, naming the host', async () => {
    const c = cluster();
    const p = new Pool({ primary: c.primary.url, replicas: [{ connectionString: c.replicas[0]!.url, name: 'only', max: 1 }], connectionTimeoutMillis: 150, fallbackToPrimary: false });
    p.on('error', () => {});
    try {
      await p.query('SELECT 1');
      const held = await p.connect({ role: 'replica' });
      try {
        const err = await p.query('SELECT 1').then(() => undefined, (e: unknown) => e as Error & { host?: string; code?: string });
        expect(err?.message).toBe('timeout exceeded when trying to connect');
        expect(err?.host).toBe('only');
        expect(err?.code).toBeUndefined();
        expect(Object.keys(err!)).not.toContain('host');
      } finally {
        held.release();
      }
    } finally {
      await p.end();
    }
  });

  it('passes SQL errors through unchanged', async () => {
    await expect(pool.query('SELEC 1')).rejects.toMatchObject({ code: '42601' });
    await expect(pool.query("INSERT INTO items(id, name) VALUES (1, 'x'), (1, 'y')")).rejects.toMatchObject({ code: '23505' });
  });

  it('connect() without a role pins a primary client; a transaction stays there', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const ports = [];
      for (let i = 0; i < 5; i++) ports.push(await port(client));
      await client.query("INSERT INTO items(name) VALUES ('tx')");
      ports.push(await port(client));
      await client.query('ROLLBACK');
      expect(new Set(ports)).toEqual(new Set([primaryPort]));
    } finally {
      client.release();
    }
  });

  it('connect({ role: "replica" }) pins one replica until release', async () => {
    const client = await pool.connect({ role: 'replica' });
    try {
      const ports = [];
      for (let i = 0; i < 10; i++) ports.push(await port(client));
      expect(new Set(ports).size).toBe(1);
      expect(replicaPorts).toContain(ports[0]);
      await expect(client.query("INSERT INTO items(name) VALUES ('no')")).rejects.toMatchObject({ code: '25006' });
    } finally {
      client.release();
    }
  });

  it('connect({ role: "auto" }) routes each statement until a transaction or session state pins it', async () => {
    const client = await pool.connect({ role: 'auto' });
    try {
      expect(replicaPorts).toContain(await port(client));
      await client.query('BEGIN');
      expect(await port(client)).toBe(primaryPort);
      await client.query('SAVEPOINT a');
      await client.query('ROLLBACK TO SAVEPOINT a');
      expect(await port(client)).toBe(primaryPort); // still inside the transaction
      await client.query('COMMIT');
      expect(replicaPorts).toContain(await port(client)); // unpinned after COMMIT
      await client.query("SET application_name = 'pinned'");
      expect(await port(client)).toBe(primaryPort);
      expect((await client.query('SHOW application_name')).rows[0].application_name).toBe('pinned');
    } finally {
      client.release();
    }
    expect(() => client.release()).toThrow(/already been released/);
    expect(pool.stats().hosts.every((h) => h.inflight === 0)).toBe(true);
  });

  it('falls back to the primary for reads when no replica is configured', async () => {
    const solo = new Pool({ primary: cluster().primary.url, replicas: [] });
    expect(await port(solo)).toBe(primaryPort);
    await solo.end();
  });

  it('stats() reports every host and returns in-flight to 0', async () => {
    await Promise.all(Array.from({ length: 20 }, () => pool.query('SELECT 1')));
    const s = pool.stats();
    expect(s.hosts.map((h) => h.role)).toEqual(['primary', 'replica', 'replica']);
    for (const h of s.hosts) {
      expect(h.inflight).toBe(0);
      expect(h.name).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(h.state).toBe('up');
    }
    const replicas = s.hosts.filter((h) => h.role === 'replica');
    expect(replicas.reduce((a, h) => a + h.queries, 0)).toBeGreaterThan(80);
    expect(replicas.every((h) => h.latencyMs !== null && h.latencyMs > 0)).toBe(true);
  });
});
