// Adversarial review of the no-SDK telemetry path on the mysql face: real MariaDB primary + 2 replicas.
import { afterEach, describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { createPool } from '../../adapters/mysql/index.js';
import { useMyCluster } from '../support/vitest-mysql.js';
import { inMemorySdk } from '../support/otel-sdk.js';

const cluster = useMyCluster({ replicas: 2 });
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
  trace.disable();
});

const sdk = () => inMemorySdk(cleanups);

describe('mysql face, telemetry without an SDK', () => {
  it('telemetry: true: nothing before the SDK, then statement, error and lease spans (callback and promise forms)', async () => {
    const t = sdk();
    const c = cluster();
    const pool = createPool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), connectionLimit: 4, telemetry: true });
    cleanups.push(() => new Promise((resolve) => pool.end(resolve)));
    const p = pool.promise();
    await p.query('SELECT 1');
    await expect(p.query('SELECT * FROM no_such_table_adv')).rejects.toMatchObject({ code: 'ER_NO_SUCH_TABLE' });
    (await p.getConnection()).release();
    expect(t.spans.getFinishedSpans()).toEqual([]);
    trace.setGlobalTracerProvider(t.tracerProvider);
    await new Promise<void>((resolve, reject) => pool.query('SELECT 1', (err) => (err ? reject(err) : resolve())));
    await expect(p.query('SELECT * FROM no_such_table_adv')).rejects.toMatchObject({ code: 'ER_NO_SUCH_TABLE' });
    await p.execute('SELECT ?', [1]);
    (await p.getConnection()).release();
    const spans = t.spans.getFinishedSpans();
    expect(spans.map((s) => s.name).sort()).toEqual(['SELECT', 'SELECT', 'SELECT', 'connection lease']);
    const failed = spans.find((s) => s.status.code === 2)!;
    expect(failed.attributes).toMatchObject({ 'error.type': 'ER_NO_SUCH_TABLE', 'db.response.status_code': '1146', 'db.system.name': 'mysql' });
  });

  it('meter only: durations per operation with error.type, no span', async () => {
    const t = sdk();
    const c = cluster();
    const pool = createPool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), connectionLimit: 4, telemetry: { meterProvider: t.meterProvider } });
    cleanups.push(() => new Promise((resolve) => pool.end(resolve)));
    const p = pool.promise();
    await p.query('SELECT 1');
    await expect(p.query('SELECT * FROM no_such_table_adv')).rejects.toMatchObject({ code: 'ER_NO_SUCH_TABLE' });
    const duration = (await t.metrics()).find((m) => m.descriptor.name === 'db.client.operation.duration')!;
    const points = duration.dataPoints.map((d) => ({ ...d.attributes, count: (d.value as { count: number }).count }));
    expect(points).toContainEqual(expect.objectContaining({ 'db.operation.name': 'SELECT', 'db.system.name': 'mysql', count: 1 }));
    expect(points).toContainEqual(expect.objectContaining({ 'db.operation.name': 'SELECT', 'error.type': 'ER_NO_SUCH_TABLE', count: 1 }));
    expect(t.spans.getFinishedSpans()).toEqual([]);
  });
});
