// Adversarial review of "no span work while the global tracer provider has no SDK" (src/telemetry.ts,
// src/executor.ts trace()): real primary + 2 replicas, SDK in-memory exporters.
import { createRequire } from 'node:module';
import { cpSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSpanContextValid, ProxyTracerProvider, trace } from '@opentelemetry/api';
import { Pool } from '../../adapters/pg/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { useCluster } from '../support/vitest-cluster.js';
import { waitFor } from '../support/load.js';
import { inMemorySdk } from '../support/otel-sdk.js';

const cluster = useCluster({ replicas: 2 });
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
  trace.disable();
});

const sdk = () => inMemorySdk(cleanups);

/** A pool whose only replica sits behind a proxy that refuses once the pool has verified it. */
async function refusingReplicaPool(telemetry: ConstructorParameters<typeof Pool>[0] extends infer O ? O extends { telemetry?: infer T } ? T : never : never) {
  const c = cluster();
  const proxy = await FaultProxy.start({ host: c.replicas[0]!.host, port: c.replicas[0]!.port });
  cleanups.push(() => proxy.stop());
  const pool = new Pool({
    primary: c.primary.url,
    replicas: [{ host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres', name: 'refusing' }],
    telemetry, healthCheckIntervalMillis: 0,
  });
  cleanups.push(() => pool.end());
  pool.on('error', () => {});
  await pool.query('SELECT 1'); // replica verified and used
  await pool.query({ text: 'SELECT 1', role: 'primary' });
  await proxy.refuse();
  return pool;
}

describe('telemetry without an SDK, attacked', () => {
  it('SDK registered after a read started and before its retry: the retry span is still marked p2c.retry (it was before the change)', async () => {
    const t = sdk();
    const pool = await refusingReplicaPool(true);
    // Dispatch is synchronous once the pool is ready: the first attempt starts with no SDK.
    const read = pool.query('SELECT 1 AS one');
    trace.setGlobalTracerProvider(t.tracerProvider);
    expect((await read).rows).toEqual([{ one: 1 }]);
    const spans = t.spans.getFinishedSpans().filter((s) => s.name === 'SELECT');
    expect(spans).toHaveLength(1); // the retry on the primary: the refused attempt started before the SDK
    expect(spans[0]!.attributes['p2c.role']).toBe('primary');
    // Before the change the first attempt had a no-op span, so the retry carried p2c.retry and a retry-of link.
    expect(spans[0]!.attributes['p2c.retry']).toBe(true);
  });

  it('meter only, SDK registered between attempt and retry: the retry span links to no invalid (all-zero) span context', async () => {
    const t = sdk();
    const pool = await refusingReplicaPool({ meterProvider: t.meterProvider });
    const read = pool.query('SELECT 1 AS one');
    trace.setGlobalTracerProvider(t.tracerProvider);
    await read;
    const retry = t.spans.getFinishedSpans().find((s) => s.attributes['p2c.retry'] === true)!;
    expect(retry).toBeDefined();
    for (const l of retry.links) expect(isSpanContextValid(l.context)).toBe(true);
    const metrics = await t.metrics();
    expect(metrics.find((m) => m.descriptor.name === 'p2c.retries')!.dataPoints[0]!.value).toBe(1);
  });

  it('meter only: a retry counts in p2c.retries, the failed attempt records error.type, no span anywhere', async () => {
    const t = sdk();
    const pool = await refusingReplicaPool({ meterProvider: t.meterProvider });
    await pool.query('SELECT 1');
    const metrics = await t.metrics();
    expect(metrics.find((m) => m.descriptor.name === 'p2c.retries')!.dataPoints[0]!.value).toBe(1);
    const duration = metrics.find((m) => m.descriptor.name === 'db.client.operation.duration')!;
    expect(duration.dataPoints.some((p) => /^ECONN(REFUSED|RESET)$/.test(String(p.attributes['error.type'])))).toBe(true);
    expect(t.spans.getFinishedSpans()).toEqual([]);
  });

  it('explicit tracerProvider (BasicTracerProvider) and no meter: statement, retry, error and lease spans as before', async () => {
    const t = sdk();
    const pool = await refusingReplicaPool({ tracerProvider: t.tracerProvider });
    t.spans.reset();
    await pool.query('SELECT 1');
    await expect(pool.query('SELECT * FROM no_such_table_adv')).rejects.toMatchObject({ code: '42P01' });
    const client = await pool.connect();
    client.release();
    const spans = t.spans.getFinishedSpans();
    const failed = spans.find((s) => s.attributes['p2c.host'] === 'refusing')!;
    expect(failed.attributes['error.type']).toMatch(/^ECONN(REFUSED|RESET)$/);
    expect(failed.status.code).toBe(2);
    const retry = spans.find((s) => s.attributes['p2c.retry'] === true)!;
    expect(retry.links[0]!.context.spanId).toBe(failed.spanContext().spanId);
    expect(spans.find((s) => s.status.code === 2 && s.attributes['error.type'] === '42P01')).toBeDefined();
    expect(spans.filter((s) => s.name === 'connection lease')).toHaveLength(1);
  });

  it('an explicitly passed ProxyTracerProvider: no spans until it gets a delegate, then every kind', async () => {
    const t = sdk();
    const proxy = new ProxyTracerProvider();
    const c = cluster();
    const pool = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), healthCheckIntervalMillis: 0, telemetry: { tracerProvider: proxy } });
    cleanups.push(() => pool.end());
    await pool.query('SELECT 1');
    proxy.setDelegate(t.tracerProvider);
    await pool.query('SELECT 1');
    const client = await pool.connect();
    client.release();
    expect(t.spans.getFinishedSpans().map((s) => s.name).sort()).toEqual(['SELECT', 'connection lease']);
  });

  it('a lease taken before the SDK registered and released after: no half span, later leases traced', async () => {
    const t = sdk();
    const c = cluster();
    const pool = new Pool({ primary: c.primary.url, healthCheckIntervalMillis: 0, telemetry: true });
    cleanups.push(() => pool.end());
    const early = await pool.connect();
    trace.setGlobalTracerProvider(t.tracerProvider);
    await early.query('SELECT 1');
    early.release();
    const late = await pool.connect();
    late.release(new Error('discard'));
    const leases = t.spans.getFinishedSpans().filter((s) => s.name === 'connection lease');
    expect(leases).toHaveLength(1);
    expect(leases[0]!.status.code).toBe(2);
  });

  it('a hedge whose race started before the SDK (meter given): the hedge span has p2c.hedge, counts once, links to nothing invalid', async () => {
    const c = cluster();
    const t = sdk();
    const pool = new Pool({
      primary: c.primary.url,
      replicas: c.replicas.map((r, i) => ({ connectionString: r.url, name: `replica${i + 1}` })),
      picker: 'round-robin', hedge: { afterMillis: 30, maxExtraLoad: 1 }, healthCheckIntervalMillis: 0,
      telemetry: { meterProvider: t.meterProvider },
    });
    cleanups.push(() => pool.end());
    await pool.query('SELECT 1');
    const slow = c.replicas[0]!.port;
    const sql = `SELECT CASE WHEN inet_server_port() = ${slow} THEN pg_sleep(3) END AS s`;
    // Two reads so that one of them starts on the slow replica; the SDK arrives before the hedge (30 ms).
    const reads = [pool.query(sql), pool.query(sql)];
    trace.setGlobalTracerProvider(t.tracerProvider);
    await Promise.all(reads);
    await waitFor(() => pool.stats().hosts.every((h) => h.inflight === 0), 5000);
    const hedge = t.spans.getFinishedSpans().find((s) => s.attributes['p2c.hedge'] === true)!;
    expect(hedge).toBeDefined();
    for (const l of hedge.links) expect(isSpanContextValid(l.context)).toBe(true);
    const metrics = await t.metrics();
    expect(metrics.find((m) => m.descriptor.name === 'p2c.hedges')!.dataPoints[0]!.value).toBe(1);
  });

  it('an SDK registered through another copy of @opentelemetry/api before the pool: spans reach it', async () => {
    // A second physical copy of the API (as when the SDK brings its own): the global registry is shared.
    const dir = join(tmpdir(), `otel-copy-${process.pid}`);
    mkdirSync(join(dir, 'node_modules', '@opentelemetry'), { recursive: true });
    cpSync(join(import.meta.dirname, '../../node_modules/@opentelemetry/api'), join(dir, 'node_modules/@opentelemetry/api'), { recursive: true });
    const other = createRequire(join(dir, 'x.js'))('@opentelemetry/api') as typeof import('@opentelemetry/api');
    expect(other.trace).not.toBe(trace);
    const t = sdk();
    expect(other.trace.setGlobalTracerProvider(t.tracerProvider)).toBe(true);
    cleanups.push(async () => other.trace.disable());
    const c = cluster();
    const pool = new Pool({ primary: c.primary.url, healthCheckIntervalMillis: 0, telemetry: true });
    cleanups.push(() => pool.end());
    await pool.query('SELECT 1');
    expect(t.spans.getFinishedSpans().map((s) => s.name)).toEqual(['SELECT']);
  });

  it('trace.disable() then a new global SDK, pool created in between: spans reach the new SDK', async () => {
    const first = sdk();
    trace.setGlobalTracerProvider(first.tracerProvider);
    trace.disable();
    const c = cluster();
    const pool = new Pool({ primary: c.primary.url, healthCheckIntervalMillis: 0, telemetry: true });
    cleanups.push(() => pool.end());
    await pool.query('SELECT 1');
    const second = sdk();
    trace.setGlobalTracerProvider(second.tracerProvider);
    await pool.query('SELECT 1');
    expect(first.spans.getFinishedSpans()).toEqual([]);
    expect(second.spans.getFinishedSpans().map((s) => s.name)).toEqual(['SELECT']);
  });

  it('an ended pool stops reporting its gauges (its batch observable callback is removed)', async () => {
    const t = sdk();
    const c = cluster();
    const pool = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), healthCheckIntervalMillis: 0, telemetry: { meterProvider: t.meterProvider } });
    await pool.query('SELECT 1');
    expect((await t.metrics()).some((m) => m.descriptor.name === 'p2c.host.state' && m.dataPoints.length > 0)).toBe(true);
    await pool.end();
    const after = await t.metrics();
    const state = after.find((m) => m.descriptor.name === 'p2c.host.state');
    // Observed after end(), every host would report state 'closed' (and the meter would keep the whole
    // cluster referenced). A cumulative exporter still repeats the last points seen before end().
    const current = state?.dataPoints.filter((p) => p.value === 1).map((p) => p.attributes['p2c.state']) ?? [];
    expect(current).not.toContain('closed');
    expect(current.every((s) => s === 'up')).toBe(true);
  });
});
