// pool.query runs with no per-query 'error' listener (adapters/pg/pool.ts runOn): connection
// errors during a statement reach the caller exactly once, with the driver's error, never as an
// uncaught exception; in-flight returns to 0; the dead connection is not reused. (Written by an
// adversarial review of that change; all held, also on pg 8.11.0.)
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Pool } from '../../adapters/pg/index.js';
import { useCluster } from '../support/vitest-cluster.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { sql } from '../support/pg-admin.js';
import { waitFor } from '../support/load.js';

const cluster = useCluster({ replicas: 1 });
const APP = 'p2c-adv-conn';
const uncaught: unknown[] = [];
const record = (e: unknown) => { uncaught.push(e); };
const cleanups: (() => Promise<unknown> | unknown)[] = [];
beforeAll(() => { process.on('uncaughtException', record); process.on('unhandledRejection', record); });
afterAll(() => { process.off('uncaughtException', record); process.off('unhandledRejection', record); });
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  expect(uncaught).toEqual([]);
});

/** Runs a callback-form pool.query and resolves with every callback call seen within `settleMs` after the first. */
function callbackCalls(p: { query: (...a: any[]) => any }, text: string, settleMs = 300): Promise<{ err: any; res: any }[]> {
  return new Promise((resolve) => {
    const calls: { err: any; res: any }[] = [];
    p.query(text, (err: any, res: any) => {
      calls.push({ err, res });
      if (calls.length === 1) setTimeout(() => resolve(calls), settleMs);
    });
  });
}

async function backendOf(url: string, marker: string): Promise<number> {
  let pid: number | undefined;
  await waitFor(async () => {
    const rows = await sql<{ pid: number }>(url, "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()", [`%${marker}%`]);
    pid = rows[0]?.pid;
    return pid !== undefined;
  }, 5000);
  return pid!;
}

const inflight = (p: Pool) => p.stats().hosts.map((h) => h.inflight);

function multi(extra: Record<string, unknown> = {}, replicaUrl?: string): Pool {
  const c = cluster();
  const p = new Pool({ primary: c.primary.url, replicas: [{ connectionString: replicaUrl ?? c.replicas[0]!.url, name: 'replica1' }], application_name: APP, max: 2, ...extra } as any);
  p.on('error', () => {});
  cleanups.push(async () => {
    const t = Date.now();
    await p.end();
    expect(Date.now() - t).toBeLessThan(10_000);
  });
  return p;
}

describe('pg_terminate_backend during pool.query', () => {
  it('multi-host form, callback: exactly one callback with 57P01; in-flight back to 0; next query works on a new connection', async () => {
    const p = multi({ retryReads: false });
    await p.query('SELECT 1');
    const marker = 'adv_term_cb_1';
    const pending = callbackCalls(p, `SELECT pg_sleep(5) /* ${marker} */`);
    const c = cluster();
    // the read runs on the replica
    const pid = await backendOf(c.replicas[0]!.url, marker);
    await sql(c.replicas[0]!.url, 'SELECT pg_terminate_backend($1)', [pid]);
    const calls = await pending;
    expect(calls.length).toBe(1);
    expect(calls[0]!.err).toBeInstanceOf(Error);
    expect(calls[0]!.err.code).toBe('57P01');
    expect(inflight(p)).toEqual([0, 0]);
    const r = await p.query('SELECT pg_backend_pid() AS pid');
    expect(r.rows[0].pid).not.toBe(pid);
  });

  it('multi-host form, promise, 2 concurrent reads on the same replica both terminated: each rejects once with 57P01', async () => {
    const p = multi({ retryReads: false });
    await p.query('SELECT 1');
    const marker = 'adv_term_pr_2';
    const a = p.query(`SELECT pg_sleep(5) /* ${marker} a */`).then(() => 'ok', (e) => e);
    const b = p.query(`SELECT pg_sleep(5) /* ${marker} b */`).then(() => 'ok', (e) => e);
    const c = cluster();
    await waitFor(async () => (await sql<{ n: string }>(c.replicas[0]!.url, "SELECT count(*) AS n FROM pg_stat_activity WHERE state='active' AND query LIKE $1 AND pid <> pg_backend_pid()", [`%${marker}%`]))[0]!.n === '2', 5000);
    await sql(c.replicas[0]!.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()", [`%${marker}%`]);
    const [ea, eb] = await Promise.all([a, b]);
    expect((ea as any).code).toBe('57P01');
    expect((eb as any).code).toBe('57P01');
    await waitFor(() => inflight(p).every((n) => n === 0), 2000);
    const rows = await Promise.all(Array.from({ length: 4 }, () => p.query('SELECT 1 AS x')));
    expect(rows.every((r) => r.rows[0].x === 1)).toBe(true);
  });

  it('multi-host form with read retries (default): exactly one callback (the retry on the primary answers)', async () => {
    const p = multi();
    await p.query('SELECT 1');
    const marker = 'adv_term_retry_5';
    const pending = callbackCalls(p, `SELECT pg_sleep(1), inet_server_port() AS port /* ${marker} */`);
    const c = cluster();
    const pid = await backendOf(c.replicas[0]!.url, marker);
    await sql(c.replicas[0]!.url, 'SELECT pg_terminate_backend($1)', [pid]);
    const calls = await pending;
    expect(calls.length).toBe(1);
    expect(calls[0]!.err).toBeFalsy();
    expect(calls[0]!.res.rows[0].port).toBe(c.primary.port);
    expect(inflight(p)).toEqual([0, 0]);
  });

  it('single-host form: exactly one callback with 57P01; the pool keeps working; end() completes', async () => {
    const c = cluster();
    const p = new Pool({ connectionString: c.primary.url, application_name: APP, max: 2 });
    p.on('error', () => {});
    cleanups.push(() => p.end());
    await p.query('SELECT 1');
    const marker = 'adv_term_single_3';
    const pending = callbackCalls(p as any, `SELECT pg_sleep(5) /* ${marker} */`);
    const pid = await backendOf(c.primary.url, marker);
    await sql(c.primary.url, 'SELECT pg_terminate_backend($1)', [pid]);
    const calls = await pending;
    expect(calls.length).toBe(1);
    expect(calls[0]!.err.code).toBe('57P01');
    expect((await p.query('SELECT 2 AS x')).rows[0].x).toBe(2);
  });

  it('a write (primary) terminated: one rejection, 57P01, in-flight 0', async () => {
    const p = multi();
    await p.query('SELECT 1');
    const marker = 'adv_term_write_4';
    const pending = callbackCalls(p, `SELECT pg_sleep(5), txid_current() /* ${marker} */`);
    const c = cluster();
    const pid = await backendOf(c.primary.url, marker);
    await sql(c.primary.url, 'SELECT pg_terminate_backend($1)', [pid]);
    const calls = await pending;
    expect(calls.length).toBe(1);
    expect(calls[0]!.err.code).toBe('57P01');
    expect(inflight(p)).toEqual([0, 0]);
  });
});

describe('socket faults during pool.query (replica behind a fault proxy)', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    const r = cluster().replicas[0]!;
    proxy = await FaultProxy.start({ host: r.host, port: r.port });
  });
  afterAll(async () => { await proxy.stop(); });
  afterEach(async () => { await proxy.heal(); });

  const viaProxy = () => `postgres://postgres@127.0.0.1:${proxy.port}/${new URL(cluster().replicas[0]!.url).pathname.slice(1)}`;

  it('connection reset mid-query: one callback with the socket error (ECONNRESET or terminated), in-flight 0', async () => {
    const p = multi({ fallbackToPrimary: true, retryReads: false }, viaProxy());
    await p.query('SELECT 1');
    const pending = callbackCalls(p, 'SELECT pg_sleep(3) /* adv_reset */');
    await new Promise((r) => setTimeout(r, 300));
    proxy.reset();
    const calls = await pending;
    expect(calls.length).toBe(1);
    console.log('reset error:', calls[0]!.err?.code, calls[0]!.err?.message);
    expect(calls[0]!.err).toBeInstanceOf(Error);
    expect(inflight(p)).toEqual([0, 0]);
    await proxy.heal();
  });

  it('black hole with query_timeout: one callback (Query read timeout), in-flight 0, end() completes', async () => {
    const p = multi({ fallbackToPrimary: true, retryReads: false, query_timeout: 400 }, viaProxy());
    await p.query('SELECT 1');
    proxy.blackhole();
    const pending = callbackCalls(p, 'SELECT 1 AS x /* adv_bh */', 1500);
    const calls = await pending;
    console.log('blackhole calls:', calls.map((c) => c.err?.message ?? c.res?.rows));
    expect(calls.length).toBe(1);
    expect(calls[0]!.err?.message).toMatch(/timeout/i);
    await waitFor(() => inflight(p).every((n) => n === 0), 3000);
  });

  it('statement_timeout: one 57014, connection reused afterwards', async () => {
    const p = multi({ statement_timeout: 200 });
    await p.query('SELECT 1');
    const calls = await callbackCalls(p, 'SELECT pg_sleep(2) /* adv_st */');
    expect(calls.length).toBe(1);
    expect(calls[0]!.err.code).toBe('57014');
    expect(inflight(p)).toEqual([0, 0]);
    expect((await p.query('SELECT 3 AS x')).rows[0].x).toBe(3);
  });

  it('many concurrent reads while the proxy resets repeatedly: every caller answered exactly once, in-flight 0', async () => {
    const p = multi({ fallbackToPrimary: true, max: 4 }, viaProxy());
    await p.query('SELECT 1');
    const counts: number[] = [];
    const all: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      const idx = counts.push(0) - 1;
      all.push(new Promise<void>((resolve) => {
        p.query(`SELECT pg_sleep(${(i % 5) / 20}) /* adv_many ${i} */`, () => { counts[idx]!++; resolve(); });
      }));
      if (i % 15 === 7) { proxy.reset(); await proxy.heal(); }
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(all);
    await new Promise((r) => setTimeout(r, 300));
    expect(counts.every((n) => n === 1)).toBe(true);
    await waitFor(() => inflight(p).every((n) => n === 0), 3000);
  });
});

describe('server killed during pool.query', () => {
  it('replica SIGKILLed mid-query: one callback with an error, no uncaught, in-flight 0; restarted afterwards', async () => {
    const c = cluster();
    const p = multi({ fallbackToPrimary: true, retryReads: false });
    await p.query('SELECT 1');
    const pending = callbackCalls(p, 'SELECT pg_sleep(5) /* adv_kill */', 500);
    await backendOf(c.replicas[0]!.url, 'adv_kill');
    await c.replicas[0]!.kill();
    try {
      const calls = await pending;
      expect(calls.length).toBe(1);
      console.log('kill error:', calls[0]!.err?.code, calls[0]!.err?.message);
      expect(calls[0]!.err).toBeInstanceOf(Error);
      expect(inflight(p)).toEqual([0, 0]);
    } finally {
      await c.replicas[0]!.start();
    }
  });
});
