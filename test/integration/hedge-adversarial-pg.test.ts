// Hedged reads under attack (pg): losers abandoned after their cancel, cancels refused, attempt 0 retried while its hedge runs, end() mid-race; exactly one callback each, in-flight back to 0.
import { afterEach, describe, expect, it } from 'vitest';
import { Pool } from '../../adapters/pg/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { useCluster } from '../support/vitest-cluster.js';
import { waitFor } from '../support/load.js';

const cluster = useCluster({ replicas: 2 });
const APP = 'p2c-hedge-review';
let pool: Pool | undefined;
const proxies: FaultProxy[] = [];

afterEach(async () => {
  const p = pool;
  pool = undefined;
  if (p) await Promise.race([p.end(), new Promise((r) => setTimeout(r, 5000))]);
  for (const x of proxies.splice(0)) await x.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one read through the callback API and records every callback (to catch 0 or 2). */
function counted(p: Pool, text: string): { calls: { err: unknown; port?: number | undefined }[]; first: Promise<{ err: unknown; port?: number | undefined }> } {
  const calls: { err: unknown; port?: number | undefined }[] = [];
  let resolve!: (v: { err: unknown; port?: number | undefined }) => void;
  const first = new Promise<{ err: unknown; port?: number | undefined }>((r) => { resolve = r; });
  (p as unknown as { query(t: string, cb: (err: unknown, res?: { rows: { port: number }[] }) => void): void }).query(text, (err, res) => {
    const c = { err, port: res?.rows[0]?.port };
    calls.push(c);
    resolve(c);
  });
  return { calls, first };
}

async function setup(extra: Record<string, unknown> = {}) {
  const c = cluster();
  const [a, b] = c.replicas;
  const pa = await FaultProxy.start({ host: a!.host, port: a!.port });
  const pb = await FaultProxy.start({ host: b!.host, port: b!.port });
  proxies.push(pa, pb);
  pool = new Pool({
    primary: c.primary.url,
    replicas: [
      { host: pa.host, port: pa.port, user: 'postgres', database: 'postgres', name: 'a', max: 2 },
      { host: pb.host, port: pb.port, user: 'postgres', database: 'postgres', name: 'b', max: 2 },
    ],
    application_name: APP,
    picker: 'round-robin',
    hedge: { afterMillis: 40, maxExtraLoad: 1 },
    healthCheckTimeoutMillis: 500,
    healthCheckIntervalMillis: 0,
    fallbackToPrimary: false,
    ...extra,
  });
  pool.on('error', () => {});
  // Warm both replicas; the next read (round-robin) starts on 'a'.
  for (let i = 0; i < 2; i++) await pool.query({ text: 'SELECT 1', role: 'replica' });
  return { p: pool, pa, pb, a: a!, b: b! };
}

const host = (p: Pool, name: string) => p.stats().hosts.find((h) => h.name === name)!;

/** A read whose original is stuck on replica 'a': answered once, by its hedge on 'b', and 'a' is left with nothing in flight. */
async function answeredByB(p: Pool, bPort: number): Promise<void> {
  const r = counted(p, 'SELECT inet_server_port() AS port');
  const first = await r.first;
  expect(first.err).toBeUndefined();
  expect(first.port).toBe(bPort);
  await waitFor(() => host(p, 'a').inflight === 0, 3000);
  await sleep(300);
  expect(r.calls).toHaveLength(1);
}

describe('hedged reads under attack (pg)', () => {
  it('loser whose cancel is taken but whose answer never arrives: one callback, connection destroyed, inflight 0, end() returns', async () => {
    const { p, pa, b } = await setup();
    // 'a' answers nothing for 20 s, but the cancel connection is closed by the server at once.
    pa.setDelay(20_000);
    await answeredByB(p, b.port);
    expect(p.stats().hedges).toMatchObject({ sent: 1, won: 1, cancelled: 1 });
    expect(p.stats().hedges.cancelFailed).toBe(0); // the cancel was taken: the bound, not the cancel, gave it up
    expect(host(p, 'a').total).toBe(0); // the abandoned (only) connection is destroyed, not pooled
    const t = Date.now();
    const ending = p.end();
    pool = undefined;
    expect(await Promise.race([ending.then(() => true), sleep(3000).then(() => false)])).toBe(true);
    expect(Date.now() - t).toBeLessThan(3000);
  });

  it('loser (attempt 0) whose cancel is refused (black-holed replica): one callback, cancelFailed, inflight 0', async () => {
    const { p, pa, b } = await setup();
    pa.blackhole();
    await answeredByB(p, b.port);
    expect(p.stats().hedges).toMatchObject({ sent: 1, won: 1, cancelled: 1, cancelFailed: 1 });
  });

  it('attempt 0 retried (host error) while its hedge runs; the hedge wins and cancels the retried run; no stray cancel later', async () => {
    const { p, pa, b } = await setup();
    const r = counted(p, 'SELECT pg_sleep(0.6), inet_server_port() AS port');
    await sleep(150); // hedge sent at ~40 ms to 'b'
    pa.reset(); // attempt 0 fails with a host error: retried on 'b'
    const first = await r.first;
    expect(first.err).toBeUndefined();
    expect(first.port).toBe(b.port);
    await waitFor(() => host(p, 'b').inflight === 0, 3000);
    await sleep(300);
    expect(r.calls).toHaveLength(1);
    const hs = p.stats().hedges;
    console.log('retry-vs-hedge stats', JSON.stringify(hs));
    expect(hs.sent).toBe(1);
    // Later statements on 'b' are never hit by a late cancel.
    for (let i = 0; i < 10; i++) await p.query({ text: 'SELECT pg_sleep(0.05), inet_server_port() AS port', role: 'replica' });
  });

  it('attempt 0 retried (host error) and the retry wins against the hedge', async () => {
    const { p, pa, b } = await setup();
    // Sleeps only where the hedge runs first... both on 'b' after the retry: make the hedge slow via delay.
    const r = counted(p, 'SELECT pg_sleep(0.3), inet_server_port() AS port');
    await sleep(100);
    pa.reset();
    const first = await r.first;
    expect(first.err).toBeUndefined();
    expect(first.port).toBe(b.port);
    await waitFor(() => host(p, 'b').inflight === 0 && host(p, 'a').inflight === 0, 3000);
    await sleep(300);
    expect(r.calls).toHaveLength(1);
  });

  it('both attempts fail with host errors (retryReads off): the first error, once', async () => {
    const { p, pa, pb } = await setup({ retryReads: false });
    const r = counted(p, 'SELECT pg_sleep(0.6), inet_server_port() AS port');
    await sleep(150);
    pa.reset();
    await sleep(100);
    pb.reset();
    const first = await r.first;
    expect(first.err).toBeInstanceOf(Error);
    expect((first.err as Error).message).not.toMatch(/abandoned/);
    await sleep(700);
    expect(r.calls).toHaveLength(1);
    expect(host(p, 'a').inflight).toBe(0);
    expect(host(p, 'b').inflight).toBe(0);
  });

  it('original fails (host error, no retry) while the hedge hangs black-holed: caller gets an error once within the bound, end() returns', async () => {
    const { p, pa, pb } = await setup({ retryReads: false });
    const r = counted(p, 'SELECT pg_sleep(0.4), inet_server_port() AS port');
    await sleep(100); // hedge sent on 'b'
    pb.blackhole();
    pa.reset();
    const t = Date.now();
    const first = await r.first;
    expect(first.err).toBeInstanceOf(Error);
    expect((first.err as Error).message).not.toMatch(/abandoned/);
    expect(Date.now() - t).toBeLessThan(2000);
    await waitFor(() => host(p, 'b').inflight === 0, 4000);
    expect(r.calls).toHaveLength(1);
    const ending = p.end();
    pool = undefined;
    expect(await Promise.race([ending.then(() => true), sleep(4000).then(() => false)])).toBe(true);
  });

  it('pool.end() while a loser hangs black-holed after its race is won: end() returns, one callback', async () => {
    const { p, pa, b } = await setup();
    pa.blackhole();
    const r = counted(p, 'SELECT inet_server_port() AS port');
    const first = await r.first;
    expect(first.port).toBe(b.port);
    const ending = p.end();
    pool = undefined;
    expect(await Promise.race([ending.then(() => true), sleep(4000).then(() => false)])).toBe(true);
    expect(r.calls).toHaveLength(1);
  });

  it('pool.end() right after a hedge is sent: one callback, end() returns', async () => {
    const { p } = await setup();
    const r = counted(p, 'SELECT pg_sleep(0.3), inet_server_port() AS port');
    await sleep(100);
    const ending = p.end();
    pool = undefined;
    expect(await Promise.race([ending.then(() => true), sleep(4000).then(() => false)])).toBe(true);
    await sleep(200);
    expect(r.calls).toHaveLength(1);
  });

  it('many concurrent hedged reads with one slow replica: each callback once, counters consistent', async () => {
    const { p, pa } = await setup();
    pa.setDelay(150);
    const rs = Array.from({ length: 30 }, () => counted(p, 'SELECT inet_server_port() AS port'));
    await Promise.all(rs.map((r) => r.first));
    await sleep(1500);
    for (const r of rs) expect(r.calls).toHaveLength(1);
    for (const r of rs) expect(r.calls[0]!.err).toBeUndefined();
    const hs = p.stats().hedges;
    expect(hs.won).toBeLessThanOrEqual(hs.sent);
    expect(hs.cancelled).toBeLessThanOrEqual(hs.sent);
    expect(hs.cancelFailed).toBeLessThanOrEqual(hs.cancelled);
    await waitFor(() => host(p, 'a').inflight === 0 && host(p, 'b').inflight === 0, 3000);
  });
});
