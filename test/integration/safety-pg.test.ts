// Safety on a real PostgreSQL primary + 2 streaming replicas: transaction boundaries a routing
// client must see, statements that must never run on a replica, crashes, blame and secrets.
// Each test is a regression test of one finding of the safety review (issue 9).
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { ConfigError, Pool, type PoolOptions } from '../../adapters/pg/index.js';
import { scannedCharacters } from '../../src/sql/lexer.js';
import { useCluster } from '../support/vitest-cluster.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../support/load.js';
import { recordUncaught, sql, waitForReplay } from '../support/pg-admin.js';

const cluster = useCluster({ replicas: 2 });
const cleanups: (() => Promise<unknown> | unknown)[] = [];
const uncaught = recordUncaught();



function pool(extra: Partial<PoolOptions> & Record<string, unknown> = {}): Pool {
  const c = cluster();
  const p = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r, i) => ({ connectionString: r.url, name: `replica${i + 1}` })), max: 4, ...extra } as PoolOptions);
  p.on('error', () => {});
  cleanups.push(() => p.end().catch(() => {}));
  return p;
}

/** The serving port, from the last result of a (possibly multi-statement) text. */
const port = async (p: { query(sql: string): Promise<unknown> }, sql: string): Promise<number> => {
  const res = await p.query(sql);
  const last = (Array.isArray(res) ? res[res.length - 1] : res) as { rows: { port: number }[] };
  return last.rows[0]!.port;
};

beforeAll(async () => {
  await sql(cluster().primary.url, 'CREATE TABLE IF NOT EXISTS safety (id serial PRIMARY KEY, v text)');
  await sql(cluster().primary.url, "CREATE OR REPLACE FUNCTION safety_write(x text) RETURNS int LANGUAGE sql AS $$ INSERT INTO safety(v) VALUES (x) RETURNING id $$");
  await waitForReplay(cluster());
});

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  expect(uncaught).toEqual([]);
});


const rows = async (v: string) => Number((await sql<{ n: string }>(cluster().primary.url, 'SELECT count(*) AS n FROM safety WHERE v = $1', [v]))[0]!.n);

describe('routing clients see every transaction boundary (item 1)', () => {
  // Before: BEGIN behind a comment ran on a pooled connection that went back to the pool inside the
  // transaction; another request's INSERT landed in it and the later ROLLBACK undid that write.
  const openers = ['/* app */ BEGIN', '-- c\nBEGIN', '/* x */ START TRANSACTION ISOLATION LEVEL READ COMMITTED', 'SELECT 1; BEGIN', '/*a/*b*/*/begin'];
  for (const [i, opener] of openers.entries()) {
    it(`${JSON.stringify(opener)} pins; a ROLLBACK never undoes another request's write`, async () => {
      const p = pool({ connectRole: 'auto' });
      const client = await p.connect();
      await client.query(opener);
      await client.query('INSERT INTO safety(v) VALUES ($1)', [`tx-${i}`]);
      await p.query('INSERT INTO safety(v) VALUES ($1)', [`other-${i}`]);
      await client.query('ROLLBACK');
      client.release();
      expect(await rows(`other-${i}`)).toBe(1);
      expect(await rows(`tx-${i}`)).toBe(0);
    });
  }

  it('a text that opens and closes a transaction pins for it, then reads go to replicas again', async () => {
    const p = pool({ connectRole: 'auto' });
    const client = await p.connect();
    await client.query("BEGIN; INSERT INTO safety(v) VALUES ('open-close'); COMMIT");
    expect(cluster().replicas.map((r) => r.port)).toContain(await port(client, 'SELECT inet_server_port() AS port'));
    await expect(client.query("BEGIN; INSERT INTO safety(v) VALUES ('open-fail'); SELECT no_such_column; COMMIT")).rejects.toMatchObject({ code: '42703' });
    // The failed text left its transaction open (aborted): still pinned, so this ROLLBACK ends it.
    await client.query('ROLLBACK');
    client.release();
    expect([await rows('open-close'), await rows('open-fail')]).toEqual([1, 0]);
  });

  it('COMMIT AND CHAIN keeps the pin: the chained transaction is rolled back alone', async () => {
    const p = pool({ connectRole: 'auto' });
    const client = await p.connect();
    await client.query('BEGIN');
    await client.query("INSERT INTO safety(v) VALUES ('chain-1')");
    await client.query('/* c */ COMMIT AND CHAIN');
    await client.query("INSERT INTO safety(v) VALUES ('chain-2')");
    await p.query("INSERT INTO safety(v) VALUES ('chain-other')");
    await client.query('ROLLBACK');
    client.release();
    expect([await rows('chain-1'), await rows('chain-2'), await rows('chain-other')]).toEqual([1, 0, 1]);
  });

  it('session state behind comments, after another statement, or through set_config pins to one connection', async () => {
    const p = pool({ connectRole: 'auto' });
    for (const [k, set] of [['a', "/* c */ SET application_name = 'p2c-a'"], ['b', "SELECT 1; SET application_name = 'p2c-b'"], ['c', "SELECT set_config('application_name', 'p2c-c', false)"]] as const) {
      const client = await p.connect();
      await client.query(set);
      // SHOW is a read: without the pin it would go to a replica that never saw the SET.
      for (let i = 0; i < 10; i++) expect((await client.query('SHOW application_name')).rows[0].application_name).toBe(`p2c-${k}`);
      client.release();
    }
  });

  it('a routing client released inside a transaction does not pool its connection', async () => {
    const p = pool({ connectRole: 'auto', max: 1 });
    const client = await p.connect();
    await client.query('BEGIN');
    await client.query("INSERT INTO safety(v) VALUES ('abandoned')");
    client.release();
    await p.query("INSERT INTO safety(v) VALUES ('after-abandoned')");
    expect(await rows('after-abandoned')).toBe(1);
    expect(await rows('abandoned')).toBe(0);
    const idle = await sql<{ n: string }>(cluster().primary.url, "SELECT count(*) AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()");
    expect(Number(idle[0]!.n)).toBe(0);
  });

  it('on a pg without getTransactionStatus() (before 8.21) the ReadyForQuery messages still tell', async () => {
    const proto = pg.Client.prototype as unknown as { getTransactionStatus?: unknown };
    const original = proto.getTransactionStatus;
    proto.getTransactionStatus = undefined;
    try {
      const p = pool({ max: 1 });
      await p.query({ text: 'BEGIN', role: 'primary' });
      await p.query("INSERT INTO safety(v) VALUES ('old-pg')");
      await p.query({ text: 'ROLLBACK', role: 'primary' });
      expect(await rows('old-pg')).toBe(1);
    } finally {
      proto.getTransactionStatus = original;
    }
  });

  it('pool.query("BEGIN") through the plain pool leaves no connection inside a transaction', async () => {
    const p = pool({ max: 1 });
    await p.query({ text: 'BEGIN', role: 'primary' });
    await p.query("INSERT INTO safety(v) VALUES ('after-begin')");
    await p.query({ text: 'ROLLBACK', role: 'primary' });
    expect(await rows('after-begin')).toBe(1);
  });
});

describe('statements that must never run on a replica (items 2, 3)', () => {
  const hidden = [
    ['# is an operator in PostgreSQL', "SELECT '{\"a\":1}'::jsonb #>> '{a}' AS x, 1 # 3 AS y; SELECT pg_advisory_lock(11), inet_server_port() AS port"],
    ['quoted function name', 'SELECT "pg_advisory_lock"(12), inet_server_port() AS port'],
    ['schema-qualified function', 'SELECT pg_catalog.pg_advisory_lock(13), inet_server_port() AS port'],
    ['non-ASCII dollar tag', 'SELECT $é$ x $é$ AS s, pg_advisory_lock(14), inet_server_port() AS port'],
    ['identifier with $', 'SELECT 1 AS a$b, pg_advisory_lock(15), inet_server_port() AS port'],
  ] as const;
  for (const [name, sql] of hidden) {
    it(`${name}: runs on the primary`, async () => {
      const p = pool({ max: 1 });
      expect(await port(p, sql)).toBe(cluster().primary.port);
      await p.query({ text: 'SELECT pg_advisory_unlock_all()', role: 'primary' });
    });
  }

  it('functions missing from the old list go to the primary', async () => {
    const p = pool();
    for (const sql of ['SELECT pg_current_xact_id_if_assigned(), inet_server_port() AS port', 'SELECT pg_cancel_backend(0), inet_server_port() AS port',
      "SELECT pg_logical_emit_message(false, 'p2c', 'x') IS NOT NULL AS ok, inet_server_port() AS port"]) {
      expect(await port(p, sql)).toBe(cluster().primary.port);
    }
  });

  it('EXPLAIN with a quoted ANALYZE option runs its statement on the primary', async () => {
    const p = pool({ max: 1 });
    await p.query('EXPLAIN ("analyze", "costs" off) SELECT pg_advisory_lock(17)');
    await p.query({ text: 'SELECT pg_advisory_unlock_all()', role: 'primary' });
  });

  it('a 10 MB INSERT is routed from its first keyword: the text is not scanned (item 14)', async () => {
    const p = pool({ max: 1 });
    const big = `INSERT INTO safety(v) VALUES ('${'x'.repeat(10 * 1024 * 1024)}') RETURNING inet_server_port() AS port`;
    const before = scannedCharacters();
    const running = p.query(big);
    expect(scannedCharacters() - before).toBeLessThan(64); // before: the whole 10 MB, 2.7 s of blocked event loop
    expect((await running).rows[0].port).toBe(cluster().primary.port);
    await p.query("DELETE FROM safety WHERE length(v) > 1000000");
  });

  it('no advisory lock is ever left on a replica', async () => {
    for (const r of cluster().replicas) {
      expect(await sql(r.url, "SELECT * FROM pg_locks WHERE locktype = 'advisory'")).toEqual([]);
    }
  });

  it('replica connections are read-only sessions; a write hidden in a function is re-run on the primary', async () => {
    const p = pool();
    const replica = await p.connect({ role: 'replica' });
    try {
      expect((await replica.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only).toBe('on');
    } finally {
      replica.release();
    }
    // Classified a read (the classifier cannot see into functions), refused by the replica, run once on the primary.
    const { rows: r } = await p.query("SELECT safety_write('hidden') AS id, inet_server_port() AS port");
    expect(r[0].port).toBe(cluster().primary.port);
    expect(await rows('hidden')).toBe(1);
  });

  it('readOnlyReplicas: false leaves replica sessions at the server default', async () => {
    const p = pool({ readOnlyReplicas: false });
    const replica = await p.connect({ role: 'replica' });
    try {
      expect((await replica.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only).toBe('off');
    } finally {
      replica.release();
    }
  });

  it('roles are verified before any host serves: a configured replica that is really the primary gets no reads as a replica', async () => {
    const c = cluster();
    const roles: unknown[] = [];
    // The primary listed as a replica and a replica listed as the primary.
    const p = new Pool({ primary: c.replicas[0]!.url, replicas: [c.primary.url, c.replicas[1]!.url], max: 2 });
    p.on('error', () => {});
    p.on('roleMismatch', (m) => roles.push(m));
    cleanups.push(() => p.end());
    expect(await port(p, "INSERT INTO safety(v) VALUES ('verified') RETURNING inet_server_port() AS port")).toBe(c.primary.port);
    const reads = await Promise.all(Array.from({ length: 20 }, () => port(p, 'SELECT inet_server_port() AS port')));
    expect(reads.every((x) => x !== c.primary.port)).toBe(true);
    expect(p.stats().hosts.every((h) => h.verified)).toBe(true);
    expect(roles).toEqual(expect.arrayContaining([expect.objectContaining({ configured: 'primary', reported: 'replica' }), expect.objectContaining({ configured: 'replica', reported: 'primary' })]));
  });
});

describe('no crash from connection errors (item 5, 6)', () => {
  it("a pinned routing client's connection error reaches client.on('error'); without a listener nothing crashes", async () => {
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: cluster().primary.port });
    cleanups.push(() => proxy.stop());
    const p = new Pool({ primary: { host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres' }, replicas: [cluster().replicas[0]!.url], connectRole: 'auto', healthCheckIntervalMillis: 0 });
    p.on('error', () => {});
    cleanups.push(() => p.end());
    const withListener = await p.connect();
    const without = await p.connect();
    const seen: Error[] = [];
    withListener.on('error', (e: Error) => seen.push(e));
    await withListener.query('BEGIN');
    await without.query('BEGIN');
    proxy.reset();
    await waitFor(() => seen.length > 0, 5000);
    expect(seen[0]).toBeInstanceOf(Error);
    await expect(without.query('SELECT 1')).rejects.toThrow();
    withListener.release();
    without.release();
    await new Promise((r) => setTimeout(r, 100));
  });

  it('a malformed connection string is a ConfigError at construction, without the password', () => {
    const bad = 'postgres://app:s3cret-pw@db1:99999/app';
    for (const config of [{ primary: bad }, { primary: 'postgres://x@127.0.0.1/x', replicas: [bad] }, { connectionString: bad }, { hosts: [{ connectionString: bad }] }]) {
      let err: unknown;
      try { new Pool(config as PoolOptions); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(ConfigError);
      expect(String((err as Error).message)).not.toContain('s3cret');
      expect(inspect(err)).not.toContain('s3cret');
    }
  });

  it('util.inspect of a pool and of a routing client never shows a password', async () => {
    const c = cluster();
    const withPw = (url: string) => url.replace('postgres@', 'postgres:s3cret-pw@');
    const p = new Pool({ primary: withPw(c.primary.url), replicas: c.replicas.map((r) => withPw(r.url)), connectRole: 'auto' });
    cleanups.push(() => p.end());
    await p.query('SELECT 1');
    const client = await p.connect();
    await client.query('BEGIN');
    expect(inspect(p, { depth: 8 })).not.toContain('s3cret');
    expect(inspect(client, { depth: 8 })).not.toContain('s3cret');
    await client.query('ROLLBACK');
    client.release();
    const single = new Pool({ connectionString: withPw(c.primary.url) });
    cleanups.push(() => single.end());
    await single.query('SELECT 1');
    expect(inspect(single, { depth: 8 })).not.toContain('s3cret');
  });
});

describe('found by the adversarial review', () => {
  it('statements queued on a routing client before release() do not run (no transaction left open, end() returns)', async () => {
    const p = pool({ connectRole: 'auto', max: 2 });
    const client = await p.connect();
    const begun = client.query('BEGIN').then(() => 'ran', () => 'refused');
    const inserted = client.query("INSERT INTO safety(v) VALUES ('queued-before-release')").then(() => 'ran', () => 'refused');
    client.release();
    expect([await begun, await inserted]).toEqual(['refused', 'refused']);
    expect(await rows('queued-before-release')).toBe(0);
    const idle = await sql<{ n: string }>(cluster().primary.url, "SELECT count(*) AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'");
    expect(Number(idle[0]!.n)).toBe(0);
  });

  it('errors for a missing primary are never delivered synchronously: a retry loop lets timers run', async () => {
    const c = cluster();
    const dead = `postgres://postgres@127.0.0.1:1/postgres`;
    const p = new Pool({ primary: dead, replicas: [c.replicas[0]!.url], healthCheckIntervalMillis: 0, connectionTimeoutMillis: 200 });
    p.on('error', () => {});
    cleanups.push(() => p.end());
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 1);
    const until = Date.now() + 400;
    let failures = 0;
    while (Date.now() < until) {
      try { await p.query("INSERT INTO safety(v) VALUES ('never')"); } catch { failures++; }
    }
    clearInterval(timer);
    expect(failures).toBeGreaterThan(0);
    expect(ticks).toBeGreaterThan(20); // before: 0 (the loop never yielded)
  });

  it('a client released with a BEGIN still queued leaves no transaction on a pooled connection', async () => {
    const p = pool({ max: 1 });
    const c = await p.connect();
    const begun = c.query('BEGIN').catch(() => undefined);
    c.release();
    await begun;
    await p.query("INSERT INTO safety(v) VALUES ('after-queued-begin')");
    expect(await rows('after-queued-begin')).toBe(1);
  });

  it('a statement that lands in a transaction left by a client used after release() is reported, not acknowledged', async () => {
    const p = pool({ max: 1 });
    const c = await p.connect();
    c.release();
    await c.query('BEGIN'); // misuse: the client is back in the pool
    const outcome = await p.query("INSERT INTO safety(v) VALUES ('in-foreign-tx')").then(() => 'acknowledged', (e: { code?: string }) => e.code);
    // Before: acknowledged, then rolled back with the connection. Now refused, and indeed not there.
    expect(outcome).toBe('P2C_FOREIGN_TRANSACTION');
    expect(await rows('in-foreign-tx')).toBe(0);
  });

  it('a cursor queued behind BEGIN on a routing client belongs to the transaction', async () => {
    const p = pool({ connectRole: 'auto' });
    const rc = await p.connect();
    void rc.query('BEGIN');
    const cursor = rc.query(new Cursor("INSERT INTO safety(v) VALUES ('cursor-in-tx') RETURNING id")) as unknown as Cursor;
    await new Promise<void>((resolve, reject) => cursor.read(10, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve) => cursor.close(() => resolve()));
    await rc.query('ROLLBACK');
    rc.release();
    expect(await rows('cursor-in-tx')).toBe(0);
  });

  it('query_to_xml (which runs the SQL it is given) goes to the primary', async () => {
    const p = pool({ max: 1 });
    await p.query("SELECT query_to_xml('SELECT pg_advisory_lock(18)', true, true, '')");
    await p.query({ text: 'SELECT pg_advisory_unlock_all()', role: 'primary' });
    for (const r of cluster().replicas) expect(await sql(r.url, "SELECT * FROM pg_locks WHERE locktype = 'advisory'")).toEqual([]);
  });

  it('a primary that misses one check is checked again at the check interval, not after ejectionMillis', async () => {
    const c = cluster();
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: c.primary.port });
    cleanups.push(() => proxy.stop());
    const p = new Pool({ primary: { host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres' }, replicas: [c.replicas[0]!.url],
      healthCheckIntervalMillis: 200, healthCheckTimeoutMillis: 200, ejectionMillis: 30_000, connectionTimeoutMillis: 300 });
    p.on('error', () => {});
    cleanups.push(() => p.end());
    await p.query("INSERT INTO safety(v) VALUES ('blip-before')");
    proxy.reset();
    proxy.blackhole();
    await waitFor(() => p.stats().hosts[0]!.state !== 'up', 5000);
    await proxy.heal();
    const healedAt = Date.now();
    await waitFor(() => p.query("INSERT INTO safety(v) VALUES ('blip-after')").then(() => true, () => false), 10_000);
    expect(Date.now() - healedAt).toBeLessThan(5000); // before: 30 s (ejectionMillis)
  });

  it('a check whose process stalls (event loop blocked past the check timeout) does not eject a healthy host', async () => {
    const p = pool({ healthCheckIntervalMillis: 100, healthCheckTimeoutMillis: 200 });
    await p.query('SELECT 1');
    const proto = pg.Client.prototype as unknown as { connect: (...a: unknown[]) => unknown };
    const original = proto.connect;
    let blocks = 3;
    proto.connect = function (this: unknown, ...args: unknown[]) {
      // Block right after a connect starts (health checks open one per check): the answer arrives late.
      if (blocks-- > 0) setImmediate(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500));
      return original.apply(this, args);
    };
    const states = new Set<string>();
    try {
      const until = Date.now() + 2000;
      while (Date.now() < until) {
        for (const h of p.stats().hosts) states.add(h.state);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      proto.connect = original;
    }
    expect([...states]).toEqual(['up']);
  });

  it('an event loop blocked past connectionTimeoutMillis does not eject healthy hosts', async () => {
    // max 20: no read waits in pg-pool's own queue (whose timeout is the caller's, and fails it as in pg).
    const p = pool({ connectionTimeoutMillis: 500, max: 20, healthCheckIntervalMillis: 0 });
    await p.query({ text: 'SELECT 1', role: 'primary' }); // verified; no connection to the replicas yet
    // 10 reads: their retries' fresh connects must fit in 500 ms on a loaded 2-core machine (30 did not).
    const reads = Array.from({ length: 10 }, () => p.query('SELECT 1 AS x').then(() => true, () => false));
    // Block this process for 2 s while the connects are in flight: their timers fire late.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
    const results = await Promise.all(reads);
    await new Promise((r) => setTimeout(r, 300));
    expect(results.filter((ok) => !ok).length).toBe(0);
    expect(p.stats().hosts.map((h) => h.state)).toEqual(['up', 'up', 'up']);
    expect(p.stats().hosts.map((h) => h.errors)).toEqual([0, 0, 0]);
  });
});

describe('a connect timed out by this process\'s own stall is tried again once the host passes its check', () => {
  it('writes and primary leases succeed after the event loop was blocked past connectionTimeoutMillis', async () => {
    const p = pool({ connectionTimeoutMillis: 500, max: 20, healthCheckIntervalMillis: 0 });
    await p.query({ text: 'SELECT 1', role: 'primary' }); // verified; one idle primary connection
    const held = await p.connect(); // so the next ones must connect anew
    const writes = Array.from({ length: 4 }, () => p.query('CREATE TEMP TABLE IF NOT EXISTS stall_w (x int)').then(() => true, (e: Error) => e.message));
    const leases = Array.from({ length: 4 }, () => p.connect().then((c) => { c.release(); return true; }, (e: Error) => e.message));
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
    const results = await Promise.all([...writes, ...leases]);
    held.release();
    expect(results).toEqual(Array.from({ length: 8 }, () => true));
    expect(p.stats().hosts.every((h) => h.state === 'up' && h.errors === 0)).toBe(true);
  });
});

describe('only what the host did counts against it (items 11, 12, 13)', () => {
  it("pg-pool's queue-wait timeout does not blame the host", async () => {
    const p = pool({ max: 1, connectionTimeoutMillis: 100, healthCheckIntervalMillis: 0 });
    const held = await p.connect();
    const errs = await Promise.all(Array.from({ length: 8 }, () => p.query({ text: 'SELECT 1', role: 'primary' }).catch((e: Error) => e)));
    held.release();
    expect(errs.every((e) => e instanceof Error && /timeout exceeded/.test(e.message))).toBe(true);
    expect(p.stats().hosts[0]).toMatchObject({ state: 'up', errors: 0 });
  });

  it('a slow read past queryTimeoutMillis fails once, is not re-run elsewhere, and its healthy host stays up', async () => {
    const p = pool({ queryTimeoutMillis: 300, healthCheckIntervalMillis: 0 });
    const marker = `slow-${Date.now()}`;
    const err = await p.query(`SELECT pg_sleep(1.5) /* ${marker} */`).catch((e: Error) => e);
    expect((err as Error).message).toBe('Query read timeout');
    // The statement is still running on the one host it was sent to, and nowhere else.
    const running = await Promise.all([cluster().primary, ...cluster().replicas].map(async (n) =>
      Number((await sql<{ n: string }>(n.url, 'SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()', [`%${marker}%`]))[0]!.n)));
    expect(running.reduce((a, b) => a + b, 0)).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(p.stats().hosts.every((h) => h.state === 'up' && h.errors === 0)).toBe(true);
  });

  it('a NUL byte in the text (08P01, the client\'s message) does not blame the host', async () => {
    const p = pool({ healthCheckIntervalMillis: 0 });
    for (let i = 0; i < 8; i++) await expect(p.query('SELECT 1\0 2')).rejects.toMatchObject({ code: '08P01' });
    expect(p.stats().hosts.every((h) => h.state === 'up' && h.errors === 0)).toBe(true);
  });

  it('a replica that refuses logins (3D000, 28000) is ejected; every read succeeds', async () => {
    const c = cluster();
    for (const bad of [{ connectionString: c.replicas[1]!.url.replace(/\/postgres$/, '/no_such_db'), name: 'bad' }, { connectionString: c.replicas[1]!.url.replace('postgres@', 'no_such_user@'), name: 'bad' }]) {
      const p = new Pool({ primary: c.primary.url, replicas: [{ connectionString: c.replicas[0]!.url, name: 'good' }, bad], healthCheckIntervalMillis: 200 });
      p.on('error', () => {});
      cleanups.push(() => p.end());
      const results = await Promise.allSettled(Array.from({ length: 200 }, () => p.query('SELECT inet_server_port() AS port')));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      const badHost = p.stats().hosts.find((h) => h.name === 'bad')!;
      expect(badHost.state === 'ejected' || badHost.state === 'down' || !badHost.verified).toBe(true);
      expect(p.stats().hosts.find((h) => h.name === 'good')).toMatchObject({ state: 'up', errors: 0 });
    }
  });

  it('maxWaitingClients: 0 serves an idle pool and refuses only what would wait', async () => {
    const p = pool({ maxWaitingClients: 0, max: 1, healthCheckIntervalMillis: 0 });
    for (let i = 0; i < 5; i++) expect((await p.query('SELECT 1 AS x')).rows[0].x).toBe(1);
    const held = await p.connect();
    await expect(p.query({ text: 'SELECT 1', role: 'primary' })).rejects.toMatchObject({ code: 'P2C_POOL_OVERLOADED' });
    held.release();
    expect((await p.query({ text: 'SELECT 1 AS x', role: 'primary' })).rows[0].x).toBe(1);
  });
});
