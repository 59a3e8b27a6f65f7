// Real topologies on the pg face: libpq multi-host URLs (target_session_attrs, load_balance_hosts),
// hosts added and removed at run time under load, and DNS discovery (SRV records from a DNS server
// started by the test), on a real primary + 2 streaming replicas.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, NoPrimaryError, Pool, dnsDiscovery, type HostStats, type PoolOptions } from '../../adapters/pg/index.js';
import { useCluster } from '../support/vitest-cluster.js';
import { readLoad, waitFor } from '../support/load.js';
import { startDns, type TestDns } from '../support/dns-server.js';

const cluster = useCluster({ replicas: 2 });
let P0: number;
let R1: number;
let R2: number;
const base = (ports: number[], query = '') => `postgres://postgres@${ports.map((p) => `127.0.0.1:${p}`).join(',')}/postgres${query}`;
const served = async (pool: Pool | { query(text: string): Promise<{ rows: { port: number }[] }> }, text = 'SELECT inet_server_port() AS port') => (await pool.query(text)).rows[0]!.port;
const pools: Pool[] = [];
/** Every pool of a test is ended after it, even when the test fails. */
/**
 * Sessions of `app` left on a server after its pool closed them. A backend leaves
 * pg_stat_activity a moment after its client's goodbye (later on a loaded machine): a count above
 * zero is asked again for up to 3 s before it counts.
 */
async function sessionsLeft(url: string, app: string): Promise<number> {
  const counter = open({ connectionString: url, max: 1 });
  const until = Date.now() + 3000;
  for (;;) {
    const n = Number((await counter.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [app])).rows[0].n);
    if (n === 0 || Date.now() > until) return n;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function open(config: PoolOptions): Pool {
  const pool = new Pool({ healthCheckIntervalMillis: 500, ...config } as PoolOptions);
  pool.on('error', () => {});
  pools.push(pool);
  return pool;
}

beforeAll(async () => {
  const c = cluster();
  P0 = c.primary.port;
  [R1, R2] = c.replicas.map((r) => r.port) as [number, number];
  const setup = new Pool({ connectionString: c.primary.url });
  await setup.query('CREATE TABLE IF NOT EXISTS topo (id serial PRIMARY KEY, note text)');
  await setup.query(`CREATE OR REPLACE FUNCTION topo_bump() RETURNS int LANGUAGE sql AS $$ INSERT INTO topo(note) VALUES ('hidden') RETURNING id $$`);
  await setup.end();
});

afterAll(async () => {
  await Promise.all(pools.splice(0).map((p) => (p.ending ? undefined : p.end())));
});

describe('libpq multi-host connection strings', () => {
  it('turns a multi-host URL into hosts whose roles are discovered: writes on the primary, reads on replicas', async () => {
    // The primary is listed last: roles come from the servers, not from the order.
    const pool = open({ connectionString: base([R1, R2, P0]) });
    expect(await served(pool, "INSERT INTO topo(note) VALUES ('url') RETURNING inet_server_port() AS port")).toBe(P0);
    const reads = await Promise.all(Array.from({ length: 40 }, () => served(pool)));
    expect(new Set(reads)).toEqual(new Set([R1, R2]));
    expect(pool.stats().hosts.map((h) => [h.name, h.role])).toEqual([[`127.0.0.1:${R1}`, 'replica'], [`127.0.0.1:${R2}`, 'replica'], [`127.0.0.1:${P0}`, 'primary']]);
  });

  it('reads the host and port parameters form (host=a,b&port=1,2)', async () => {
    const pool = open({ connectionString: `postgres://postgres@/postgres?host=127.0.0.1,127.0.0.1&port=${P0},${R1}` });
    expect(await served(pool, 'SELECT inet_server_port() AS port FOR UPDATE')).toBe(P0);
    expect(await served(pool)).toBe(R1);
  });

  it('takes multi-host URLs as `primary` or `hosts` entries too', async () => {
    const a = open({ primary: base([P0, R1]), replicas: [`postgres://postgres@127.0.0.1:${R2}/postgres`] });
    expect(a.stats().hosts.map((h) => h.name)).toEqual([`127.0.0.1:${P0}`, `127.0.0.1:${R1}`, `127.0.0.1:${R2}`]);
    expect(await served(a, "INSERT INTO topo(note) VALUES ('p') RETURNING inet_server_port() AS port")).toBe(P0);
    const b = open({ hosts: [base([R2, P0])] });
    expect(await served(b, "INSERT INTO topo(note) VALUES ('h') RETURNING inet_server_port() AS port")).toBe(P0);
    expect(await served(b)).toBe(R2);
  });

  it('target_session_attrs=standby never uses the primary: writes fail typed, connect() leases a replica, a hidden write is not re-run there', async () => {
    const pool = open({ connectionString: base([P0, R1, R2], '?target_session_attrs=standby') });
    const before = await served(pool);
    expect([R1, R2]).toContain(before);
    await expect(pool.query("INSERT INTO topo(note) VALUES ('x')")).rejects.toBeInstanceOf(NoPrimaryError);
    const client = await pool.connect();
    try {
      expect((await client.query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(true);
    } finally {
      client.release();
    }
    const count = async () => Number((await open({ connectionString: cluster().primary.url }).query('SELECT count(*) AS n FROM topo')).rows[0].n);
    const n = await count();
    // A writing function under SELECT is classified a read: the replica refuses it (read-only
    // session), and the re-run on the primary that the default mode makes is not allowed here.
    await expect(pool.query('SELECT topo_bump()')).rejects.toThrow();
    expect(await count()).toBe(n);
  });

  it('target_session_attrs=prefer-standby leases replicas, writes still on the primary; read-write leases the primary', async () => {
    const prefer = open({ connectionString: base([P0, R1], '?target_session_attrs=prefer-standby') });
    const c1 = await prefer.connect();
    expect((await c1.query('SELECT inet_server_port() AS port')).rows[0].port).toBe(R1);
    c1.release();
    expect(await served(prefer, "INSERT INTO topo(note) VALUES ('ps') RETURNING inet_server_port() AS port")).toBe(P0);
    const rw = open({ connectionString: base([R1, P0], '?target_session_attrs=read-write') });
    const c2 = await rw.connect();
    expect((await c2.query('SELECT inet_server_port() AS port')).rows[0].port).toBe(P0);
    c2.release();
  });

  it('load_balance_hosts=disable reads from the first listed replica; random balances (p2c)', async () => {
    const ordered = open({ connectionString: base([P0, R2, R1], '?load_balance_hosts=disable') });
    const reads = await Promise.all(Array.from({ length: 30 }, () => served(ordered)));
    expect(new Set(reads)).toEqual(new Set([R2]));
    const random = open({ connectionString: base([P0, R1, R2], '?load_balance_hosts=random') });
    const spread = await Promise.all(Array.from({ length: 60 }, () => served(random)));
    expect(new Set(spread)).toEqual(new Set([R1, R2]));
  });

  it('a single-host URL stays exactly pg (target_session_attrs ignored, as pg does)', async () => {
    const pool = open({ connectionString: `postgres://postgres@127.0.0.1:${R1}/postgres?target_session_attrs=read-write` });
    expect(pool.stats().hosts).toHaveLength(1);
    expect(await served(pool)).toBe(R1);
  });

  it('refuses malformed multi-host URLs with a ConfigError that does not repeat the password', () => {
    const bad = [
      `postgres://app:s3cret@127.0.0.1:${P0},,127.0.0.1:${R1}/test`,
      `postgres://app:s3cret@/postgres?host=a,b,c&port=1,2`,
      `postgres://app:s3cret@a:1,b:2/test?target_session_attrs=nonsense`,
      `postgres://app:s3cret@a:1,b:2/test?load_balance_hosts=sometimes`,
      `postgres://app:s3cret@a:1,b:99999/test`,
    ];
    for (const connectionString of bad) {
      let caught: unknown;
      try {
        open({ connectionString });
      } catch (err) {
        caught = err;
      }
      expect(caught, connectionString).toBeInstanceOf(ConfigError);
      expect(String((caught as Error).message)).not.toContain('s3cret');
    }
    expect(() => open({ connectionString: base([P0, R1]), hosts: [base([R2])] } as PoolOptions)).toThrow(ConfigError);
  });
});

describe('hosts added and removed at run time', () => {
  it('addHost under load: the new replica gets reads; removeHost drains with 0 failed reads; events and stats follow', async () => {
    const c = cluster();
    const pool = open({ primary: c.primary.url, replicas: [c.replicas[0]!.url], max: 6 });
    const added: HostStats[] = [];
    const removed: HostStats[] = [];
    pool.on('hostAdded', (h) => added.push(h));
    pool.on('hostRemoved', (h) => removed.push(h));
    await served(pool);
    const steps: Record<string, number> = {};
    const t0 = Date.now();
    const load = readLoad(pool, { readers: 12, durationMs: 3000 });
    await new Promise((r) => setTimeout(r, 500));
    const stats = await pool.addHost(c.replicas[1]!.url);
    steps['added'] = Date.now() - t0;
    expect(stats).toMatchObject({ name: `127.0.0.1:${R2}`, role: 'replica', state: 'up', verified: true });
    await new Promise((r) => setTimeout(r, 700));
    steps['removing'] = Date.now() - t0;
    await pool.removeHost(`127.0.0.1:${R1}`);
    steps['removed'] = Date.now() - t0;
    const result = await load;
    expect(result.failed.map((s) => s.error?.message)).toEqual([]);
    // Its share depends on load (a fresh replica starts slower than a warm one): it serves.
    expect(result.share(R2, steps['added']! + 50, steps['removing']!)).toBeGreaterThan(0.05);
    expect(result.share(R1, steps['removed']!)).toBe(0);
    expect(result.share(R2, steps['removed']!)).toBe(1);
    expect(added.map((h) => h.name)).toEqual([`127.0.0.1:${R2}`]);
    expect(removed.map((h) => [h.name, h.draining, h.state])).toEqual([[`127.0.0.1:${R1}`, true, 'closed']]);
    expect(pool.stats().hosts.map((h) => h.name)).toEqual([`127.0.0.1:${P0}`, `127.0.0.1:${R2}`]);
  });

  it('a removed host finishes what runs there: a slow read and a leased client complete, then its connections close', async () => {
    const c = cluster();
    const pool = open({ primary: c.primary.url, replicas: [c.replicas[0]!.url, c.replicas[1]!.url], picker: 'ordered', application_name: 'drain-test' });
    await served(pool);
    const slow = pool.query('SELECT inet_server_port() AS port, pg_sleep(0.6)');
    const leased = await pool.connect({ role: 'replica' });
    expect((await leased.query('SELECT inet_server_port() AS port')).rows[0].port).toBe(R1);
    await new Promise((r) => setTimeout(r, 50));
    let gone = false;
    const removal = pool.removeHost(`127.0.0.1:${R1}`).then(() => { gone = true; });
    await new Promise((r) => setTimeout(r, 50));
    // New work goes elsewhere at once.
    expect(await served(pool)).toBe(R2);
    expect((await slow).rows[0].port).toBe(R1);
    expect((await leased.query('SELECT inet_server_port() AS port')).rows[0].port).toBe(R1);
    expect(gone).toBe(false);
    leased.release();
    await removal;
    expect(await sessionsLeft(c.replicas[0]!.url, 'drain-test')).toBe(0);
  });

  it('setHosts adds and removes by name; bad calls are typed errors', async () => {
    const c = cluster();
    const pool = open({ hosts: [c.primary.url, c.replicas[0]!.url] });
    await pool.setHosts([c.primary.url, c.replicas[1]!.url]);
    expect(pool.stats().hosts.map((h) => h.name)).toEqual([`127.0.0.1:${P0}`, `127.0.0.1:${R2}`]);
    expect(await served(pool)).toBe(R2);
    await expect(pool.addHost(c.replicas[1]!.url)).rejects.toBeInstanceOf(ConfigError);
    await expect(pool.removeHost('nowhere:1')).rejects.toBeInstanceOf(ConfigError);
    await expect(pool.setHosts([])).rejects.toBeInstanceOf(ConfigError);
    await expect(pool.addHost({ host: '127.0.0.1', port: R1, max: 0 })).rejects.toBeInstanceOf(ConfigError);
    const single = open({ connectionString: c.primary.url });
    await expect(single.addHost(c.replicas[0]!.url)).rejects.toBeInstanceOf(ConfigError);
    await pool.end();
    await expect(pool.addHost(c.replicas[0]!.url)).rejects.toThrow('Cannot use a pool after calling end on the pool');
  });

  it('an unreachable added host is added, stays out, and costs no failed read', async () => {
    const c = cluster();
    const pool = open({ primary: c.primary.url, replicas: [c.replicas[0]!.url], healthCheckTimeoutMillis: 500 });
    const load = readLoad(pool, { readers: 4, durationMs: 1200 });
    const stats = await pool.addHost({ host: '127.0.0.1', port: 1, name: 'nobody' });
    expect(stats.verified).toBe(false);
    const result = await load;
    expect(result.failed).toHaveLength(0);
    // Served by the replica (or, when a check of it is slow on a busy machine, by the primary): never by the new host.
    expect(result.share(R1) + result.share(P0)).toBe(1);
    expect(pool.stats().hosts.find((h) => h.name === 'nobody')).toMatchObject({ verified: false, queries: 0 });
  });
});

describe('adversarial review findings (regressions)', () => {
  it('a discovery list with a bad entry neither hangs nor crashes: the list is refused (discoveryError), reads go on', async () => {
    const c = cluster();
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      let answer: unknown[] = [{ host: '127.0.0.1', port: R1 }, null];
      const pool = open({ discovery: { kind: 'test', intervalMillis: 50, discover: async () => answer as never }, hosts: [c.replicas[0]!.url], user: 'postgres', database: 'postgres', healthCheckTimeoutMillis: 2000 });
      const errors: string[] = [];
      pool.on('discoveryError', (e) => errors.push(e.message));
      // Bounds sized for a loaded machine (a first connection there can take over 500 ms).
      expect(await Promise.race([served(pool), new Promise((r) => setTimeout(() => r('hung'), 8000))])).toBe(R1);
      answer = [{ port: R1 }];
      await waitFor(() => errors.length >= 3, 3000);
      expect(await served(pool)).toBe(R1);
      expect(new Set(errors)).toEqual(new Set(['Invalid option "discovery": returned an entry without a host (each entry must be { host, port?, weight? })']));
      await pool.end();
      expect(unhandled).toEqual([]);
    } finally {
      process.removeListener('unhandledRejection', onUnhandled);
    }
  });

  it('end() right after removeHost() ends cleanly and waits for a client still leased on the removed host', async () => {
    const c = cluster();
    for (let turns = 0; turns < 4; turns++) {
      const pool = open({ primary: c.primary.url, replicas: [c.replicas[0]!.url, c.replicas[1]!.url] });
      await served(pool);
      const removal = pool.removeHost(`127.0.0.1:${R1}`);
      for (let i = 0; i < turns; i++) await Promise.resolve();
      await expect(pool.end()).resolves.toBeUndefined();
      await removal;
    }
    const pool = open({ primary: c.primary.url, replicas: [c.replicas[0]!.url], drainTimeoutMillis: 300, application_name: 'drain-timeout' });
    const leased = await pool.connect({ role: 'replica' });
    const removedAt = Date.now();
    await pool.removeHost(`127.0.0.1:${R1}`);
    expect(Date.now() - removedAt).toBeLessThan(300 + 1500);
    // Still usable until released, as pg.Pool's end() lets it be; end() waits for it.
    expect((await leased.query('SELECT inet_server_port() AS port')).rows[0].port).toBe(R1);
    let ended = false;
    const ending = pool.end().then(() => { ended = true; });
    await new Promise((r) => setTimeout(r, 200));
    expect(ended).toBe(false);
    leased.release();
    await ending;
    expect(await sessionsLeft(c.replicas[0]!.url, 'drain-timeout')).toBe(0);
  });

  it('addHost of a host still draining waits for it and adds it again; target_session_attrs=standby pins routing clients to a replica', async () => {
    const c = cluster();
    const pool = open({ primary: c.primary.url, replicas: [c.replicas[0]!.url] });
    const leased = await pool.connect({ role: 'replica' });
    const removal = pool.removeHost(`127.0.0.1:${R1}`);
    const again = pool.addHost(c.replicas[0]!.url);
    leased.release();
    await removal;
    expect(await again).toMatchObject({ name: `127.0.0.1:${R1}`, state: 'up' });
    const standby = open({ connectionString: base([P0, R1], '?target_session_attrs=standby'), connectRole: 'auto' });
    const client = await standby.connect();
    try {
      await client.query('BEGIN READ ONLY');
      expect((await client.query('SELECT inet_server_port() AS port, pg_is_in_recovery() AS r')).rows[0]).toEqual({ port: R1, r: true });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  });

  it('multi-host URLs: a server listed twice is one host; each URL keeps its own parameters (a numeric one works as in pg)', async () => {
    const pool = open({ connectionString: base([P0, P0, R1], '?statement_timeout=1000') });
    expect(pool.stats().hosts.map((h) => h.name)).toEqual([`127.0.0.1:${P0}`, `127.0.0.1:${R1}`]);
    expect(await served(pool, "INSERT INTO topo(note) VALUES ('dup') RETURNING inet_server_port() AS port")).toBe(P0);
    await expect(pool.query('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
    await expect(pool.addHost(base([R1, R2]))).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('DNS discovery (SRV records from a DNS server started by the test)', () => {
  let dns: TestDns;
  beforeAll(async () => {
    dns = await startDns();
    for (const n of ['n0', 'n1', 'n2']) dns.setA(`${n}.db.test`, ['127.0.0.1']);
  });
  afterAll(async () => {
    await dns?.close();
  });

  it('follows the records under load: an address that appears gets reads, one that vanishes is drained with 0 failed reads', async () => {
    dns.setSrv('_pg._tcp.db.test', [{ target: 'n0.db.test', port: P0 }, { target: 'n1.db.test', port: R1 }]);
    const pool = open({ discovery: dnsDiscovery({ name: '_pg._tcp.db.test', srv: true, servers: [dns.server], intervalMillis: 200 }), user: 'postgres', database: 'postgres' });
    const errors: Error[] = [];
    pool.on('discoveryError', (e) => errors.push(e));
    // The first statement waits for the first discovery and checks.
    expect(await served(pool)).toBe(R1);
    const t0 = Date.now();
    const load = readLoad(pool, { readers: 8, durationMs: 3000 });
    await new Promise((r) => setTimeout(r, 300));
    dns.setSrv('_pg._tcp.db.test', [{ target: 'n0.db.test', port: P0 }, { target: 'n1.db.test', port: R1 }, { target: 'n2.db.test', port: R2 }]);
    const appeared = Date.now() - t0;
    await waitFor(() => pool.stats().hosts.some((h) => h.name === `127.0.0.1:${R2}` && h.verified), 3000);
    const serving = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 600));
    dns.setSrv('_pg._tcp.db.test', [{ target: 'n0.db.test', port: P0 }, { target: 'n2.db.test', port: R2 }]);
    const vanished = Date.now() - t0;
    await waitFor(() => !pool.stats().hosts.some((h) => h.name === `127.0.0.1:${R1}`), 3000);
    const gone = Date.now() - t0;
    const result = await load;
    expect(result.failed).toHaveLength(0);
    // Within one period plus its first check, the new replica serves reads. (How many depends on
    // load: a fresh replica's first reads are slower than a warm one's, and with 8 light readers
    // P2C keeps most on the warm one; the addHost test above saturates the old one.)
    const firstRead = result.samples.find((s) => s.port === R2)!.at;
    expect(serving - appeared).toBeLessThan(200 + 1500);
    expect(firstRead - appeared).toBeLessThan(200 + 1500);
    expect(result.share(R2, serving, vanished)).toBeGreaterThan(0);
    expect(result.share(R1, gone)).toBe(0);
    expect(errors).toEqual([]);
  });

  it('keeps its hosts when the DNS answers nothing or does not answer', async () => {
    dns.setSrv('_keep._tcp.db.test', [{ target: 'n0.db.test', port: P0 }, { target: 'n1.db.test', port: R1 }]);
    const pool = open({ discovery: dnsDiscovery({ name: '_keep._tcp.db.test', srv: true, servers: [dns.server], intervalMillis: 100 }), user: 'postgres', database: 'postgres' });
    const errors: Error[] = [];
    pool.on('discoveryError', (e) => errors.push(e));
    expect(await served(pool)).toBe(R1);
    dns.setSrv('_keep._tcp.db.test', []);
    await waitFor(() => errors.length >= 2, 3000);
    expect(pool.stats().hosts).toHaveLength(2);
    expect(await served(pool)).toBe(R1);
    const silent = open({ discovery: dnsDiscovery({ name: 'n1.db.test', servers: ['127.0.0.1:9'], intervalMillis: 100 }), user: 'postgres', database: 'postgres', healthCheckTimeoutMillis: 500 });
    const silentErrors: Error[] = [];
    silent.on('discoveryError', (e) => silentErrors.push(e));
    // No host was ever found: a read fails typed after the bounded first discovery, it does not hang.
    await expect(silent.query('SELECT 1')).rejects.toMatchObject({ p2cCode: 'P2C_NO_HOST_AVAILABLE' });
    expect(silentErrors.length).toBeGreaterThan(0);
  });
});
