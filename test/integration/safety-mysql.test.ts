// Safety regressions of p2c-pool/mysql on real MariaDB servers ("Safety first"): a writable replica
// is never written to, replica sessions are read-only, a replica that lost its upstream stops
// serving, refused logins and client-side failures, resets under checks and pinned transactions,
// no pooled connection left in a transaction, no password in inspect output, read-your-writes
// after a re-run write.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import mysqlCore from 'mysql2';
import { ConfigError, createPool, type HostStats, type Pool, type PoolConfig, type RoutedQueryOptions, type RoutingConnection } from '../../adapters/mysql/index.js';
import type { RoleMismatch } from '../../src/pool.js';
import type { MyCluster, MyNode } from '../support/mysql-cluster.js';
import { useMyCluster, waitForReplicas } from '../support/vitest-mysql.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../support/load.js';

type Row = Record<string, unknown>;
type Sql = string | { sql: string; values: unknown[] };

const APP = { user: 'app', password: 'app', database: 'test' } as const;

/** Runs statements in order on one root session of `node` (so `SET sql_log_bin = 0` holds); returns the last rows. */
async function root(node: MyNode, ...sqls: Sql[]): Promise<Row[]> {
  const c = await mysql.createConnection(node.adminUrl);
  try {
    let rows: unknown = [];
    for (const s of sqls) rows = (typeof s === 'string' ? await c.query(s) : await c.query(s.sql, s.values))[0];
    return rows as Row[];
  } finally {
    await c.end().catch(() => {});
  }
}

/** Tables and a writing function, created by the application user: the function runs as `app`, which has no READ ONLY ADMIN. */
async function prepare(c: MyCluster): Promise<void> {
  const conn = await mysql.createConnection(c.primary.url);
  try {
    // `port` records where a row was written (@@port); row-based replication copies the value.
    await conn.query('CREATE TABLE marks (id INT AUTO_INCREMENT PRIMARY KEY, m VARCHAR(100) NOT NULL, port INT NOT NULL, KEY (m))');
    await conn.query('CREATE TABLE beats (id INT AUTO_INCREMENT PRIMARY KEY)');
    await conn.query('CREATE TABLE rows7 (id INT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(100) NOT NULL, KEY (tag))');
    await conn.query('CREATE TABLE lag3 (id INT PRIMARY KEY)');
    await conn.query('CREATE SEQUENCE seq1');
    await conn.query('CREATE FUNCTION mark(x VARCHAR(100)) RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO marks(m, port) VALUES (x, @@port); RETURN 1; END');
  } finally {
    await conn.end();
  }
  await waitForReplicas(c);
}

/** Rows of `marks` with marker `m` on `node`: how many, and the ports they were written on. */
async function marks(node: MyNode, m: string): Promise<{ n: number; ports: number[] }> {
  const rows = await root(node, { sql: 'SELECT port FROM test.marks WHERE m = ?', values: [m] });
  return { n: rows.length, ports: [...new Set(rows.map((r) => Number(r['port'])))] };
}

async function replication(node: MyNode): Promise<{ io: unknown; sql: unknown; errno: number; error: unknown }> {
  const [s] = await root(node, 'SHOW SLAVE STATUS');
  return { io: s?.['Slave_IO_Running'], sql: s?.['Slave_SQL_Running'], errno: Number(s?.['Last_SQL_Errno']), error: s?.['Last_SQL_Error'] };
}

/**
 * A new write on the primary reaches every replica, whose threads still run without error. A row
 * written on a writable replica breaks this when the primary's next event arrives (errno 1950,
 * GTID out of order, with gtid_strict_mode).
 */
async function expectReplicating(c: MyCluster): Promise<void> {
  await root(c.primary, 'INSERT INTO test.beats () VALUES ()');
  const pos = String((await root(c.primary, 'SELECT @@GLOBAL.gtid_binlog_pos AS p'))[0]!['p']);
  for (const r of c.replicas) {
    const deadline = Date.now() + 10_000;
    let reached = false;
    let state = await replication(r);
    while (!reached && state.sql === 'Yes' && Date.now() < deadline) {
      reached = Number((await root(r, { sql: 'SELECT MASTER_GTID_WAIT(?, 0.5) AS w', values: [pos] }))[0]!['w']) === 0;
      state = await replication(r);
    }
    expect({ replica: r.port, ...state, reached }).toEqual({ replica: r.port, io: 'Yes', sql: 'Yes', errno: 0, error: '', reached: true });
  }
}

async function withPool(config: PoolConfig, body: (pool: Pool) => Promise<void>): Promise<void> {
  const pool = createPool(config);
  try {
    await body(pool);
  } finally {
    await pool.promise().end();
  }
}

async function rows(pool: Pool, sql: string | RoutedQueryOptions, values?: unknown[]): Promise<Row[]> {
  return (await pool.promise().query(sql, values))[0] as Row[];
}

async function portOf(pool: Pool, role?: 'primary' | 'replica'): Promise<number> {
  return Number((await rows(pool, role ? { sql: 'SELECT @@port AS port', role } : 'SELECT @@port AS port'))[0]!['port']);
}

function host(pool: Pool, name: string): HostStats {
  const h = pool.stats().hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${name}`);
  return h;
}

/** The errno a statement fails with, 0 when it succeeds. */
function errnoOf(p: Promise<unknown>): Promise<number> {
  return p.then(() => 0, (e: { errno?: number }) => e.errno ?? -1);
}

function routing(pool: Pool): Promise<RoutingConnection> {
  return new Promise((resolve, reject) => pool.getConnection({ role: 'auto' }, (err, conn) => (err || !conn ? reject(err) : resolve(conn as unknown as RoutingConnection))));
}

function rq(rc: RoutingConnection, sql: string, values?: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => rc.query(sql, values, (err, res) => (err ? reject(err) : resolve(res))));
}

/** Records uncaught exceptions and unhandled rejections while installed. */
function watchProcess(): { readonly events: string[]; stop(): void } {
  const events: string[] = [];
  const onException = (e: unknown) => events.push(`uncaughtException: ${String(e)}`);
  const onRejection = (e: unknown) => events.push(`unhandledRejection: ${String(e)}`);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return {
    events,
    stop() {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
    },
  };
}

/** InnoDB transactions open in sessions of the application user on `node`. */
async function openTransactions(node: MyNode): Promise<number> {
  const [r] = await root(node, "SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE p.USER = 'app'");
  return Number(r!['n']);
}

async function generalLog(node: MyNode, on: boolean): Promise<void> {
  await root(node, "SET GLOBAL log_output = 'TABLE'", `SET GLOBAL general_log = ${on ? 1 : 0}`);
}

/** Statements logged on `node` (general log on) whose text starts with `prefix` and contains `needle`. */
async function logged(node: MyNode, prefix: string, needle = ''): Promise<number> {
  const [r] = await root(node, {
    sql: "SELECT COUNT(*) AS n FROM mysql.general_log WHERE command_type IN ('Query', 'Execute') AND CONVERT(argument USING utf8mb4) LIKE ? AND CONVERT(argument USING utf8mb4) LIKE ?",
    values: [`${prefix}%`, `%${needle}%`],
  });
  return Number(r!['n']);
}

// ---------------------------------------------------------------------------------------------
// 1. A MariaDB replica with read_only=0: its own cluster, since a write there breaks replication.
describe('a writable replica (read_only=0) is never written to', () => {
  const cluster = useMyCluster({ replicas: 2 });
  let writable: MyNode;

  beforeAll(async () => {
    const c = cluster();
    await prepare(c);
    // An application user without REPLICA MONITOR: the probe must fall back on Slaves_running.
    await root(c.primary, "CREATE USER 'nomon'@'%' IDENTIFIED BY 'nomon'", "GRANT ALL ON test.* TO 'nomon'@'%'");
    await waitForReplicas(c);
    writable = c.replicas[0]!;
    await root(writable, 'SET GLOBAL read_only = 0');
  });

  describe('writes hidden from the classifier run once, on the primary', () => {
    let pool: Pool;
    beforeAll(() => {
      const c = cluster();
      pool = createPool({ primary: { uri: c.primary.url, name: 'primary' }, replicas: [{ uri: writable.url, name: 'writable' }], multipleStatements: true });
    });
    afterAll(async () => {
      await pool?.promise().end();
    });

    const hidden: { what: string; sql: (m: string) => string; execute?: boolean }[] = [
      { what: 'a writing stored function', sql: (m) => `SELECT mark('${m}') AS r` },
      { what: 'the function in a derived table', sql: (m) => `SELECT r FROM (SELECT mark('${m}') AS r) AS d` },
      { what: 'the function in a CTE', sql: (m) => `WITH w AS (SELECT mark('${m}') AS r) SELECT r FROM w` },
      { what: 'the function in a table value constructor', sql: (m) => `VALUES (mark('${m}'))` },
      { what: 'the function in a user variable assignment', sql: (m) => `SELECT @r := mark('${m}') AS r` },
      { what: 'the function in an executable comment', sql: (m) => `SELECT 1 AS one /*!, mark('${m}') AS r */` },
      { what: 'the function in a MariaDB executable comment', sql: (m) => `SELECT 1 AS one /*M!100300 , mark('${m}') AS r */` },
      { what: 'an executable-comment INSERT after a SELECT', sql: (m) => `SELECT 1 AS one; /*! INSERT INTO marks(m, port) VALUES ('${m}', @@port) */` },
      { what: 'the function in a prepared statement (execute)', sql: () => 'SELECT mark(?) AS r', execute: true },
    ];

    it.each(hidden.map((h, i) => ({ ...h, m: `1a-${i}` })))('$what', async ({ sql, execute, m }) => {
      const c = cluster();
      const p = pool.promise();
      await (execute ? p.execute(sql(m), [m]) : p.query(sql(m)));
      expect(await marks(c.primary, m)).toEqual({ n: 1, ports: [c.primary.port] });
      await expectReplicating(c);
      expect(await marks(writable, m)).toEqual({ n: 1, ports: [c.primary.port] });
    });

    it('a sequence advanced by SELECT NEXT VALUE FOR', async () => {
      const [row] = await rows(pool, 'SELECT NEXT VALUE FOR seq1 AS v, @@port AS port');
      expect(row!['port']).toBe(cluster().primary.port);
      await expectReplicating(cluster());
    });

    it('a replica lease or { role: "replica" } cannot write there (1792) and nothing is re-run', async () => {
      const c = cluster();
      const conn = await pool.promise().getConnection({ role: 'replica' });
      try {
        expect(Number(((await conn.query('SELECT @@port AS port'))[0] as Row[])[0]!['port'])).toBe(writable.port);
        expect(await errnoOf(conn.query("INSERT INTO marks(m, port) VALUES ('1a-lease', @@port)"))).toBe(1792);
        expect(await errnoOf(conn.query("SELECT mark('1a-lease')"))).toBe(1792);
      } finally {
        conn.release();
      }
      expect(await errnoOf(rows(pool, { sql: "INSERT INTO marks(m, port) VALUES ('1a-role', @@port)", role: 'replica' }))).toBe(1792);
      await expectReplicating(c);
      for (const node of [c.primary, writable]) {
        expect(await marks(node, '1a-lease')).toEqual({ n: 0, ports: [] });
        expect(await marks(node, '1a-role')).toEqual({ n: 0, ports: [] });
      }
    });
  });

  it('a session statement sent to the replica in the stream form (no callback) cannot leave its connection writable', async () => {
    const c = cluster();
    await withPool({ primary: { uri: c.primary.url, name: 'primary' }, replicas: [{ uri: writable.url, name: 'writable' }], connectionLimit: 1 }, async (pool) => {
      await new Promise<void>((resolve, reject) => pool.query({ sql: 'SET SESSION TRANSACTION READ WRITE', role: 'replica' }).on('error', reject).on('end', () => resolve()));
      await rows(pool, "SELECT mark('1a-stream') AS r");
    });
    expect(await marks(c.primary, '1a-stream')).toEqual({ n: 1, ports: [c.primary.port] });
    await expectReplicating(c);
    expect(await marks(writable, '1a-stream')).toEqual({ n: 1, ports: [c.primary.port] });
  });

  it('hosts form: the writable replica is not taken for a second primary, and roleMismatch is emitted', async () => {
    const c = cluster();
    const mismatches: RoleMismatch[] = [];
    await withPool({ hosts: [{ uri: c.primary.url, name: 'primary' }, { uri: writable.url, name: 'writable' }, { uri: c.replicas[1]!.url, name: 'replica2' }], healthCheckIntervalMillis: 300 }, async (pool) => {
      pool.on('roleMismatch', (m: RoleMismatch) => mismatches.push(m));
      await Promise.all(Array.from({ length: 20 }, () => rows(pool, "INSERT INTO marks(m, port) VALUES ('1b', @@port)")));
      expect(await portOf(pool, 'primary')).toBe(c.primary.port);
      expect(pool.stats().hosts.map((h) => [h.name, h.role, h.state])).toEqual([['primary', 'primary', 'up'], ['writable', 'replica', 'up'], ['replica2', 'replica', 'up']]);
      expect(mismatches).toContainEqual({ name: 'writable', configured: undefined, reported: 'replica', writable: true, used: 'replica' });
      expect(mismatches.filter((m) => m.name !== 'writable')).toEqual([]);
    });
    expect(await marks(c.primary, '1b')).toEqual({ n: 20, ports: [c.primary.port] });
    await expectReplicating(c);
    expect(await marks(writable, '1b')).toEqual({ n: 20, ports: [c.primary.port] });
  });

  it('hosts form without REPLICA MONITOR: replicating is seen through Slaves_running; once it stops, two hosts claim the primary role and no write is sent', async () => {
    const c = cluster();
    const as = (node: MyNode, name: string) => ({ host: node.host, port: node.port, user: 'nomon', password: 'nomon', database: 'test', name });
    await withPool({ hosts: [as(c.primary, 'primary'), as(writable, 'writable')], healthCheckIntervalMillis: 200 }, async (pool) => {
      await rows(pool, "INSERT INTO marks(m, port) VALUES ('1b-nomon', @@port)");
      expect(pool.stats().hosts.map((h) => h.role)).toEqual(['primary', 'replica']);
      try {
        await root(writable, 'STOP SLAVE');
        await waitFor(() => host(pool, 'writable').role === 'primary', 10_000);
        for (let i = 0; i < 10; i++) {
          const err = await rows(pool, "INSERT INTO marks(m, port) VALUES ('1b-ambiguous', @@port)").then(() => undefined, (e: Error) => e);
          expect(err).toMatchObject({ code: 'P2C_NO_PRIMARY' });
          expect(err?.message).toMatch(/several hosts claim the primary role/);
        }
      } finally {
        await root(writable, 'START SLAVE');
      }
      await waitFor(() => host(pool, 'writable').role === 'replica', 10_000);
      await rows(pool, "INSERT INTO marks(m, port) VALUES ('1b-nomon', @@port)");
    });
    expect(await marks(c.primary, '1b-nomon')).toEqual({ n: 2, ports: [c.primary.port] });
    await expectReplicating(c);
    for (const node of [c.primary, writable]) expect(await marks(node, '1b-ambiguous')).toEqual({ n: 0, ports: [] });
  });

  it('primary/replicas form: it stays a replica, roleMismatch is emitted, and nothing is served before each host\'s first check', async () => {
    const c = cluster();
    // Its first check is slow (every answer delayed), so a request could reach it before it.
    const proxy = await FaultProxy.start({ host: writable.host, port: writable.port });
    proxy.setDelay(150);
    const mismatches: RoleMismatch[] = [];
    const servedUnverified: string[] = [];
    try {
      await withPool({ primary: { uri: c.primary.url, name: 'primary' }, replicas: [{ host: proxy.host, port: proxy.port, ...APP, name: 'writable' }], healthCheckIntervalMillis: 300 }, async (pool) => {
        pool.on('roleMismatch', (m: RoleMismatch) => mismatches.push(m));
        pool.on('acquire', (_conn: unknown, info: { name: string }) => {
          if (host(pool, info.name).verified !== true) servedUnverified.push(info.name);
        });
        expect(pool.stats().hosts.map((h) => h.verified)).toEqual([false, false]);
        const reads = Array.from({ length: 10 }, () => portOf(pool));
        const writes = Array.from({ length: 3 }, () => rows(pool, "INSERT INTO marks(m, port) VALUES ('1c', @@port)"));
        const ports = await Promise.all(reads);
        await Promise.all(writes);
        expect(servedUnverified).toEqual([]);
        expect(new Set(ports)).toEqual(new Set([writable.port]));
        expect(pool.stats().hosts.map((h) => [h.name, h.role, h.state, h.verified])).toEqual([['primary', 'primary', 'up', true], ['writable', 'replica', 'up', true]]);
        expect(mismatches).toContainEqual({ name: 'writable', configured: 'replica', reported: 'replica', writable: true, used: 'replica' });
        expect(mismatches.filter((m) => m.name !== 'writable')).toEqual([]);
      });
    } finally {
      await proxy.stop();
    }
    expect(await marks(c.primary, '1c')).toEqual({ n: 3, ports: [c.primary.port] });
    await expectReplicating(c);
  });
});

// ---------------------------------------------------------------------------------------------
// Items 2-9 share one cluster (primary + 2 read-only replicas); each test restores what it changes.
describe('on read-only replicas', () => {
  const cluster = useMyCluster({ replicas: 2 });
  beforeAll(async () => {
    await prepare(cluster());
  });
  const primaryOf = (c: MyCluster) => ({ uri: c.primary.url, name: 'primary' });
  const replicaOf = (c: MyCluster, i: number, extra: Record<string, unknown> = {}) => ({ uri: c.replicas[i]!.url, name: `replica${i + 1}`, ...extra });

  // 2. Read-only sessions.
  describe('replica connections are read-only sessions', () => {
    it('getConnection({ role: "replica" }) cannot write (1792); readOnlyReplicas: false turns that off', async () => {
      const c = cluster();
      const measured: Record<string, Record<string, number>> = {};
      for (const readOnlyReplicas of [true, false]) {
        await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], readOnlyReplicas }, async (pool) => {
          const conn = await pool.promise().getConnection({ role: 'replica' });
          try {
            const [[row]] = (await conn.query('SELECT @@tx_read_only AS ro, @@port AS port')) as unknown as [Row[]];
            expect(row!['port']).toBe(c.replicas[0]!.port);
            measured[`readOnlyReplicas: ${readOnlyReplicas}`] = {
              tx_read_only: Number(row!['ro']),
              // read_only=1 stops the app user's INSERT before the session does (1290 either way)...
              insert: await errnoOf(conn.query("INSERT INTO marks(m, port) VALUES ('2', @@port)")),
              // ...but not a write inside a function, nor a temporary table: only the session does.
              writingFunction: await errnoOf(conn.query("SELECT mark('2')")),
              temporaryTable: await errnoOf(conn.query('CREATE TEMPORARY TABLE t2 (a INT)')),
            };
          } finally {
            conn.release();
          }
        });
      }
      console.log(`mysql replica leases: ${JSON.stringify(measured)}`);
      expect(measured).toEqual({
        'readOnlyReplicas: true': { tx_read_only: 1, insert: 1290, writingFunction: 1792, temporaryTable: 1792 },
        'readOnlyReplicas: false': { tx_read_only: 0, insert: 1290, writingFunction: 1290, temporaryTable: 0 },
      });
    });

    /** Runs `fn` on a replica lease, then releases it. */
    async function onLease(pool: Pool, fn: (conn: mysql.PoolConnection) => Promise<unknown>): Promise<void> {
      const conn = await pool.promise().getConnection({ role: 'replica' });
      try {
        await fn(conn);
        expect(Number(((await conn.query('SELECT @@tx_read_only AS ro'))[0] as Row[])[0]!['ro'])).toBe(0);
      } finally {
        conn.release();
      }
    }

    it.each([
      { what: 'SET SESSION TRANSACTION READ WRITE on a replica lease', change: (pool: Pool) => onLease(pool, (conn) => conn.query('SET SESSION TRANSACTION READ WRITE')) },
      { what: 'changeUser on a replica lease (it resets the session)', change: (pool: Pool) => onLease(pool, (conn) => conn.changeUser({ ...APP })) },
      { what: "pool.query({ sql: 'SET SESSION TRANSACTION READ WRITE', role: 'replica' })", change: (pool: Pool) => rows(pool, { sql: 'SET SESSION TRANSACTION READ WRITE', role: 'replica' }) },
      { what: 'an executable-comment SET after a SELECT', change: (pool: Pool) => rows(pool, 'SELECT 1; /*! SET SESSION TRANSACTION READ WRITE */') },
    ])('a replica session changed by the user ($what) is read-only again for the pool', async ({ change }) => {
      const c = cluster();
      // One connection per host, so the pool's next read reuses the same connection.
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], connectionLimit: 1, multipleStatements: true }, async (pool) => {
        const before = await rows(pool, { sql: 'SELECT CONNECTION_ID() AS id', role: 'replica' });
        await change(pool);
        const [row] = await rows(pool, { sql: 'SELECT @@tx_read_only AS ro, CONNECTION_ID() AS id', role: 'replica' });
        expect({ ro: Number(row!['ro']), sameConnection: row!['id'] === before[0]!['id'] }).toEqual({ ro: 1, sameConnection: true });
      });
    });
  });

  // 3. Lag of a replica that lost its upstream.
  it('a replica whose IO thread stopped serves stale reads only in the first ~1.5 s (maxReplicationLagMillis 1000)', async () => {
    const c = cluster();
    const r = c.replicas[0]!;
    await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], maxReplicationLagMillis: 1000, healthCheckIntervalMillis: 200 }, async (pool) => {
      expect(await portOf(pool)).toBe(r.port);
      const stale: number[] = [];
      let firstFromPrimary: number | undefined;
      let reads = 0;
      let stoppedAt = 0;
      try {
        await root(r, 'STOP SLAVE IO_THREAD');
        stoppedAt = Date.now();
        for (let i = 1; Date.now() - stoppedAt < 4000; i++) {
          await rows(pool, 'INSERT INTO lag3 VALUES (?)', [i]);
          const [row] = await rows(pool, 'SELECT COUNT(*) AS n, @@port AS port FROM lag3 WHERE id = ?', [i]);
          const at = Date.now() - stoppedAt;
          reads++;
          if (Number(row!['n']) === 0) stale.push(at);
          if (row!['port'] === c.primary.port) firstFromPrimary ??= at;
          await sleep(10);
        }
        const lag = host(pool, 'replica1').lagMillis;
        console.log(`mysql IO thread stopped: ${stale.length} stale of ${reads} reads, last stale read at ${stale.at(-1) ?? '-'} ms, reads on the primary from ${firstFromPrimary ?? '-'} ms; lag then ${Math.round(lag ?? -1)} ms`);
        expect(stale.at(-1) ?? 0).toBeLessThan(2500);
        expect(lag).toBeGreaterThan(1000);
      } finally {
        await root(r, 'START SLAVE IO_THREAD');
      }
      // Receiving again: the replica catches up and serves again.
      await waitFor(async () => (await portOf(pool)) === r.port, 15_000);
    });
    await expectReplicating(c);
  });

  // 4. A replica that refuses logins.
  describe('a replica that refuses logins', () => {
    /** 200 reads by 8 readers; every one must succeed. */
    async function reads200(pool: Pool): Promise<{ failed: string[]; ports: Map<number, number> }> {
      const failed: string[] = [];
      const ports = new Map<number, number>();
      let issued = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (issued < 200) {
          issued++;
          try {
            const port = await portOf(pool);
            ports.set(port, (ports.get(port) ?? 0) + 1);
          } catch (err) {
            failed.push(`${(err as { code?: string }).code}: ${(err as Error).message}`);
          }
        }
      }));
      return { failed, ports };
    }

    it('from the start (wrong password 1045, unknown database 1049): never verified, never blamed on the good hosts', async () => {
      const c = cluster();
      const bad = c.replicas[1]!;
      await withPool({
        primary: primaryOf(c),
        replicas: [replicaOf(c, 0), { host: bad.host, port: bad.port, user: 'app', password: 'wrong', database: 'test', name: 'badPassword' },
          { host: bad.host, port: bad.port, user: 'root', database: 'no_such_db', name: 'noDatabase' }],
      }, async (pool) => {
        const { failed, ports } = await reads200(pool);
        expect(failed).toEqual([]);
        expect([...ports.keys()]).toEqual([c.replicas[0]!.port]);
        for (const name of ['badPassword', 'noDatabase']) {
          const h = host(pool, name);
          expect({ name, verified: h.verified, serving: h.state === 'up' && h.verified, queries: h.queries }).toEqual({ name, verified: false, serving: false, queries: 0 });
        }
        for (const name of ['primary', 'replica1']) expect(host(pool, name)).toMatchObject({ state: 'up', errors: 0 });
      });
    });

    // Logins that start failing after the first check: the path where a connection attempt fails.
    it.each([
      {
        what: 'password changed (1045)', errno: 1045,
        setUp: ["CREATE USER IF NOT EXISTS 'app4'@'%' IDENTIFIED BY 'app4'", "GRANT ALL ON test.* TO 'app4'@'%'"], onReplica: [], database: 'test',
        breakIt: ['SET sql_log_bin = 0', "ALTER USER 'app4'@'%' IDENTIFIED BY 'changed'"],
        repair: ['SET sql_log_bin = 0', "ALTER USER 'app4'@'%' IDENTIFIED BY 'app4'"],
      },
      {
        what: 'database dropped (1049)', errno: 1049,
        setUp: ["CREATE USER IF NOT EXISTS 'app4'@'%' IDENTIFIED BY 'app4'", "GRANT ALL ON test.* TO 'app4'@'%'", "GRANT ALL ON lonely.* TO 'app4'@'%'"],
        // A database on this replica only (not binlogged), so dropping it touches no replicated data.
        onReplica: ['SET sql_log_bin = 0', 'CREATE DATABASE IF NOT EXISTS lonely'], database: 'lonely',
        breakIt: ['SET sql_log_bin = 0', 'DROP DATABASE lonely'],
        repair: [],
      },
    ])('after the first check ($what): every read succeeds, the host is ejected, the good hosts are not blamed', async ({ errno, setUp, onReplica, database, breakIt, repair }) => {
      const c = cluster();
      const bad = c.replicas[1]!;
      await root(c.primary, ...setUp);
      await waitForReplicas(c);
      if (onReplica.length > 0) await root(bad, ...onReplica);
      const loginErrors: number[] = [];
      try {
        await withPool({
          primary: primaryOf(c),
          replicas: [replicaOf(c, 0), { host: bad.host, port: bad.port, user: 'app4', password: 'app4', database, name: 'flaky' }],
          healthCheckIntervalMillis: 60_000, ejectionMillis: 60_000,
        }, async (pool) => {
          // Verified by the first checks, with no connection opened to it yet.
          await portOf(pool, 'primary');
          expect(pool.stats().hosts.map((h) => [h.name, h.state, h.verified, h.total])).toEqual([['primary', 'up', true, 1], ['replica1', 'up', true, 0], ['flaky', 'up', true, 0]]);
          await root(bad, ...breakIt);
          // The server now refuses this login (checked directly).
          loginErrors.push(await mysql.createConnection({ host: bad.host, port: bad.port, user: 'app4', password: 'app4', database })
            .then(async (x) => { await x.end(); return 0; }, (e: { errno: number }) => e.errno));
          const t0 = Date.now();
          let ejectedAfter: number | undefined;
          pool.on('hostEjected', (h: HostStats) => { if (h.name === 'flaky') ejectedAfter ??= Date.now() - t0; });
          const { failed, ports } = await reads200(pool);
          const after200 = host(pool, 'flaky');
          expect(failed).toEqual([]);
          expect(after200.errors).toBeGreaterThan(0);
          // After a few failures P2C's error penalty steers reads away from it, with too few failures
          // to eject it under light load: 40 reads at once reach it again until it is ejected.
          let bursts = 0;
          await waitFor(async () => {
            if (host(pool, 'flaky').state === 'ejected') return true;
            bursts++;
            const burst = await Promise.all(Array.from({ length: 40 }, () => portOf(pool).then(() => 'ok', (e: Error) => e.message)));
            failed.push(...burst.filter((r) => r !== 'ok'));
            return false;
          }, 20_000);
          const flaky = host(pool, 'flaky');
          console.log(`mysql login refused (${errno}) after the first check: 0 failed of 200 reads, ${after200.errors} failed logins, then ${after200.state}; `
            + `ejected after ${bursts} bursts of 40, ${flaky.errors} failed logins, ${ejectedAfter} ms; reads ${JSON.stringify(Object.fromEntries(ports))}`);
          expect(failed).toEqual([]);
          for (const name of ['primary', 'replica1']) expect(host(pool, name)).toMatchObject({ state: 'up', errors: 0 });
        });
        expect(loginErrors).toEqual([errno]);
      } finally {
        if (repair.length > 0) await root(bad, ...repair);
      }
    });
  });

  // 5. Client-side failures.
  describe('client-side failures do not eject healthy hosts', () => {
    it.each([
      { what: 'queueLimit reached', options: { queueLimit: 1 }, message: 'Queue limit reached.' },
      { what: 'waitForConnections: false', options: { waitForConnections: false }, message: 'No connections available.' },
    ])('$what: the caller gets mysql2\'s error, the host stays up with no errors', async ({ options, message }) => {
      const c = cluster();
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], connectionLimit: 1, healthCheckIntervalMillis: 60_000, ...options }, async (pool) => {
        await portOf(pool);
        const results = await Promise.all(Array.from({ length: 10 }, () => rows(pool, 'SELECT SLEEP(0.2) AS s').then(() => 'ok', (e: Error) => e.message)));
        expect(results.filter((r) => r === 'ok').length).toBeGreaterThanOrEqual(1);
        expect(results.filter((r) => r !== 'ok')).toEqual(Array(results.filter((r) => r !== 'ok').length).fill(message));
        expect(results.filter((r) => r !== 'ok').length).toBeGreaterThanOrEqual(5);
        expect(host(pool, 'replica1')).toMatchObject({ state: 'up', errors: 0 });
        expect(await portOf(pool)).toBe(c.replicas[0]!.port);
      });
    });

    it('waiting in the queue: 20 reads through one connection all succeed, no errors counted', async () => {
      const c = cluster();
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], connectionLimit: 1, queryTimeoutMillis: 1000 }, async (pool) => {
        const ports = await Promise.all(Array.from({ length: 20 }, () => rows(pool, 'SELECT SLEEP(0.05) AS s, @@port AS port').then((r) => r[0]!['port'])));
        expect(new Set(ports)).toEqual(new Set([c.replicas[0]!.port]));
        expect(host(pool, 'replica1')).toMatchObject({ state: 'up', errors: 0 });
      });
    });

    it('queryTimeoutMillis on a slow read: the caller gets the timeout, the host stays up, the statement ran once', async () => {
      const c = cluster();
      const nodes = [c.primary, ...c.replicas];
      const marker = `5b-${Date.now()}`;
      try {
        for (const n of nodes) await generalLog(n, true);
        await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0), replicaOf(c, 1)], queryTimeoutMillis: 300 }, async (pool) => {
          await portOf(pool);
          const t0 = Date.now();
          const err = await rows(pool, `SELECT SLEEP(1) AS s, '${marker}' AS m`).then(() => undefined, (e: Error) => e);
          const took = Date.now() - t0;
          expect(err).toMatchObject({ code: 'PROTOCOL_SEQUENCE_TIMEOUT' });
          // Time for a second copy to show up, had the read been retried elsewhere.
          await sleep(1500);
          const copies = await Promise.all(nodes.map((n) => logged(n, 'SELECT SLEEP(1)', marker)));
          console.log(`mysql queryTimeoutMillis 300 on SLEEP(1): error after ${took} ms; copies per host ${JSON.stringify(copies)}`);
          expect(copies.reduce((a, b) => a + b, 0)).toBe(1);
          for (const h of pool.stats().hosts) expect({ name: h.name, state: h.state, errors: h.errors }).toEqual({ name: h.name, state: 'up', errors: 0 });
        });
      } finally {
        for (const n of nodes) await generalLog(n, false);
      }
    });
  });

  // 6. Crashes.
  describe('resets never crash the process', () => {
    it('a reset during a read-your-writes freshness check: the read is served by the primary', async () => {
      const c = cluster();
      const r = c.replicas[0]!;
      const proxy = await FaultProxy.start({ host: r.host, port: r.port });
      const watch = watchProcess();
      try {
        await generalLog(r, true);
        await withPool({
          primary: primaryOf(c), replicas: [{ host: proxy.host, port: proxy.port, ...APP, name: 'proxied', connectionLimit: 1 }],
          consistency: 'read-your-writes', healthCheckIntervalMillis: 60_000, healthCheckTimeoutMillis: 10_000,
        }, async (pool) => {
          for (let i = 0; i < 3; i++) expect(await portOf(pool)).toBe(r.port); // a warm read-only connection
          const checksBefore = await logged(r, 'SELECT MASTER_GTID_WAIT(');
          proxy.setDelay(3000);
          await rows(pool, "INSERT INTO marks(m, port) VALUES ('6a', @@port)");
          const sql = "SELECT COUNT(*) AS n, @@port AS port FROM marks WHERE m = '6a'";
          const read = rows(pool, sql);
          // The check reached the replica; its answer is held by the proxy.
          await waitFor(async () => (await logged(r, 'SELECT MASTER_GTID_WAIT(')) > checksBefore, 10_000);
          // A second read waits in mysql2's queue for the replica's only connection.
          const queued = rows(pool, sql);
          await waitFor(() => host(pool, 'proxied').waiting === 1, 5000);
          proxy.reset();
          await proxy.heal();
          const [row] = await read;
          expect({ n: Number(row!['n']), port: row!['port'] }).toEqual({ n: 1, port: c.primary.port });
          const [other] = await queued;
          expect(Number(other!['n'])).toBe(1);
          await waitFor(async () => (await portOf(pool)) === r.port, 10_000);
        });
        await sleep(200);
        expect(watch.events).toEqual([]);
      } finally {
        watch.stop();
        await generalLog(r, false);
        await proxy.stop();
      }
    });

    it('a reset under pinned RoutingConnection transactions: their error listeners get it, statements fail, nothing crashes', async () => {
      const c = cluster();
      const proxy = await FaultProxy.start({ host: c.primary.host, port: c.primary.port });
      const watch = watchProcess();
      try {
        await withPool({ primary: { host: proxy.host, port: proxy.port, ...APP, name: 'primary' }, replicas: [replicaOf(c, 0)], healthCheckIntervalMillis: 60_000 }, async (pool) => {
          const listened = await routing(pool);
          const silent = await routing(pool); // no 'error' listener: must not throw
          const inFlight = await routing(pool);
          const errors: Error[] = [];
          const inFlightErrors: Error[] = [];
          listened.on('error', (e: Error) => errors.push(e));
          inFlight.on('error', (e: Error) => inFlightErrors.push(e));
          for (const [rc, m] of [[listened, '6b-listened'], [silent, '6b-silent'], [inFlight, '6b-inflight']] as const) {
            await rq(rc, 'START TRANSACTION');
            await rq(rc, 'INSERT INTO marks(m, port) VALUES (?, @@port)', [m]);
          }
          const sleeping = rq(inFlight, "SELECT SLEEP(5) AS s, '6b-sleep' AS m").then(() => undefined, (e: Error) => e);
          await waitFor(async () => (await root(c.primary, "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE '%6b-sleep%' AND INFO NOT LIKE '%PROCESSLIST%'"))[0]!['n'] === 1, 10_000);
          proxy.reset();
          await waitFor(() => errors.length > 0 && inFlightErrors.length > 0, 10_000);
          await proxy.heal();
          expect((await sleeping) as unknown).toBeInstanceOf(Error);
          expect(errors.map((e) => (e as { code?: string }).code)).toEqual([expect.stringMatching(/^(ECONNRESET|PROTOCOL_CONNECTION_LOST)$/)]);
          for (const rc of [listened, silent, inFlight]) {
            await expect(rq(rc, 'COMMIT')).rejects.toBeInstanceOf(Error);
            rc.release();
          }
          // The lost transactions were not committed; the pool writes again.
          await waitFor(() => rows(pool, "INSERT INTO marks(m, port) VALUES ('6b-after', @@port)").then(() => true, () => false), 10_000);
        });
        // The server rolls the reset sessions back (the sleeping one once its SLEEP ends).
        await waitFor(async () => (await openTransactions(c.primary)) === 0, 15_000);
        for (const m of ['6b-listened', '6b-silent', '6b-inflight']) expect(await marks(c.primary, m)).toEqual({ n: 0, ports: [] });
        expect((await marks(c.primary, '6b-after')).n).toBe(1);
        await sleep(200);
        expect(watch.events).toEqual([]);
      } finally {
        watch.stop();
        await proxy.stop();
      }
    });
  });

  // 7. No pooled connection left in a transaction.
  describe('no connection is left idle in a transaction', () => {
    it.each([
      'START TRANSACTION', 'BEGIN', 'SET autocommit = 0', '/* app */ START TRANSACTION', "XA START 'x7'",
      'SELECT 1; START TRANSACTION', 'START TRANSACTION; SELECT 1', 'SET autocommit = 0; SELECT 1',
    ])('pool.query(%j), then writes through the same single connection: none is lost, none left open', async (opener) => {
      const c = cluster();
      const tag = `7-${opener}`;
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], connectionLimit: 1, multipleStatements: true }, async (pool) => {
        await rows(pool, opener);
        for (let i = 0; i < 5; i++) await rows(pool, 'INSERT INTO rows7(tag) VALUES (?)', [tag]);
        const [seen] = await root(c.primary, { sql: 'SELECT COUNT(*) AS n FROM test.rows7 WHERE tag = ?', values: [tag] });
        expect(Number(seen!['n'])).toBe(5);
        expect(await openTransactions(c.primary)).toBe(0);
      });
    });

    it('RoutingConnection: "/* app */ START TRANSACTION" and "-- c\\nBEGIN", another request\'s write in between, then ROLLBACK: only its own write is undone', async () => {
      const c = cluster();
      // Two connections: the pinned transaction holds one, the other request gets the other (mysql2
      // hands out a free connection first, so a transaction left on a pooled one would be reused).
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], connectionLimit: 2 }, async (pool) => {
        for (const opener of ['/* app */ START TRANSACTION', '-- c\nBEGIN']) {
          const tag = `7rc-${opener}`;
          const rc = await routing(pool);
          try {
            await rq(rc, opener);
            await rq(rc, 'INSERT INTO rows7(tag) VALUES (?)', [`${tag}-mine`]);
            await rows(pool, 'INSERT INTO rows7(tag) VALUES (?)', [`${tag}-other`]);
            await rq(rc, 'ROLLBACK');
          } finally {
            rc.release();
          }
          const counted = await root(c.primary, { sql: 'SELECT tag, COUNT(*) AS n FROM test.rows7 WHERE tag LIKE ? GROUP BY tag ORDER BY tag', values: [`${tag}-%`] });
          expect({ opener, rows: counted.map((r) => [r['tag'], Number(r['n'])]) }).toEqual({ opener, rows: [[`${tag}-other`, 1]] });
        }
        expect(await openTransactions(c.primary)).toBe(0);
      });
    });
    // Found by the adversarial review: a lease released with autocommit off (or inside a
    // transaction) was pooled; the next request's write was acknowledged, then rolled back.
    it.each([
      ['SET autocommit = 0, then COMMIT', ['SET autocommit = 0', "INSERT INTO rows7(tag) VALUES ('lease-ac0')", 'COMMIT']],
      ['START TRANSACTION, never ended', ['START TRANSACTION', "INSERT INTO rows7(tag) VALUES ('lease-open')"]],
      ['SET NAMES, then START TRANSACTION', ['SET NAMES utf8mb4', 'START TRANSACTION']],
    ])('a getConnection() lease left with %s is not pooled: the next acknowledged write survives', async (name, statements) => {
      const c = cluster();
      const tag = `lease-next-${name}`;
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], connectionLimit: 1 }, async (pool) => {
        const conn = await pool.promise().getConnection();
        for (const sql of statements) await conn.query(sql);
        conn.release();
        await rows(pool, 'INSERT INTO rows7(tag) VALUES (?)', [tag]);
        await sleep(100);
        const [seen] = await root(c.primary, { sql: 'SELECT COUNT(*) AS n FROM test.rows7 WHERE tag = ?', values: [tag] });
        expect(Number(seen!['n'])).toBe(1);
        expect(await openTransactions(c.primary)).toBe(0);
      });
    });

    it('a lease that ran a prepared START TRANSACTION is not pooled: the next acknowledged write survives', async () => {
      const c = cluster();
      const tag = 'lease-prepared-tx';
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], connectionLimit: 1 }, async (pool) => {
        const conn = await pool.promise().getConnection();
        const stmt = await conn.prepare('START TRANSACTION');
        await stmt.execute([]);
        conn.release();
        await rows(pool, 'INSERT INTO rows7(tag) VALUES (?)', [tag]);
        const [seen] = await root(c.primary, { sql: 'SELECT COUNT(*) AS n FROM test.rows7 WHERE tag = ?', values: [tag] });
        expect(Number(seen!['n'])).toBe(1);
      });
    });

    it('a connection used after release() to open a transaction: the next write is refused (P2C_FOREIGN_TRANSACTION), not acknowledged and lost', async () => {
      const c = cluster();
      const tag = 'foreign-tx';
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], connectionLimit: 1 }, async (pool) => {
        const conn = await pool.promise().getConnection();
        conn.release();
        await conn.query('START TRANSACTION'); // misuse: the connection is back in the pool
        const outcome = await rows(pool, 'INSERT INTO rows7(tag) VALUES (?)', [tag]).then(() => 'acknowledged', (e: { code?: string }) => e.code);
        expect(outcome).toBe('P2C_FOREIGN_TRANSACTION');
        const [seen] = await root(c.primary, { sql: 'SELECT COUNT(*) AS n FROM test.rows7 WHERE tag = ?', values: [tag] });
        expect(Number(seen!['n'])).toBe(0);
      });
    });

    it('maxIdle below connectionLimit: mysql2\'s idle reaper can destroy connections that were leased (no busy loop)', async () => {
      const c = cluster();
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], connectionLimit: 2, maxIdle: 0, idleTimeout: 300 }, async (pool) => {
        const conn = await pool.promise().getConnection();
        await conn.query('SELECT 1');
        conn.release();
        let ticks = 0;
        const timer = setInterval(() => { ticks++; }, 10);
        await sleep(1500); // the reaper runs every idleTimeout
        clearInterval(timer);
        expect(ticks).toBeGreaterThan(50); // before: the loop never returned
        expect((await rows(pool, { sql: 'SELECT 1 AS x', role: 'primary' }))[0]!['x']).toBe(1);
      });
    });

    it('a multi-statement text that opens a transaction and fails before its COMMIT leaves no pooled connection in it (found by the differential test)', async () => {
      const c = cluster();
      const tag = 'multi-fail';
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], connectionLimit: 1, multipleStatements: true }, async (pool) => {
        await expect(rows(pool, 'COMMIT AND CHAIN; SELECT no_such_column; ROLLBACK')).rejects.toMatchObject({ errno: 1054 });
        await expect(rows(pool, "START TRANSACTION; INSERT INTO rows7(tag) VALUES ('multi-fail-own'); SELECT no_such_column; COMMIT")).rejects.toMatchObject({ errno: 1054 });
        await expect(rows(pool, 'SET autocommit = 0; SELECT no_such_column')).rejects.toMatchObject({ errno: 1054 });
        await rows(pool, 'INSERT INTO rows7(tag) VALUES (?)', [tag]);
        const [seen] = await root(c.primary, { sql: 'SELECT COUNT(*) AS n FROM test.rows7 WHERE tag = ?', values: [tag] });
        expect(Number(seen!['n'])).toBe(1);
        expect(await openTransactions(c.primary)).toBe(0);
      });
    });

    it('raw SQL in the values (mysql.raw): a lease left with autocommit off is not pooled, and GET_LOCK does not run on a replica', async () => {
      const c = cluster();
      const tag = 'raw-ac0-next';
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], connectionLimit: 1 }, async (pool) => {
        const conn = await pool.promise().getConnection();
        await conn.query('?', [mysqlCore.raw('SET autocommit = 0')]);
        conn.release();
        await rows(pool, 'INSERT INTO rows7(tag) VALUES (?)', [tag]);
        const [seen] = await root(c.primary, { sql: 'SELECT COUNT(*) AS n FROM test.rows7 WHERE tag = ?', values: [tag] });
        expect(Number(seen!['n'])).toBe(1);
        const [locked] = await rows(pool, 'SELECT ? AS l, @@port AS port', [mysqlCore.raw("GET_LOCK('p2c-raw', 0)")]);
        expect(Number(locked!['port'])).toBe(c.primary.port);
        await rows(pool, { sql: "SELECT RELEASE_LOCK('p2c-raw')", role: 'primary' });
      });
    });

    it('statements queued on a RoutingConnection before release() do not run', async () => {
      const c = cluster();
      await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)] }, async (pool) => {
        const rc = await routing(pool);
        const begun = rq(rc, 'START TRANSACTION').then(() => 'ran', () => 'refused');
        const inserted = rq(rc, "INSERT INTO rows7(tag) VALUES ('queued-before-release')").then(() => 'ran', () => 'refused');
        rc.release();
        expect([await begun, await inserted]).toEqual(['refused', 'refused']);
        expect(await openTransactions(c.primary)).toBe(0);
      });
    });

  });

  // 8. maxWaitingClients 0, inspect, malformed URIs.
  describe('options and output', () => {
    const secret = 'Pw8-s3cret';
    beforeAll(async () => {
      const c = cluster();
      await root(c.primary, `CREATE USER 'safe8'@'%' IDENTIFIED BY '${secret}'`, "GRANT ALL ON test.* TO 'safe8'@'%'");
      await waitForReplicas(c);
    });
    const url = (n: MyNode) => `mysql://safe8:${secret}@${n.host}:${n.port}/test`;

    it('maxWaitingClients: 0 on an idle pool serves every query', async () => {
      const c = cluster();
      await withPool({ primary: url(c.primary), replicas: c.replicas.map(url), maxWaitingClients: 0 }, async (pool) => {
        for (let i = 0; i < 10; i++) {
          await portOf(pool);
          await rows(pool, "INSERT INTO marks(m, port) VALUES ('8', @@port)");
        }
        await Promise.all(Array.from({ length: 5 }, () => portOf(pool)));
      });
    });

    it('util.inspect of the pool, its promise face and a RoutingConnection shows no password', async () => {
      const c = cluster();
      await withPool({ primary: url(c.primary), replicas: c.replicas.map(url), connectRole: 'auto' }, async (pool) => {
        await portOf(pool);
        const rc = await routing(pool);
        try {
          const shown = [inspect(pool, { depth: 8 }), inspect(pool.promise(), { depth: 8 }), inspect(rc, { depth: 8 }), inspect(pool.stats(), { depth: 8 })];
          await rq(rc, 'START TRANSACTION'); // pinned to a real connection now
          shown.push(inspect(rc, { depth: 8 }), inspect({ pool, rc }, { depth: 8 }));
          await rq(rc, 'ROLLBACK');
          for (const s of shown) expect(s).not.toContain(secret);
          expect(shown[0]).toContain('primary');
        } finally {
          rc.release();
        }
      });
    });

    it('util.inspect of a leased connection and of acquire/connection event payloads shows no password', async () => {
      const c = cluster();
      await withPool({ primary: url(c.primary), replicas: c.replicas.map(url) }, async (pool) => {
        const payloads: unknown[] = [];
        pool.on('acquire', (conn: unknown) => payloads.push(inspect(conn, { depth: 10 })));
        pool.on('connection', (conn: unknown) => payloads.push(inspect(conn, { depth: 10 })));
        const conn = await pool.promise().getConnection();
        try {
          expect(inspect(conn, { depth: 10 })).not.toContain(secret);
          expect(inspect(conn.connection, { depth: 10 })).not.toContain(secret);
        } finally {
          conn.release();
        }
        await portOf(pool);
        expect(payloads.length).toBeGreaterThan(0);
        for (const p of payloads) expect(p).not.toContain(secret);
      });
    });

    it('a malformed uri is a ConfigError at construction, without the password', () => {
      const c = cluster();
      const bad = 'mysql://app:secret@host:99999/test';
      const attempts: [string, () => Pool][] = [
        ['createPool(uri)', () => createPool(bad)],
        ['createPool({ uri })', () => createPool({ uri: bad })],
        ['primary', () => createPool({ primary: bad })],
        ['replicas[0]', () => createPool({ primary: c.primary.url, replicas: [bad] })],
        ['replicas[0].uri', () => createPool({ primary: c.primary.url, replicas: [{ uri: bad }] })],
        ['hosts[1]', () => createPool({ hosts: [c.primary.url, bad] })],
      ];
      for (const [what, make] of attempts) {
        let err: unknown;
        try {
          make().end();
        } catch (e) {
          err = e;
        }
        expect({ what, isConfigError: err instanceof ConfigError, code: (err as { code?: string } | undefined)?.code }).toEqual({ what, isConfigError: true, code: 'P2C_CONFIG' });
        expect(inspect(err)).not.toContain('secret');
      }
    });
  });

  // 9. Read-your-writes after a re-run write.
  it('a SELECT of a writing function re-run on the primary records its position: the next read sees the row', async () => {
    const c = cluster();
    const r = c.replicas[0]!;
    await root(r, 'STOP SLAVE SQL_THREAD');
    try {
      // A fresh pool each time, so the first statement is a read with nothing to wait for: it goes to the replica.
      for (let i = 0; i < 5; i++) {
        await withPool({ primary: primaryOf(c), replicas: [replicaOf(c, 0)], consistency: 'read-your-writes' }, async (pool) => {
          const m = `9-${i}`;
          const [res] = await rows(pool, `SELECT mark('${m}') AS r, @@port AS port`);
          expect(res).toEqual({ r: 1, port: c.primary.port });
          expect(pool.lastWriteToken()).toMatch(/^\d+-\d+-\d+/);
          const [seen] = await rows(pool, 'SELECT COUNT(*) AS n FROM marks WHERE m = ?', [m]);
          expect(Number(seen!['n'])).toBe(1);
        });
      }
    } finally {
      await root(r, 'START SLAVE SQL_THREAD');
    }
    await expectReplicating(c);
  });
});
