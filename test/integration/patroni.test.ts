// A real Patroni 3.0 + etcd 3.4 cluster (synchronous mode) under continuous read and write load:
// switchover, leader SIGKILL, members added (one tagged noloadbalance) and removed, followed through
// Patroni's REST API and then through DNS (A records of the members' loopback addresses).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pool, dnsDiscovery, patroniDiscovery, type PoolOptions } from '../../adapters/pg/index.js';
import { usePatroni } from '../support/vitest-patroni.js';
import { startDns, type TestDns } from '../support/dns-server.js';
import { waitFor } from '../support/load.js';
import type { PatroniCluster } from '../support/patroni-cluster.js';

const patroni = usePatroni({ synchronous: true, ttl: 20, loopWait: 2, retryTimeout: 8 });
let dns: TestDns;
const DNS_NAME = 'pg.patroni.test';

beforeAll(async () => {
  dns = await startDns();
  const c = patroni();
  const setup = new Pool({ connectionString: c.url((await c.leader()).name) });
  await setup.query('CREATE TABLE IF NOT EXISTS acks (id int PRIMARY KEY, at timestamptz DEFAULT now())');
  await setup.end();
});

afterAll(async () => {
  await dns?.close();
});

interface Sample { readonly at: number; readonly ok: boolean; readonly addr?: string; readonly code?: string }

/** Readers and one writer running until stopped; every outcome kept with its time (Date.now()). */
function workload(pool: Pool, firstId: number) {
  const reads: Sample[] = [];
  const writes: Sample[] = [];
  const acked: number[] = [];
  let running = true;
  let id = firstId;
  const codeOf = (err: unknown) => String((err as { p2cCode?: string }).p2cCode ?? (err as { code?: string }).code ?? (err as Error).message);
  const readers = Array.from({ length: 6 }, async () => {
    while (running) {
      try {
        const { rows } = await pool.query('SELECT host(inet_server_addr()) AS addr');
        reads.push({ at: Date.now(), ok: true, addr: rows[0].addr });
      } catch (err) {
        reads.push({ at: Date.now(), ok: false, code: codeOf(err) });
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  const writer = (async () => {
    while (running) {
      const mine = id++;
      try {
        const { rows } = await pool.query('INSERT INTO acks(id) VALUES ($1) RETURNING host(inet_server_addr()) AS addr', [mine]);
        acked.push(mine);
        writes.push({ at: Date.now(), ok: true, addr: rows[0].addr });
      } catch (err) {
        writes.push({ at: Date.now(), ok: false, code: codeOf(err) });
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  })();
  return {
    reads, writes, acked,
    async stop() {
      running = false;
      await Promise.all([...readers, writer]);
    },
    /** First successful write at or after `since` served by `addr`. */
    firstWriteOn(addr: string, since: number): number | undefined {
      return writes.find((w) => w.ok && w.addr === addr && w.at >= since)?.at;
    },
  };
}

const report: Record<string, unknown>[] = [];
afterAll(() => {
  // The figures the README's "Topologies" section quotes.
  console.log(`patroni figures: ${JSON.stringify(report)}`);
});

function pool(config: PoolOptions): Pool {
  const p = new Pool({ user: 'postgres', database: 'test', healthCheckIntervalMillis: 500, healthCheckTimeoutMillis: 1000, connectionTimeoutMillis: 2000, queryTimeoutMillis: 10_000, max: 8, ...config } as PoolOptions);
  p.on('error', () => {});
  return p;
}

async function publishDns(c: PatroniCluster): Promise<void> {
  dns.setA(DNS_NAME, (await c.members()).filter((m) => m.state === 'running' && !m.tags['noloadbalance']).map((m) => m.host));
}

let nextId = 1;

describe.each(['patroni', 'dns'] as const)('%s discovery on a real Patroni cluster under load', (kind) => {
  let p: Pool;
  beforeAll(async () => {
    const c = patroni();
    await publishDns(c);
    p = pool({
      discovery: kind === 'patroni'
        ? patroniDiscovery({ urls: c.restUrls, intervalMillis: 1000 })
        : dnsDiscovery({ name: DNS_NAME, port: c.port, servers: [dns.server], intervalMillis: 1000 }),
    });
    await p.query('SELECT 1');
  });
  afterAll(async () => {
    await p?.end();
  });

  it('switchover: 0 failed reads; writes resume on the new leader within 2 s; no write fails as read-only (re-run on the new primary)', async () => {
    const c = patroni();
    const load = workload(p, (nextId += 100_000));
    await new Promise((r) => setTimeout(r, 1000));
    const sw = await c.switchover();
    const to = c.node(sw.to).host;
    await waitFor(() => load.firstWriteOn(to, sw.at) !== undefined, 15_000).catch(() => {});
    await new Promise((r) => setTimeout(r, 500));
    await load.stop();
    const resumed = load.firstWriteOn(to, sw.at);
    const failedReads = load.reads.filter((r) => !r.ok);
    const failedWrites = load.writes.filter((w) => !w.ok);
    report.push({ kind, scenario: 'switchover', reads: load.reads.length, failedReads: failedReads.length, writes: load.writes.length, failedWrites: failedWrites.length, writeCodes: [...new Set(failedWrites.map((w) => w.code))], switchoverMs: sw.ms, writesResumeMsAfterLeader: resumed === undefined ? null : resumed - sw.at });
    expect(failedReads.map((r) => r.code)).toEqual([]);
    expect(resumed).toBeDefined();
    expect(resumed! - sw.at).toBeLessThanOrEqual(2000);
    expect(failedWrites.filter((w) => w.code === '25006')).toEqual([]);
  }, 120_000);

  it('leader SIGKILLed: 0 failed reads; writes resume within 2 s of the new leader; no acknowledged write is lost (synchronous mode)', async () => {
    const c = patroni();
    // Synchronous mode promotes only the synchronous standby: kill once there is one (after the
    // switchover above, the new leader names one within a few HA loops).
    await waitFor(async () => (await c.members()).some((m) => m.role === 'sync_standby' && m.state === 'running'), 60_000);
    const load = workload(p, (nextId += 100_000));
    await new Promise((r) => setTimeout(r, 1000));
    const killed = await c.killLeader();
    const leader = await c.leader({ except: killed, timeoutMs: 60_000 });
    const newLeaderAt = Date.now();
    if (kind === 'dns') await publishDns(c);
    const to = c.node(leader.name).host;
    await waitFor(() => load.firstWriteOn(to, newLeaderAt - 2000) !== undefined, 15_000).catch(() => {});
    await new Promise((r) => setTimeout(r, 500));
    await load.stop();
    const resumed = load.firstWriteOn(to, newLeaderAt - 2000);
    const failedReads = load.reads.filter((r) => !r.ok);
    const check = new Pool({ connectionString: c.url(leader.name) });
    const { rows } = await check.query('SELECT id FROM acks WHERE id = ANY($1::int[])', [load.acked]);
    await check.end();
    const lost = load.acked.length - rows.length;
    if (failedReads.length > 0) {
      console.log('diagnosis', kind, 'killed', killed, c.node(killed).host, 'leader', leader.name, to, 'killAt', newLeaderAt, JSON.stringify(p.stats().hosts.map((h) => [h.name, h.role, h.state, h.verified, h.lastError?.message])));
      console.log('diagnosis: first/last failed read (ms from new leader)', failedReads[0]!.at - newLeaderAt, failedReads.at(-1)!.at - newLeaderAt, 'members', JSON.stringify(await c.members()));
    }
    report.push({ kind, scenario: 'leader-kill', reads: load.reads.length, failedReads: failedReads.length, writes: load.writes.length, failedWrites: load.writes.filter((w) => !w.ok).length, acked: load.acked.length, lost, writesResumeMsAfterLeader: resumed === undefined ? null : Math.max(0, resumed - newLeaderAt) });
    expect(failedReads.map((r) => r.code)).toEqual([]);
    expect(resumed).toBeDefined();
    expect(resumed! - newLeaderAt).toBeLessThanOrEqual(2000);
    expect(lost).toBe(0);
    // The killed member does not come back; wait until Patroni stops listing it (its keys expire).
    await waitFor(async () => !(await c.members()).some((m) => m.name === killed), 60_000);
  }, 180_000);

  it('members added and removed: a new one gets reads within one discovery period plus its first check, a noloadbalance one none, a removed one is drained with 0 failed reads', async () => {
    const c = patroni();
    const load = workload(p, (nextId += 100_000));
    const added = await c.addMember();
    const addedAt = Date.now();
    const quiet = kind === 'patroni' ? await c.addMember({ tags: { noloadbalance: true } }) : undefined;
    if (kind === 'dns') await publishDns(c);
    await waitFor(() => load.reads.some((r) => r.ok && r.addr === added.host && r.at >= addedAt), 10_000).catch(() => {});
    const firstRead = load.reads.find((r) => r.ok && r.addr === added.host)?.at;
    await new Promise((r) => setTimeout(r, 1500));
    // Removed: Patroni stops it (and drops it from /cluster); with DNS its record goes first.
    const removedAt = Date.now();
    if (kind === 'dns') {
      dns.setA(DNS_NAME, (await c.members()).filter((m) => m.state === 'running' && m.name !== added.name && !m.tags['noloadbalance']).map((m) => m.host));
      await waitFor(() => !p.stats().hosts.some((h) => h.name === `${added.host}:${c.port}`), 10_000);
    }
    await c.removeMember(added.name);
    await waitFor(() => !p.stats().hosts.some((h) => h.name === `${added.host}:${c.port}`), 10_000);
    const goneAt = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    await load.stop();
    const failedReads = load.reads.filter((r) => !r.ok);
    report.push({ kind, scenario: 'members', reads: load.reads.length, failedReads: failedReads.length, firstReadMsAfterMemberRunning: firstRead === undefined ? null : firstRead - addedAt, removedAfterMs: goneAt - removedAt, noloadbalanceReads: quiet ? load.reads.filter((r) => r.addr === quiet.host).length : null });
    expect(failedReads.map((r) => r.code)).toEqual([]);
    expect(firstRead).toBeDefined();
    expect(firstRead! - addedAt).toBeLessThanOrEqual(1000 + 2000);
    if (quiet) expect(load.reads.filter((r) => r.addr === quiet.host)).toEqual([]);
    expect(load.reads.filter((r) => r.addr === added.host && r.at > goneAt)).toEqual([]);
    // DNS has no tags: the next round starts from the members a DNS name would list.
    if (quiet) await c.removeMember(quiet.name);
  }, 180_000);
});
