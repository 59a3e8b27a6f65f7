// OpenTelemetry and typed host events against a real cluster, with the SDK's in-memory exporters.
import { afterEach, describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { Pool } from '../../adapters/pg/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { useCluster } from '../support/vitest-cluster.js';
import { waitFor } from '../support/load.js';
import { inMemorySdk } from '../support/otel-sdk.js';

const cluster = useCluster({ replicas: 2 });
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

const PASSWORD = 's3cret-pw-123';
const PARAM = 'param-secret-456';

const sdk = () => inMemorySdk(cleanups);

/** A URL with a password (trust auth ignores it) so the test can check it never leaks. */
const withPassword = (url: string) => url.replace('postgres@', `postgres:${PASSWORD}@`);

describe('OpenTelemetry', () => {
  it('spans and metrics carry the database client attributes; no password or parameter ever', async () => {
    const t = sdk();
    const c = cluster();
    // The first replica starts refusing connections once the pool has verified it, so one read
    // fails there and is retried elsewhere.
    const proxy = await FaultProxy.start({ host: c.replicas[0]!.host, port: c.replicas[0]!.port });
    cleanups.push(() => proxy.stop());
    const pool = new Pool({
      primary: withPassword(c.primary.url),
      replicas: [{ host: proxy.host, port: proxy.port, user: 'postgres', password: PASSWORD, database: 'postgres', name: 'refusing' }, withPassword(c.replicas[1]!.url)],
      telemetry: { tracerProvider: t.tracerProvider, meterProvider: t.meterProvider },
      picker: 'round-robin', healthCheckIntervalMillis: 0,
    });
    cleanups.push(() => pool.end());
    pool.on('error', () => {}); // idle connections reset by refuse()
    await pool.query({ text: 'SELECT 1', role: 'primary' }); // the first checks have verified every host
    t.spans.reset();
    await proxy.refuse();
    await pool.query('SELECT $1::text AS v', [PARAM]); // round-robin: one of the two reads meets the refusing replica and is retried
    await pool.query('SELECT $1::text AS v', [PARAM]);
    await pool.query('CREATE TEMP TABLE IF NOT EXISTS x (v text)');
    const client = await pool.connect();
    client.release();

    const spans = t.spans.getFinishedSpans();
    const reads = spans.filter((s) => s.name === 'SELECT');
    expect(reads.length).toBeGreaterThanOrEqual(3);
    const ok = reads.find((s) => s.status.code !== 2 && s.attributes['server.port'] === c.replicas[1]!.port)!;
    expect(ok.attributes).toMatchObject({
      'db.system.name': 'postgresql', 'db.namespace': 'postgres', 'db.operation.name': 'SELECT',
      'server.address': '127.0.0.1', 'server.port': c.replicas[1]!.port,
      'p2c.role': 'replica', 'p2c.picker': 'round-robin', 'p2c.candidates': 2,
    });
    expect(typeof ok.attributes['p2c.cost']).toBe('number');
    expect(ok.attributes['db.query.text']).toBeUndefined();
    const failed = reads.find((s) => s.attributes['p2c.host'] === 'refusing')!;
    expect(failed.status.code).toBe(2);
    expect(failed.attributes['error.type']).toBe('ECONNREFUSED'); // the driver's code, kept on the error
    const retry = reads.find((s) => s.attributes['p2c.retry'] === true)!;
    expect(retry.links[0]!.context.spanId).toBe(failed.spanContext().spanId);
    expect(spans.find((s) => s.name === 'CREATE')!.attributes['p2c.role']).toBe('primary');
    expect(spans.find((s) => s.name === 'connection lease')!.attributes).toMatchObject({ 'p2c.role': 'primary', 'server.port': c.primary.port });

    const metrics = await t.metrics();
    const byName = new Map(metrics.map((m) => [m.descriptor.name, m]));
    const duration = byName.get('db.client.operation.duration')!;
    expect(duration.dataPoints.some((p) => p.attributes['db.operation.name'] === 'SELECT' && p.attributes['server.port'] === c.replicas[1]!.port)).toBe(true);
    const connections = byName.get('db.client.connection.count')!;
    expect(new Set(connections.dataPoints.map((p) => p.attributes['db.client.connection.state']))).toEqual(new Set(['idle', 'used']));
    expect(byName.get('db.client.connection.pending_requests')).toBeDefined();
    expect(byName.get('p2c.host.latency')!.dataPoints.length).toBeGreaterThan(0);
    expect(byName.get('p2c.host.error_rate')).toBeDefined();
    expect(byName.get('p2c.host.state')!.dataPoints.some((p) => p.attributes['p2c.state'] === 'up' && p.value === 1)).toBe(true);
    expect(byName.get('p2c.retries')!.dataPoints[0]!.value).toBe(1);

    const everything = JSON.stringify({ spans: spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })), metrics });
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(PARAM);
  });

  it('follows hosts added and removed at run time: spans and gauges of the new host, none of the removed one', async () => {
    const t = sdk();
    const c = cluster();
    const pool = new Pool({ primary: c.primary.url, replicas: [c.replicas[0]!.url], telemetry: { tracerProvider: t.tracerProvider, meterProvider: t.meterProvider }, picker: 'ordered' });
    cleanups.push(() => pool.end());
    pool.on('error', () => {});
    await pool.query('SELECT 1');
    await pool.addHost({ connectionString: c.replicas[1]!.url, name: 'late' });
    await pool.removeHost(`127.0.0.1:${c.replicas[0]!.port}`);
    t.spans.reset();
    await pool.query('SELECT 1');
    const span = t.spans.getFinishedSpans().find((s) => s.name === 'SELECT')!;
    expect(span.attributes).toMatchObject({ 'p2c.host': 'late', 'server.port': c.replicas[1]!.port, 'p2c.role': 'replica' });
    const metrics = await t.metrics();
    const state = metrics.find((m) => m.descriptor.name === 'p2c.host.state')!;
    const pools = new Set(state.dataPoints.map((p) => p.attributes['db.client.connection.pool.name']));
    expect(pools).toEqual(new Set([`127.0.0.1:${c.primary.port}`, 'late']));
  });

  it('a hedged read: the hedge has its own span (p2c.hedge, linked hedge-of the original) and counts in p2c.hedges', async () => {
    const c = cluster();
    const t = sdk();
    const pool = new Pool({
      primary: c.primary.url,
      replicas: c.replicas.map((r, i) => ({ connectionString: r.url, name: `replica${i + 1}` })),
      picker: 'round-robin',
      hedge: { afterMillis: 30, maxExtraLoad: 1 },
      telemetry: { tracerProvider: t.tracerProvider, meterProvider: t.meterProvider },
    });
    cleanups.push(() => pool.end());
    await pool.query('SELECT 1');
    const slow = c.replicas[0]!.port;
    for (let i = 0; i < 2; i++) await pool.query(`SELECT CASE WHEN inet_server_port() = ${slow} THEN pg_sleep(3) END AS s`);
    await waitFor(() => pool.stats().hosts.every((h) => h.inflight === 0), 5000);
    const spans = t.spans.getFinishedSpans().filter((s) => s.name === 'SELECT');
    const hedge = spans.find((s) => s.attributes['p2c.hedge'] === true)!;
    expect(hedge).toBeDefined();
    expect(hedge.attributes['p2c.host']).toBe('replica2');
    const original = spans.find((s) => s.spanContext().spanId === hedge.links[0]!.context.spanId)!;
    expect(original.attributes['p2c.host']).toBe('replica1');
    expect(hedge.links[0]!.attributes).toEqual({ 'p2c.link': 'hedge-of' });
    expect(hedge.attributes['p2c.retry']).toBeUndefined();
    const metrics = await t.metrics();
    expect(metrics.find((m) => m.descriptor.name === 'p2c.hedges')!.dataPoints[0]!.value).toBe(1);
    expect(metrics.find((m) => m.descriptor.name === 'p2c.retries')).toBeUndefined();
  });

  it('records the query text only when asked, and never the parameters', async () => {
    const t = sdk();
    const c = cluster();
    const pool = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), telemetry: { tracerProvider: t.tracerProvider, meterProvider: t.meterProvider, queryText: true }, healthCheckIntervalMillis: 0 });
    cleanups.push(() => pool.end());
    await pool.query('SELECT $1::text AS v', [PARAM]);
    const [span] = t.spans.getFinishedSpans();
    expect(span!.attributes['db.query.text']).toBe('SELECT $1::text AS v');
    expect(JSON.stringify(span!.attributes)).not.toContain(PARAM);
  });

  it('a meter that writes into the attributes it is given changes no later record and fails no query (found by review)', async () => {
    const t = sdk();
    const c = cluster();
    let writesRefused = 0;
    // Its histograms try to add an attribute to their input before recording a copy.
    const mutating = {
      getMeter: (name: string) => {
        const meter = t.meterProvider.getMeter(name);
        return new Proxy(meter, {
          get(target, key) {
            const value = Reflect.get(target, key) as unknown;
            if (key !== 'createHistogram') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
            return (...args: Parameters<typeof meter.createHistogram>) => {
              const h = meter.createHistogram(...args);
              return {
                record(v: number, attributes: Record<string, unknown> = {}) {
                  const copy = { ...attributes };
                  try {
                    attributes['mutated.by.meter'] = 'yes';
                  } catch {
                    writesRefused++;
                  }
                  h.record(v, copy as never);
                },
              };
            };
          },
        });
      },
    };
    const pool = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), telemetry: { tracerProvider: t.tracerProvider, meterProvider: mutating }, healthCheckIntervalMillis: 0 });
    cleanups.push(() => pool.end());
    for (let i = 0; i < 6; i++) await pool.query('SELECT 1');
    await expect(pool.query('SELECT no_such_column')).rejects.toMatchObject({ code: '42703' });
    const duration = (await t.metrics()).find((m) => m.descriptor.name === 'db.client.operation.duration')!;
    expect(duration.dataPoints.map((d) => d.attributes['mutated.by.meter'])).toEqual(duration.dataPoints.map(() => undefined));
    expect(duration.dataPoints.reduce((n, d) => n + (d.value as { count: number }).count, 0)).toBe(7);
    expect(writesRefused).toBeGreaterThanOrEqual(6);
  });

  it('telemetry: true before any SDK: statements start no span (no-op API), then spans start as soon as an SDK registers', async () => {
    const t = sdk();
    const c = cluster();
    const pool = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), healthCheckIntervalMillis: 0, telemetry: true });
    cleanups.push(() => pool.end());
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await expect(pool.query('SELECT * FROM no_such_table_x')).rejects.toMatchObject({ code: '42P01' });
    const early = await pool.connect();
    early.release();
    trace.setGlobalTracerProvider(t.tracerProvider);
    cleanups.push(async () => trace.disable());
    await pool.query('SELECT 1');
    await expect(pool.query('SELECT * FROM no_such_table_x')).rejects.toMatchObject({ code: '42P01' });
    const client = await pool.connect();
    client.release();
    const spans = t.spans.getFinishedSpans();
    expect(spans.map((s) => s.name).sort()).toEqual(['SELECT', 'SELECT', 'connection lease']);
    expect(spans.find((s) => s.status.code === 2)!.attributes['error.type']).toBe('42P01');
  });

  it('a meter without a tracer SDK: durations (with error.type) are recorded, no span is started', async () => {
    const t = sdk();
    const c = cluster();
    const pool = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), healthCheckIntervalMillis: 0, telemetry: { meterProvider: t.meterProvider } });
    cleanups.push(() => pool.end());
    await pool.query('SELECT 1');
    await expect(pool.query('SELECT * FROM no_such_table_x')).rejects.toMatchObject({ code: '42P01' });
    const duration = (await t.metrics()).find((m) => m.descriptor.name === 'db.client.operation.duration')!;
    const points = duration.dataPoints.map((p) => ({ ...p.attributes, count: (p.value as { count: number }).count }));
    expect(points).toContainEqual(expect.objectContaining({ 'db.operation.name': 'SELECT', count: 1 }));
    expect(points).toContainEqual(expect.objectContaining({ 'db.operation.name': 'SELECT', 'error.type': '42P01', count: 1 }));
    expect(t.spans.getFinishedSpans()).toEqual([]);
  });

  it('is off by default: nothing reaches a registered global provider', async () => {
    const t = sdk();
    trace.setGlobalTracerProvider(t.tracerProvider);
    cleanups.push(async () => trace.disable());
    const c = cluster();
    const pool = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), healthCheckIntervalMillis: 0 });
    cleanups.push(() => pool.end());
    await pool.query('SELECT 1');
    expect(t.spans.getFinishedSpans()).toEqual([]);
    const withGlobal = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), healthCheckIntervalMillis: 0, telemetry: true });
    cleanups.push(() => withGlobal.end());
    await withGlobal.query('SELECT 1');
    expect(t.spans.getFinishedSpans()).toHaveLength(1);
  });
});

describe('typed host events', () => {
  it('hostEjected, hostDown, hostUp and primaryChanged', async () => {
    const c = cluster();
    const proxy = await FaultProxy.start({ host: c.replicas[0]!.host, port: c.replicas[0]!.port });
    cleanups.push(() => proxy.stop());
    const pool = new Pool({
      hosts: [c.primary.url, { host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres', name: 'flaky' }, c.replicas[1]!.url],
      healthCheckIntervalMillis: 100, healthCheckTimeoutMillis: 300, ejectionMillis: 100, downAfterProbes: 1, slowStartMillis: 100,
    });
    cleanups.push(() => pool.end());
    pool.on('error', () => {}); // the refused host's idle connections report here
    const events: string[] = [];
    pool.on('primaryChanged', (now: { name: string } | undefined, before: unknown) => events.push(`primaryChanged:${now?.name}:${String(before)}`));
    for (const e of ['hostEjected', 'hostDown', 'hostUp'] as const) pool.on(e, (h: { name: string; state: string }) => events.push(`${e}:${h.name}:${h.state}`));
    await pool.query('SELECT 1');
    expect(events).toEqual([`primaryChanged:127.0.0.1:${c.primary.port}:undefined`]);
    await proxy.refuse();
    await waitFor(() => events.some((e) => e.startsWith('hostDown:flaky')), 5000);
    await proxy.heal();
    await waitFor(() => events.some((e) => e.startsWith('hostUp:flaky')), 5000);
    expect(events).toEqual(expect.arrayContaining(['hostEjected:flaky:ejected', 'hostDown:flaky:down', 'hostUp:flaky:up']));
  });
});
