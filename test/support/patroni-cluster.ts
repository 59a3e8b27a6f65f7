// Test harness: a real Patroni 3 cluster (one etcd 3.4 with the v2 API, PostgreSQL nodes under Patroni) in a
// temp dir. Every node listens on its own loopback address (127.0.0.11, .12, ...) with one shared port.

import { chown, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { postgresBinDir, run, runAs, track, trackDir, untrack } from './processes.js';
import { descendants, gone, killTrees, portFree, processesWith, sharedFreePort, tail, waitGone } from './process-tree.js';
import { postmasterPid, SCOPE, site, startEtcd, startNode, writePostBootstrap, type Node, type Site } from './patroni-node.js';

/** One member as Patroni's `GET /cluster` reports it. */
export interface MemberInfo {
  readonly name: string;
  readonly role: 'leader' | 'replica' | 'sync_standby' | 'standby_leader';
  /** 'running', 'starting', 'stopped', 'creating replica', 'start failed', ... */
  readonly state: string;
  readonly host: string;
  readonly port: number;
  /** Replay lag in bytes behind the leader; 'unknown' when Patroni has no position; null for the leader. */
  readonly lag: number | 'unknown' | null;
  readonly tags: Readonly<Record<string, unknown>>;
  readonly timeline: number | undefined;
}

/** A node as the harness started it (a snapshot: PIDs change when Patroni restarts PostgreSQL). */
export interface PatroniNode {
  readonly name: string;
  /** Its own loopback address: 127.0.0.11 for n1, 127.0.0.12 for n2, ... */
  readonly host: string;
  /** The port every node shares. */
  readonly port: number;
  /** Base URL of its Patroni REST API, e.g. http://127.0.0.1:41234 */
  readonly restUrl: string;
  /** postgres://postgres@host:port/test */
  readonly url: string;
  /** PID of its Patroni process; undefined once stopped or killed. */
  readonly pid: number | undefined;
  /** PID of its postmaster now; undefined when PostgreSQL is not running. */
  readonly postgresPid: number | undefined;
}

export interface PatroniOptions {
  /** PostgreSQL nodes started. Default 3. */
  members?: number;
  /** Patroni synchronous_mode (not strict): the leader keeps one synchronous standby. Default false. */
  synchronous?: boolean;
  /** DCS leader-key TTL in seconds: a killed leader is replaced after at most this. Default 10. */
  ttl?: number;
  /** Seconds between Patroni HA loops. Default 1. */
  loopWait?: number;
  /** Seconds Patroni retries etcd and PostgreSQL before demoting. Default 4 (loop_wait + 2 * retry_timeout <= ttl). */
  retryTimeout?: number;
}

export interface SwitchoverResult {
  readonly from: string;
  readonly to: string;
  /** Date.now() when Patroni first reported the new leader running. */
  readonly at: number;
  /** ms from the switchover request to `at`. */
  readonly ms: number;
}

export interface PatroniCluster {
  /** The PostgreSQL port every node listens on (each on its own address). */
  readonly port: number;
  readonly scope: string;
  /** etcd client URL (v2 API enabled). */
  readonly etcdUrl: string;
  /** Temp dir holding data dirs, configs and logs (etcd.log, nN/patroni.log). */
  readonly dir: string;
  /** ms from the call to startPatroniCluster until all members ran and streamed. */
  readonly startedInMs: number;
  /** REST base URLs of the nodes whose Patroni runs. */
  readonly restUrls: readonly string[];
  /** Members from `GET /cluster` of the first node whose REST API answers. */
  members(): Promise<MemberInfo[]>;
  /**
   * The running leader; waits for one (other than `except`, e.g. a killed leader whose key has not expired yet)
   * for up to `timeoutMs` (default 30 s).
   */
  leader(options?: { except?: string; timeoutMs?: number }): Promise<MemberInfo>;
  /** Waits until exactly `n` members are listed; with `running` (default), all running, one leader, every replica streaming. */
  waitForMembers(n: number, options?: { running?: boolean; timeoutMs?: number }): Promise<MemberInfo[]>;
  /** Switches over via REST POST /switchover (to `candidate`, else Patroni's choice); resolves when the new leader runs. */
  switchover(candidate?: string): Promise<SwitchoverResult>;
  /** SIGKILLs the leader node's Patroni, postmaster and their children at once; returns its name. */
  killLeader(): Promise<string>;
  /** Starts one more node; it clones the leader with Patroni's pg_basebackup; resolves when it streams. */
  addMember(options?: { tags?: { noloadbalance?: boolean; nofailover?: boolean; nosync?: boolean } }): Promise<PatroniNode>;
  /** Stops a node cleanly (SIGTERM to Patroni, which stops PostgreSQL) and deletes its member key. */
  removeMember(name: string): Promise<void>;
  node(name: string): PatroniNode;
  /** postgres://postgres@HOST:PORT/test for a node. */
  url(name: string): string;
  /** Every PID of the cluster's processes now: etcd, Patroni, postmasters and their children. */
  pids(): number[];
  /** Kills everything by PID and removes the temp dir. */
  stop(): Promise<void>;
}

const FIRST_HOST = 11; // n1 on 127.0.0.11
const SHARED_PORT_HOSTS = 5; // the shared port is checked free on 127.0.0.11-15 up front
const INSTALL_SCRIPT = fileURLToPath(new URL('./install-patroni.sh', import.meta.url));

let installing: Promise<void> | undefined;

/** Runs install-patroni.sh (apt-get) once per process when `patroni` or `etcd` is not on PATH. */
export async function ensurePatroni(): Promise<void> {
  const onPath = (cmd: string) => (process.env['PATH'] ?? '/usr/bin:/bin').split(':').some((d) => d !== '' && existsSync(join(d, cmd)));
  if (onPath('patroni') && onPath('etcd')) return;
  installing ??= run('bash', [INSTALL_SCRIPT]).then(() => undefined);
  await installing;
}

export async function startPatroniCluster(options: PatroniOptions = {}): Promise<PatroniCluster> {
  const t0 = Date.now();
  await ensurePatroni();
  const bin = postgresBinDir();
  if (!bin) throw new Error('No PostgreSQL binaries found (looked in /usr/lib/postgresql/*/bin, P2C_PG_BIN and pg_config)');
  const owner = runAs('postgres');
  const dir = await mkdtemp(join(tmpdir(), 'p2c-patroni-'));
  trackDir(dir);
  if (owner) await chown(dir, owner.uid, owner.gid);
  const cluster = new LocalPatroni(site(dir, owner), bin, options);
  try {
    await cluster.start(options.members ?? 3);
    cluster.startedInMs = Date.now() - t0;
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

class LocalPatroni implements PatroniCluster {
  readonly scope = SCOPE;
  readonly dir: string;
  port = 0;
  etcdUrl = '';
  startedInMs = 0;
  private etcdPid: number | undefined;
  private readonly nodes: Node[] = [];
  private stopped = false;

  constructor(private readonly site: Site, private readonly bin: string, private readonly options: PatroniOptions) {
    this.dir = site.dir;
  }

  get restUrls(): string[] {
    return this.nodes.filter((n) => n.patroniPid !== undefined).map(restUrl);
  }

  async start(members: number): Promise<void> {
    const hosts = Array.from({ length: Math.max(members, SHARED_PORT_HOSTS) }, (_, i) => hostOf(i));
    this.port = await sharedFreePort(hosts);
    const etcd = await startEtcd(this.site);
    this.etcdUrl = etcd.url;
    this.etcdPid = etcd.pid;
    await writePostBootstrap(this.site, this.bin);
    for (let i = 0; i < members; i++) await this.startNode({});
    await this.waitForMembers(members, { timeoutMs: 90_000 });
  }

  private async startNode(tags: Record<string, boolean>): Promise<Node> {
    const index = this.nodes.length;
    const host = hostOf(index);
    if (index >= SHARED_PORT_HOSTS && !(await portFree(host, this.port))) throw new Error(`port ${this.port} is taken on ${host}`);
    const o = this.options;
    const dcs = { ttl: o.ttl ?? 10, loopWait: o.loopWait ?? 1, retryTimeout: o.retryTimeout ?? 4, synchronous: o.synchronous ?? false };
    const node = await startNode(this.site, { index, host, port: this.port, etcdUrl: this.etcdUrl, bin: this.bin, dcs, tags });
    this.nodes.push(node);
    return node;
  }

  async members(): Promise<MemberInfo[]> {
    this.trackPostmasters();
    const errors: string[] = [];
    for (const url of this.restUrls) {
      try {
        const r = await fetch(`${url}/cluster`, { signal: AbortSignal.timeout(3000) });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const body = (await r.json()) as { members?: RawMember[] };
        return (body.members ?? []).map(toMemberInfo);
      } catch (err) {
        errors.push(`${url}: ${(err as Error).message}`);
      }
    }
    throw new Error(`no Patroni REST API answered GET /cluster (${errors.join('; ') || 'no node runs'})`);
  }

  async leader(options: { except?: string; timeoutMs?: number } = {}): Promise<MemberInfo> {
    return this.poll(`a running leader${options.except ? ` other than ${options.except}` : ''}`, options.timeoutMs ?? 30_000, async () => {
      const ms = await this.members().catch(() => []);
      return ms.find((m) => (m.role === 'leader' || m.role === 'standby_leader') && m.state === 'running' && m.name !== options.except);
    });
  }

  async waitForMembers(n: number, options: { running?: boolean; timeoutMs?: number } = {}): Promise<MemberInfo[]> {
    const running = options.running ?? true;
    return this.poll(`${n} members${running ? ' running and streaming' : ''}`, options.timeoutMs ?? 60_000, async () => {
      const crashed = this.nodes.find((x) => x.exited && x.patroniPid !== undefined);
      if (crashed) throw new Error(`patroni of ${crashed.name} exited`);
      const ms = await this.members().catch(() => []);
      if (ms.length !== n) return undefined;
      if (!running) return ms;
      const leaders = ms.filter((m) => m.role === 'leader');
      if (leaders.length !== 1 || ms.some((m) => m.state !== 'running')) return undefined;
      if (n > 1) {
        if (this.options.synchronous && !ms.some((m) => m.role === 'sync_standby')) return undefined;
        const streaming = await this.streaming(leaders[0]!).catch(() => new Set<string>());
        if (ms.some((m) => m.role !== 'leader' && !streaming.has(m.name))) return undefined;
      }
      return ms;
    });
  }

  /** Names of the replicas streaming from `leader` (Patroni sets application_name to the member name). */
  private async streaming(leader: MemberInfo): Promise<Set<string>> {
    const c = new pg.Client({ host: leader.host, port: leader.port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
    c.on('error', () => {});
    await c.connect();
    try {
      const r = await c.query<{ name: string }>("SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming'");
      return new Set(r.rows.map((row) => row.name));
    } finally {
      await c.end().catch(() => {});
    }
  }

  async switchover(candidate?: string): Promise<SwitchoverResult> {
    const from = (await this.leader()).name;
    const t0 = Date.now();
    const request = fetch(`${restUrl(this.byName(from))}/switchover`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(candidate ? { leader: from, candidate } : { leader: from }), signal: AbortSignal.timeout(60_000),
    }).then(async (r) => ({ status: r.status, text: await r.text() }), (err: Error) => ({ status: 0, text: err.message }));
    let answer: { status: number; text: string } | undefined;
    void request.then((a) => { answer = a; });
    const to = await this.poll(`a switchover from ${from}${candidate ? ` to ${candidate}` : ''}`, 60_000, async () => {
      if (answer && (answer.status < 200 || answer.status >= 300)) throw new Error(`POST /switchover answered ${answer.status}: ${answer.text}`);
      const ms = await this.members().catch(() => []);
      return ms.find((m) => m.role === 'leader' && m.state === 'running' && m.name !== from);
    });
    const at = Date.now();
    await request;
    return { from, to: to.name, at, ms: at - t0 };
  }

  async killLeader(): Promise<string> {
    const node = this.byName((await this.leader()).name);
    const roots = [node.patroniPid, postmasterPid(node)].filter((p): p is number => p !== undefined);
    node.patroniPid = undefined;
    await killTrees(roots);
    this.forgetPostmaster(node);
    return node.name;
  }

  async addMember(options: { tags?: { noloadbalance?: boolean; nofailover?: boolean; nosync?: boolean } } = {}): Promise<PatroniNode> {
    const tags: Record<string, boolean> = {};
    for (const [k, v] of Object.entries(options.tags ?? {})) if (v !== undefined) tags[k] = v;
    const node = await this.startNode(tags);
    await this.poll(`${node.name} to join and stream`, 60_000, async () => {
      if (node.exited) throw new Error(`patroni of ${node.name} exited`);
      const ms = await this.members().catch(() => []);
      const me = ms.find((m) => m.name === node.name);
      const leader = ms.find((m) => m.role === 'leader' && m.state === 'running');
      if (!me || me.state !== 'running' || !leader) return undefined;
      return (await this.streaming(leader).catch(() => new Set<string>())).has(node.name) || undefined;
    });
    return this.node(node.name);
  }

  async removeMember(name: string): Promise<void> {
    const node = this.byName(name);
    const pid = node.patroniPid;
    if (pid !== undefined) {
      const postmaster = postmasterPid(node);
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      // Patroni stops PostgreSQL (fast mode) before it exits; past the grace period everything goes.
      const clean = await waitGone([pid], 30_000);
      if (!clean) await killTrees([pid, ...(postmaster === undefined ? [] : [postmaster])]);
      else if (postmaster !== undefined && !(await waitGone([postmaster], 10_000))) await killTrees([postmaster]);
      untrack(pid);
      node.patroniPid = undefined;
    }
    this.forgetPostmaster(node);
    // A stopped member's key lives until its TTL; deleting it makes /cluster drop the member now.
    await fetch(`${this.etcdUrl}/v2/keys/service/${SCOPE}/members/${name}`, { method: 'DELETE', signal: AbortSignal.timeout(5000) }).catch(() => {});
    await this.poll(`${name} to leave /cluster`, 20_000, async () => {
      const ms = await this.members().catch(() => undefined);
      return ms && !ms.some((m) => m.name === name) ? true : undefined;
    });
  }

  node(name: string): PatroniNode {
    const n = this.byName(name);
    return { name: n.name, host: n.host, port: this.port, restUrl: restUrl(n), url: this.url(name), pid: n.patroniPid, postgresPid: postmasterPid(n) };
  }

  url(name: string): string {
    return `postgres://postgres@${this.byName(name).host}:${this.port}/test`;
  }

  pids(): number[] {
    const roots = [this.etcdPid, ...this.nodes.flatMap((n) => [n.patroniPid, postmasterPid(n)])].filter((p): p is number => p !== undefined && !gone(p));
    return [...new Set([...roots, ...descendants(roots)])];
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Patroni first (with whatever it runs: initdb, pg_basebackup), so nothing restarts PostgreSQL...
    const patronis = this.nodes.flatMap((n) => (n.patroniPid === undefined ? [] : [n.patroniPid]));
    await killTrees(patronis);
    for (const n of this.nodes) n.patroniPid = undefined;
    // ...then every postmaster: SIGQUIT is an immediate shutdown that takes its backends along.
    const postmasters = [...new Set(this.nodes.flatMap((n) => [postmasterPid(n), n.postmaster]).filter((p): p is number => p !== undefined))];
    for (const p of postmasters) { try { process.kill(p, 'SIGQUIT'); } catch { /* gone */ } }
    if (!(await waitGone(postmasters, 5_000))) await killTrees(postmasters);
    for (const n of this.nodes) this.forgetPostmaster(n);
    if (this.etcdPid !== undefined) {
      try { process.kill(this.etcdPid, 'SIGTERM'); } catch { /* gone */ }
      if (!(await waitGone([this.etcdPid], 5_000))) await killTrees([this.etcdPid]);
      untrack(this.etcdPid);
    }
    for (const p of patronis) untrack(p);
    // Whatever still runs from the temp dir (a postmaster whose PID file was not written yet) goes too.
    await killTrees(processesWith(`${this.dir}/`));
    await rm(this.dir, { recursive: true, force: true });
    trackDir(this.dir, false);
  }

  private byName(name: string): Node {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name} (nodes: ${this.nodes.map((x) => x.name).join(', ')})`);
    return n;
  }

  /** Tracks each node's current postmaster for the watchdog (Patroni restarts PostgreSQL under new PIDs). */
  private trackPostmasters(): void {
    for (const n of this.nodes) {
      this.forgetPostmaster(n);
      const pid = postmasterPid(n);
      if (pid !== undefined && n.postmaster === undefined) {
        n.postmaster = pid;
        track(pid);
      }
    }
  }

  private forgetPostmaster(n: Node): void {
    if (n.postmaster === undefined || !gone(n.postmaster)) return;
    untrack(n.postmaster);
    n.postmaster = undefined;
  }

  /** Polls `fn` every 100 ms until it returns a value; on timeout the error carries the logs' tails. */
  private async poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let value: T | undefined;
      try {
        value = await fn();
      } catch (err) {
        throw new Error(`waiting for ${what}: ${(err as Error).message}\n${this.diagnosis()}`);
      }
      if (value !== undefined) return value;
      if (Date.now() > deadline) {
        const seen = await this.members().then((ms) => JSON.stringify(ms), (err: Error) => err.message);
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; members: ${seen}\n${this.diagnosis()}`);
      }
      await sleep(100);
    }
  }

  private diagnosis(nodes: readonly Node[] = this.nodes): string {
    // Python traceback frames (indented) would crowd out the lines that say what went wrong.
    return [`--- ${join(this.dir, 'etcd.log')}`, tail(join(this.dir, 'etcd.log'), 5),
      ...nodes.flatMap((n) => [`--- ${n.log}`, tail(n.log, 25, /^\s/)])].join('\n');
  }
}

interface RawMember { name: string; role: MemberInfo['role']; state?: string; host?: string; port?: number; lag?: number | string; tags?: Record<string, unknown>; timeline?: number }

function toMemberInfo(m: RawMember): MemberInfo {
  const lag = typeof m.lag === 'number' ? m.lag : m.lag === undefined ? null : 'unknown';
  return { name: m.name, role: m.role, state: m.state ?? '', host: m.host ?? '', port: m.port ?? 0, lag, tags: m.tags ?? {}, timeline: m.timeline };
}

function restUrl(n: Node): string {
  return `http://127.0.0.1:${n.restPort}`;
}

function hostOf(index: number): string {
  return `127.0.0.${FIRST_HOST + index}`;
}
