// Run-time hosts on the mysql2 face: addHost/removeHost/setHosts under load and DNS discovery
// (SRV records from a DNS server started by the test), on a real MariaDB primary + 2 GTID replicas.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createPool, dnsDiscovery, type HostStats, type Pool, type PoolConfig } from '../../adapters/mysql/index.js';
import { useMyCluster } from '../support/vitest-mysql.js';
import { readLoad, waitFor } from '../support/load.js';
import { startDns, type TestDns } from '../support/dns-server.js';

const cluster = useMyCluster({ replicas: 2 });
let P0: number;
let R1: number;
let R2: number;
const pools: Pool[] = [];
function open(config: PoolConfig): Pool {
  const pool = createPool({ healthCheckIntervalMillis: 500, ...(config as object) } as PoolConfig);
  pool.on('error', () => {});
  pools.push(pool);
  return pool;
}
const served = async (pool: Pool) => ((await pool.promise().query('SELECT @@port AS port'))[0] as { port: number }[])[0]!.port;

beforeAll(() => {
  const c = cluster();
  P0 = c.primary.port;
  [R1, R2] = c.replicas.map((r) => r.port) as [number, number];
});

afterAll(async () => {
  await Promise.all(pools.splice(0).map((p) => (p._closed ? undefined : new Promise((r) => p.end(r)))));
});

describe('mysql: hosts added and removed at run time', () => {
  it('addHost under load gets reads; removeHost drains with 0 failed reads; events and stats follow', async () => {
    const c = cluster();
    const pool = open({ primary: c.primary.url, replicas: [c.replicas[0]!.url], connectionLimit: 6 });
    const added: HostStats[] = [];
    const removed: HostStats[] = [];
    pool.on('hostAdded', (h) => added.push(h));
    pool.on('hostRemoved', (h) => removed.push(h));
    await served(pool);
    const t0 = Date.now();
    const load = readLoad(() => served(pool), { readers: 12, durationMs: 3000 });
    await new Promise((r) => setTimeout(r, 500));
    const stats = await pool.addHost(c.replicas[1]!.url);
    const addedAt = Date.now() - t0;
    expect(stats).toMatchObject({ name: `127.0.0.1:${R2}`, role: 'replica', state: 'up', verified: true });
    // Every 100 ms: each host's [port, in flight, waiting, estimate ms, queries], printed if R2 got too little.
    const timeline: string[] = [];
    for (let i = 0; i < 7; i++) {
      await new Promise((r) => setTimeout(r, 100));
      timeline.push(JSON.stringify(pool.stats().hosts.map((h) => [h.name.slice(-5), h.inflight, h.waiting, h.latencyMs?.toFixed(2), h.queries])));
    }
    const removing = Date.now() - t0;
    await pool.removeHost(`127.0.0.1:${R1}`);
    const removedAt = Date.now() - t0;
    const result = await load;
    expect(result.failed.map((s) => s.error?.message)).toEqual([]);
    const share = result.share(R2, addedAt + 50, removing);
    if (share <= 0.2) console.log(`added replica's share ${share}; timeline:\n${timeline.join('\n')}`);
    expect(share).toBeGreaterThan(0.2);
    expect(result.share(R1, removedAt)).toBe(0);
    expect(added.map((h) => h.name)).toEqual([`127.0.0.1:${R2}`]);
    expect(removed.map((h) => [h.name, h.draining])).toEqual([[`127.0.0.1:${R1}`, true]]);
    expect(pool.stats().hosts.map((h) => h.name)).toEqual([`127.0.0.1:${P0}`, `127.0.0.1:${R2}`]);
  });

  it('a leased connection on a removed host keeps working until released; setHosts and bad calls', async () => {
    const c = cluster();
    const pool = open({ hosts: [c.primary.url, c.replicas[0]!.url] });
    const conn = await pool.promise().getConnection({ role: 'replica' } as never);
    let gone = false;
    const removal = pool.setHosts([c.primary.url, c.replicas[1]!.url]).then(() => { gone = true; });
    await waitFor(() => pool.stats().hosts.some((h) => h.name === `127.0.0.1:${R2}` && h.verified), 5000);
    expect(await served(pool)).toBe(R2);
    expect(((await conn.query('SELECT @@port AS port'))[0] as { port: number }[])[0]!.port).toBe(R1);
    expect(gone).toBe(false);
    conn.release();
    await removal;
    expect(pool.stats().hosts.map((h) => h.name)).toEqual([`127.0.0.1:${P0}`, `127.0.0.1:${R2}`]);
    await expect(pool.addHost(c.replicas[1]!.url)).rejects.toBeInstanceOf(ConfigError);
    await expect(pool.removeHost('nowhere:1')).rejects.toBeInstanceOf(ConfigError);
    await expect(pool.setHosts([])).rejects.toBeInstanceOf(ConfigError);
    const single = open(c.primary.url);
    await expect(single.addHost(c.replicas[0]!.url)).rejects.toBeInstanceOf(ConfigError);
    // The promise pool reaches the same methods through `.pool`.
    expect(typeof (pool.promise() as unknown as { pool: Pool }).pool.addHost).toBe('function');
  });
});

describe('mysql: end() racing a removal', () => {
  it('end() right after removeHost() ends cleanly', async () => {
    const c = cluster();
    for (let turns = 0; turns < 4; turns++) {
      const pool = open({ primary: c.primary.url, replicas: [c.replicas[0]!.url, c.replicas[1]!.url] });
      await served(pool);
      const removal = pool.removeHost(`127.0.0.1:${R1}`);
      for (let i = 0; i < turns; i++) await Promise.resolve();
      await expect(new Promise<void>((resolve, reject) => pool.end((err) => (err ? reject(err) : resolve())))).resolves.toBeUndefined();
      await removal;
    }
  });
});

describe('mysql: DNS discovery', () => {
  let dns: TestDns;
  beforeAll(async () => {
    dns = await startDns();
    for (const n of ['n0', 'n1', 'n2']) dns.setA(`${n}.my.test`, ['127.0.0.1']);
  });
  afterAll(async () => {
    await dns?.close();
  });

  it('follows SRV records under load: a new replica serves, a vanished one is drained with 0 failed reads', async () => {
    dns.setSrv('_mysql._tcp.my.test', [{ target: 'n0.my.test', port: P0 }, { target: 'n1.my.test', port: R1 }]);
    const pool = open({ discovery: dnsDiscovery({ name: '_mysql._tcp.my.test', srv: true, servers: [dns.server], intervalMillis: 200 }), user: 'app', password: 'app', database: 'test' });
    const errors: Error[] = [];
    pool.on('discoveryError', (e) => errors.push(e));
    expect(await served(pool)).toBe(R1);
    const t0 = Date.now();
    const load = readLoad(() => served(pool), { readers: 8, durationMs: 3000 });
    await new Promise((r) => setTimeout(r, 300));
    dns.setSrv('_mysql._tcp.my.test', [{ target: 'n0.my.test', port: P0 }, { target: 'n1.my.test', port: R1 }, { target: 'n2.my.test', port: R2 }]);
    const appeared = Date.now() - t0;
    await waitFor(() => pool.stats().hosts.some((h) => h.name === `127.0.0.1:${R2}` && h.verified), 3000);
    await new Promise((r) => setTimeout(r, 600));
    dns.setSrv('_mysql._tcp.my.test', [{ target: 'n0.my.test', port: P0 }, { target: 'n2.my.test', port: R2 }]);
    await waitFor(() => !pool.stats().hosts.some((h) => h.name === `127.0.0.1:${R1}`), 3000);
    const gone = Date.now() - t0;
    const result = await load;
    expect(result.failed).toHaveLength(0);
    expect(result.samples.find((s) => s.port === R2)!.at - appeared).toBeLessThan(200 + 1500);
    expect(result.share(R1, gone)).toBe(0);
    expect(errors).toEqual([]);
    // Writes still find the primary.
    const [res] = await pool.promise().query('SELECT @@port AS port FOR UPDATE');
    expect((res as { port: number }[])[0]!.port).toBe(P0);
  });
});
