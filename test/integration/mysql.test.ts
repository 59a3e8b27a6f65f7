// p2c-pool/mysql on a real MariaDB primary + 2 GTID replicas: every API form, routing, pinning,
// read-only re-runs, lag exclusion and read-your-writes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, Pool, PoolEndedError } from '../../adapters/mysql/index.js';
import { createPool as createPromisePool } from '../../adapters/mysql/promise.js';
import { admin, useMyCluster, waitForReplicas } from '../support/vitest-mysql.js';
import { waitFor } from '../support/load.js';

const cluster = useMyCluster({ replicas: 2 });
let pool: Pool;
let primaryPort: number;
let replicaPorts: number[];

beforeAll(async () => {
  const c = cluster();
  pool = createPool({ primary: c.primary.url, replicas: c.replicas.map((r, i) => ({ uri: r.url, name: `replica${i + 1}` })), connectionLimit: 4 });
  primaryPort = c.primary.port;
  replicaPorts = c.replicas.map((r) => r.port);
  const p = pool.promise();
  await p.query('CREATE TABLE IF NOT EXISTS items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50))');
  await p.query('CREATE TABLE IF NOT EXISTS kv (id INT PRIMARY KEY, v INT)');
  await p.query(`CREATE FUNCTION IF NOT EXISTS bump() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO items(name) VALUES ('bump'); RETURN LAST_INSERT_ID(); END`);
  await waitForReplicas(c);
});

afterAll(async () => {
  await new Promise((resolve) => pool?.end(resolve));
});

const portOf = async (p: { query(sql: string): Promise<[unknown, unknown]> }) => ((await p.query('SELECT @@port AS port'))[0] as { port: number }[])[0]!.port;

describe('mysql2 API forms', () => {
  it('callback query/execute with and without values, routed', async () => {
    const viaQuery = await new Promise<number>((resolve, reject) => pool.query('SELECT @@port AS port', (err, rows) => (err ? reject(err) : resolve((rows as { port: number }[])[0]!.port))));
    expect(replicaPorts).toContain(viaQuery);
    const viaExecute = await new Promise<unknown>((resolve, reject) => pool.execute('SELECT @@port AS port, ? AS x', [7], (err, rows, fields) => (err ? reject(err) : resolve([rows, fields?.length]))));
    expect(viaExecute).toEqual([[{ port: expect.any(Number), x: 7 }], 2]);
    const write = await new Promise<{ affectedRows: number; insertId: number }>((resolve, reject) => pool.query("INSERT INTO items(name) VALUES (?)", ['cb'], (err, res) => (err ? reject(err) : resolve(res as never))));
    expect(write.affectedRows).toBe(1);
  });

  it('promise query/execute return [rows, fields]; execute prepares on the chosen host', async () => {
    const p = pool.promise();
    const [rows, fields] = await p.query('SELECT @@port AS port');
    expect(replicaPorts).toContain((rows as { port: number }[])[0]!.port);
    expect(fields.map((f) => f.name)).toEqual(['port']);
    const [erows] = await p.execute('SELECT @@port AS port, ? AS v', ['x']);
    expect(erows).toEqual([{ port: expect.any(Number), v: 'x' }]);
    const [res] = await p.execute('INSERT INTO items(name) VALUES (?)', ['prep']);
    expect((res as { insertId: number }).insertId).toBeGreaterThan(0);
  });

  it('p2c-pool/mysql/promise createPool mirrors mysql2/promise', async () => {
    const c = cluster();
    const p = createPromisePool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url) });
    try {
      expect(replicaPorts).toContain(await portOf(p));
      const [r] = await p.query({ sql: 'SELECT @@port AS port', role: 'primary' });
      expect((r as { port: number }[])[0]!.port).toBe(primaryPort);
    } finally {
      await p.end();
    }
  });

  it('escape, escapeId, format as in mysql2', () => {
    expect(pool.escape("a'b")).toBe("'a\\'b'");
    expect(pool.escapeId('t.c')).toBe('`t`.`c`');
    expect(pool.format('SELECT ? AS a, ?? AS b', [1, 'col'])).toBe('SELECT 1 AS a, `col` AS b');
  });

  it('forwards connection/acquire/release/enqueue events with the host', async () => {
    const c = cluster();
    const p = createPool({ primary: c.primary.url, replicas: [c.replicas[0]!.url], connectionLimit: 1 });
    const events: string[] = [];
    for (const e of ['connection', 'acquire', 'release', 'enqueue'] as const) p.on(e, (...args: unknown[]) => events.push(`${e}:${(args.at(-1) as { role: string }).role}`));
    const pp = p.promise();
    await Promise.all([pp.query('SELECT 1'), pp.query('SELECT 1')]);
    expect(events).toEqual(expect.arrayContaining(['connection:replica', 'acquire:replica', 'release:replica', 'enqueue:replica']));
    await pp.end();
    await expect(pp.query('SELECT 1')).rejects.toBeInstanceOf(PoolEndedError);
  });
});

describe('routing', () => {
  it('reads on replicas (spread), writes on the primary', async () => {
    const p = pool.promise();
    // Warm up: a replica's first connections also set their read-only session, and that one-off
    // latency would skew a latency-aware picker's first choices.
    await Promise.all(Array.from({ length: 20 }, () => portOf(p)));
    const ports = await Promise.all(Array.from({ length: 40 }, () => portOf(p)));
    for (const r of replicaPorts) expect(ports.filter((x) => x === r).length).toBeGreaterThan(3);
    const [rows] = await p.query("INSERT INTO items(name) VALUES ('w')");
    expect((rows as { affectedRows: number }).affectedRows).toBe(1);
    expect(await portOf({ query: (sql: string) => p.query(`${sql} FROM items LIMIT 1 FOR UPDATE`) })).toBe(primaryPort);
    expect(await portOf({ query: (sql: string) => p.query(`${sql} FROM items LIMIT 1 LOCK IN SHARE MODE`) })).toBe(primaryPort);
  });

  it('getConnection pins the primary (or a replica with role); a transaction stays and rolls back', async () => {
    const conn = await pool.promise().getConnection();
    try {
      await conn.beginTransaction();
      await conn.query("INSERT INTO items(name) VALUES ('tx')");
      const ports = await Promise.all([1, 2, 3].map(async () => ((await conn.query('SELECT @@port AS port'))[0] as { port: number }[])[0]!.port));
      expect(new Set(ports)).toEqual(new Set([primaryPort]));
      await conn.rollback();
    } finally {
      conn.release();
    }
    const roPromise = await pool.promise().getConnection({ role: 'replica' });
    expect(replicaPorts).toContain(((await roPromise.query('SELECT @@port AS port'))[0] as { port: number }[])[0]!.port);
    roPromise.release();
    const ro = await new Promise<import('mysql2').PoolConnection>((resolve, reject) => pool.getConnection({ role: 'replica' }, (err, c) => (err || !c ? reject(err) : resolve(c))));
    try {
      const port = await new Promise<number>((resolve, reject) => ro.query('SELECT @@port AS port', (err, rows) => (err ? reject(err) : resolve((rows as { port: number }[])[0]!.port))));
      expect(replicaPorts).toContain(port);
    } finally {
      ro.release();
    }
    expect(pool.stats().hosts.every((h) => h.inflight === 0)).toBe(true);
  });

  it('a read rejected by a read-only replica (errno 1290) is re-run once on the primary', async () => {
    const p = pool.promise();
    const [rows] = await p.query('SELECT bump() AS id, @@port AS port');
    expect((rows as { port: number }[])[0]!.port).toBe(primaryPort);
  });

  it('SQL errors pass through unchanged', async () => {
    await expect(pool.promise().query('SELEC 1')).rejects.toMatchObject({ errno: 1064, code: 'ER_PARSE_ERROR' });
  });
});

describe('lag and read-your-writes', () => {
  it('a replica with its SQL thread stopped and events waiting gets no reads under maxReplicationLagMillis', async () => {
    const c = cluster();
    const p = createPool({ primary: c.primary.url, replicas: c.replicas.map((r, i) => ({ uri: r.url, name: `replica${i + 1}` })), maxReplicationLagMillis: 1000, healthCheckIntervalMillis: 100 });
    try {
      await admin(c.replicas[0]!.adminUrl, 'STOP SLAVE SQL_THREAD');
      await p.promise().query('INSERT INTO kv VALUES (1, 1) ON DUPLICATE KEY UPDATE v = v + 1');
      await waitFor(() => (p.stats().hosts[1]!.lagMillis ?? 0) > 1000, 5000);
      const ports = await Promise.all(Array.from({ length: 30 }, () => portOf(p.promise())));
      expect(new Set(ports)).toEqual(new Set([replicaPorts[1]]));
      await admin(c.replicas[0]!.adminUrl, 'START SLAVE SQL_THREAD');
      await waitFor(() => p.stats().hosts[1]!.lagMillis === 0, 5000);
    } finally {
      await admin(c.replicas[0]!.adminUrl, 'START SLAVE SQL_THREAD').catch(() => {});
      await p.promise().end();
    }
  });

  it('write then read 1000 times with a replica stopped: never a stale read', async () => {
    const c = cluster();
    const p = createPool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), consistency: 'read-your-writes', healthCheckIntervalMillis: 0 }).promise();
    let stale = 0;
    const served = new Map<number, number>();
    try {
      await admin(c.replicas[0]!.adminUrl, 'STOP SLAVE SQL_THREAD');
      for (let i = 0; i < 1000; i++) {
        await p.query('INSERT INTO kv VALUES (2, ?) ON DUPLICATE KEY UPDATE v = ?', [i, i]);
        const [rows] = await p.query('SELECT v, @@port AS port FROM kv WHERE id = 2');
        const row = (rows as { v: number; port: number }[])[0]!;
        if (row.v !== i) stale++;
        served.set(row.port, (served.get(row.port) ?? 0) + 1);
      }
      console.log(`mysql read-your-writes: ${stale} stale of 1000; served ${JSON.stringify(Object.fromEntries(served))} (stopped replica ${c.replicas[0]!.port})`);
      expect(stale).toBe(0);
      expect(served.get(c.replicas[0]!.port) ?? 0).toBe(0);
      expect(p.pool.lastWriteToken()).toMatch(/^\d+-\d+-\d+$/);
    } finally {
      await admin(c.replicas[0]!.adminUrl, 'START SLAVE SQL_THREAD').catch(() => {});
      await p.end();
    }
  });
});
