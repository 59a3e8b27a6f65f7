// With one replica slowed by 20 ms through the fault proxy, P2C sends it under 15% of the reads;
// round-robin, blind to latency, gives it about half.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pool, type PickerName } from '../../adapters/pg/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { useCluster } from '../support/vitest-cluster.js';

const cluster = useCluster({ replicas: 2 });
let slow: FaultProxy;
let fast: FaultProxy;

beforeAll(async () => {
  const [r1, r2] = cluster().replicas;
  slow = await FaultProxy.start({ host: r1!.host, port: r1!.port });
  fast = await FaultProxy.start({ host: r2!.host, port: r2!.port });
  slow.setDelay(20);
});

afterAll(async () => {
  await slow?.stop();
  await fast?.stop();
});

/** Runs `total` reads from `concurrency` workers; returns each replica's share of them. */
async function shares(picker: PickerName, total = 1000, concurrency = 16): Promise<{ slow: number; fast: number; ms: number }> {
  const c = cluster();
  const pool = new Pool({
    primary: c.primary.url,
    replicas: [{ host: slow.host, port: slow.port, user: 'postgres', database: 'postgres' }, { host: fast.host, port: fast.port, user: 'postgres', database: 'postgres' }],
    max: 10,
    picker,
  });
  try {
    const counts = new Map<number, number>();
    let issued = 0;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (issued < total) {
        issued++;
        const { rows } = await pool.query('SELECT inet_server_port() AS port');
        counts.set(rows[0].port, (counts.get(rows[0].port) ?? 0) + 1);
      }
    }));
    const [r1, r2] = c.replicas;
    const s = counts.get(r1!.port) ?? 0;
    const f = counts.get(r2!.port) ?? 0;
    expect(s + f).toBe(total);
    return { slow: s / total, fast: f / total, ms: Date.now() - t0 };
  } finally {
    await pool.end();
  }
}

describe('latency-aware balancing with a replica slowed by 20 ms', () => {
  it('p2c gives the slow replica under 15% of reads; round-robin gives it ~50%', async () => {
    const p2c = await shares('p2c');
    const rr = await shares('round-robin');
    console.log(`reads to slow replica: p2c ${(p2c.slow * 100).toFixed(1)}% (${p2c.ms} ms), round-robin ${(rr.slow * 100).toFixed(1)}% (${rr.ms} ms)`);
    expect(p2c.slow).toBeLessThan(0.15);
    expect(p2c.fast).toBeGreaterThan(0.85);
    expect(rr.slow).toBeGreaterThan(0.4);
    expect(rr.slow).toBeLessThan(0.6);
  });
});
