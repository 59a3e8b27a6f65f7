// The Patroni harness itself: etcd + three PostgreSQL nodes under Patroni, each on its own loopback
// address with one shared port; switchover, failover, members joining and leaving, and a clean stop.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { startPatroniCluster } from '../support/patroni-cluster.js';
import { gone, processesWith } from '../support/process-tree.js';
import { usePatroni } from '../support/vitest-patroni.js';

async function one<T>(url: string, text: string): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  await c.connect();
  try { return (await c.query(text)).rows[0] as T; } finally { await c.end(); }
}

describe('Patroni harness', () => {
  const cluster = usePatroni();

  it('starts three running members, one leader, each serving database test on its own address and the shared port', async () => {
    const c = cluster();
    console.log(`3 members running and streaming ${c.startedInMs} ms after start`);
    const members = await c.waitForMembers(3);
    expect(members.filter((m) => m.role === 'leader')).toHaveLength(1);
    expect(members.map((m) => m.host).sort()).toEqual(['127.0.0.11', '127.0.0.12', '127.0.0.13']);
    expect(new Set(members.map((m) => m.port))).toEqual(new Set([c.port]));
    expect(c.restUrls).toHaveLength(3);
    for (const m of members) {
      const row = await one<{ addr: string; port: number; db: string; standby: boolean }>(c.url(m.name),
        'SELECT host(inet_server_addr()) AS addr, inet_server_port() AS port, current_database() AS db, pg_is_in_recovery() AS standby');
      expect(row).toEqual({ addr: m.host, port: c.port, db: 'test', standby: m.role !== 'leader' });
    }
  });

  it('switches over to another member', async () => {
    const c = cluster();
    const before = await c.leader();
    const s = await c.switchover();
    console.log(`switchover ${s.from} -> ${s.to}: ${s.ms} ms`);
    expect(s.from).toBe(before.name);
    expect(s.to).not.toBe(before.name);
    expect((await c.leader()).name).toBe(s.to);
    const t0 = Date.now();
    await c.waitForMembers(3); // the old leader follows the new one
    console.log(`old leader streaming again after ${Date.now() - t0} ms`);
    expect(await one<{ standby: boolean }>(c.url(s.from), 'SELECT pg_is_in_recovery() AS standby')).toEqual({ standby: true });
  });

  it('adds a tagged member that streams, and removes it', async () => {
    const c = cluster();
    const t0 = Date.now();
    const n = await c.addMember({ tags: { noloadbalance: true, nofailover: true } });
    console.log(`addMember ${n.name} streaming after ${Date.now() - t0} ms`);
    expect(n.host).toBe('127.0.0.14');
    const m = (await c.members()).find((x) => x.name === n.name)!;
    expect(m).toMatchObject({ state: 'running', host: '127.0.0.14', port: c.port, tags: { noloadbalance: true, nofailover: true } });
    expect(await one<{ db: string; standby: boolean }>(n.url, 'SELECT current_database() AS db, pg_is_in_recovery() AS standby')).toEqual({ db: 'test', standby: true });
    const pids = [n.pid!, n.postgresPid!];
    await c.removeMember(n.name);
    expect(pids.every(gone)).toBe(true);
    expect((await c.members()).map((x) => x.name)).not.toContain(n.name);
    expect(c.restUrls).toHaveLength(3);
  });

  it('fails over when the leader is killed', async () => {
    const c = cluster();
    const t0 = Date.now();
    const killed = await c.killLeader();
    expect(c.node(killed)).toMatchObject({ pid: undefined, postgresPid: undefined });
    expect(c.restUrls).toHaveLength(2);
    const next = await c.leader({ except: killed });
    console.log(`killLeader ${killed}: ${next.name} leads after ${Date.now() - t0} ms`);
    await c.waitForMembers(2); // the killed member's key expires after the TTL
    console.log(`2 members running after ${Date.now() - t0} ms`);
    expect(await one<{ standby: boolean }>(c.url(next.name), 'SELECT pg_is_in_recovery() AS standby')).toEqual({ standby: false });
  });

  it('stop() leaves no process of the cluster behind', async () => {
    const c = cluster();
    const pids = c.pids();
    const dir = c.dir;
    expect(pids.length).toBeGreaterThan(5);
    expect(processesWith(`${dir}/`).length).toBeGreaterThanOrEqual(5); // etcd, 2 Patronis, 2 postmasters
    const t0 = Date.now();
    await c.stop();
    console.log(`stop() took ${Date.now() - t0} ms`);
    expect(pids.filter((p) => !gone(p))).toEqual([]);
    expect(processesWith(`${dir}/`)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('Patroni harness, synchronous mode', () => {
  it('keeps one synchronous standby and switches over to it', async () => {
    const c = await startPatroniCluster({ members: 2, synchronous: true });
    try {
      const members = await c.waitForMembers(2);
      console.log(`synchronous: 2 members with a sync standby ${c.startedInMs} ms after start`);
      const standby = members.find((m) => m.role === 'sync_standby')!;
      expect(standby).toBeDefined();
      const leader = members.find((m) => m.role === 'leader')!;
      const row = await one<{ names: string }>(c.url(leader.name), "SELECT current_setting('synchronous_standby_names') AS names");
      expect(row.names).toContain(standby.name);
      const s = await c.switchover(standby.name);
      expect(s).toMatchObject({ from: leader.name, to: standby.name });
      const t0 = Date.now();
      await c.waitForMembers(2); // the old leader becomes the synchronous standby
      console.log(`synchronous: switchover ${s.ms} ms, old leader sync standby again after ${Date.now() - t0} ms`);
    } finally {
      await c.stop();
    }
  });
});
