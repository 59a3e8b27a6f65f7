// The processes of a Patroni test cluster: one etcd (v2 API, which Debian's Patroni speaks) and Patroni nodes,
// each with its config, data dir and log under the cluster's temp dir, run as the postgres OS user.

import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, track } from './processes.js';
import { gone, tail } from './process-tree.js';

/** Where and as whom the cluster's processes run. */
export interface Site {
  readonly dir: string;
  readonly owner: { uid: number; gid: number } | undefined;
  readonly env: NodeJS.ProcessEnv;
}

export interface DcsSettings {
  readonly ttl: number;
  readonly loopWait: number;
  readonly retryTimeout: number;
  readonly synchronous: boolean;
}

/** One Patroni node the harness started. */
export interface Node {
  readonly name: string;
  readonly host: string;
  readonly restPort: number;
  readonly dir: string;
  readonly dataDir: string;
  readonly log: string;
  /** undefined once the harness stopped or killed it. */
  patroniPid: number | undefined;
  /** The postmaster PID tracked for the watchdog. */
  postmaster: number | undefined;
  /** Patroni exited (on its own, or killed). */
  exited: boolean;
}

export const SCOPE = 'p2c';
const POST_BOOTSTRAP = 'post-bootstrap.sh';

/** A site whose env carries none of the caller's PG* variables (Patroni, psql and pg_basebackup would use them). */
export function site(dir: string, owner: Site['owner']): Site {
  return { dir, owner, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: dir, PYTHONDONTWRITEBYTECODE: '1' } };
}

export async function ownedDir(s: Site, path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  if (s.owner) await chown(path, s.owner.uid, s.owner.gid);
}

/** Starts a one-member etcd on loopback ports; resolves once /health answers. Its log is DIR/etcd.log. */
export async function startEtcd(s: Site): Promise<{ url: string; pid: number }> {
  const url = `http://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  const dataDir = join(s.dir, 'etcd');
  await ownedDir(s, dataDir);
  const pid = spawnLogged(s, 'etcd', [
    '--name', 'e1', '--data-dir', dataDir, '--enable-v2=true',
    '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `e1=${peer}`, '--initial-cluster-state', 'new',
    // One member: a short election timeout only makes it leader sooner.
    '--heartbeat-interval', '50', '--election-timeout', '500', '--logger', 'zap', '--log-outputs', 'stderr',
  ], join(s.dir, 'etcd.log'));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    if (r?.ok && ((await r.json()) as { health?: string }).health === 'true') return { url, pid };
    if (gone(pid) || Date.now() > deadline) throw new Error(`etcd ${gone(pid) ? 'exited' : 'not healthy after 20 s'}:\n${tail(join(s.dir, 'etcd.log'), 20)}`);
    await sleep(50);
  }
}

/** Writes node `index`'s config (n1 on 127.0.0.11, ...) and starts its Patroni. */
export async function startNode(s: Site, spec: { index: number; host: string; port: number; etcdUrl: string; bin: string; dcs: DcsSettings; tags: Record<string, boolean> }): Promise<Node> {
  const name = `n${spec.index + 1}`;
  const dir = join(s.dir, name);
  await ownedDir(s, dir);
  const node: Node = { name, host: spec.host, restPort: await freePort(), dir, dataDir: join(dir, 'data'), log: join(dir, 'patroni.log'), patroniPid: undefined, postmaster: undefined, exited: false };
  const configFile = join(dir, 'patroni.yml');
  await writeFile(configFile, JSON.stringify(config(s, node, spec), null, 2)); // JSON is YAML
  node.patroniPid = spawnLogged(s, 'patroni', [configFile], node.log, () => { node.exited = true; });
  return node;
}

/** Post-bootstrap script: Patroni runs it once on the first leader, before any replica clones it. */
export async function writePostBootstrap(s: Site, bin: string): Promise<void> {
  const file = join(s.dir, POST_BOOTSTRAP);
  await writeFile(file, `#!/bin/sh\nexec '${bin}/psql' -X -q -v ON_ERROR_STOP=1 -d "$1" -c 'CREATE DATABASE test'\n`, { mode: 0o755 });
}

function config(s: Site, node: Node, spec: { port: number; etcdUrl: string; bin: string; dcs: DcsSettings; tags: Record<string, boolean> }): object {
  const { dcs } = spec;
  return {
    scope: SCOPE,
    name: node.name,
    log: { level: 'INFO', format: '%(asctime)s %(levelname)s: %(message)s' },
    restapi: { listen: `127.0.0.1:${node.restPort}`, connect_address: `127.0.0.1:${node.restPort}` },
    etcd: { host: spec.etcdUrl.replace('http://', '') },
    watchdog: { mode: 'off' }, // no /dev/watchdog here; Patroni would warn on every start
    bootstrap: {
      dcs: {
        ttl: dcs.ttl, loop_wait: dcs.loopWait, retry_timeout: dcs.retryTimeout,
        maximum_lag_on_failover: 16 * 1024 * 1024,
        synchronous_mode: dcs.synchronous, synchronous_mode_strict: false,
        postgresql: {
          use_pg_rewind: true, use_slots: true,
          // Settings Patroni keeps equal on all nodes live in the DCS.
          parameters: { wal_level: 'replica', hot_standby: 'on', max_connections: 200, max_wal_senders: 10, max_replication_slots: 10, wal_keep_size: '256MB', wal_log_hints: 'on' },
        },
      },
      // 'no-sync' passes Patroni's check (it refuses 'nosync'); fsync is off anyway.
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }, { auth: 'trust' }, 'no-sync'],
      post_bootstrap: join(s.dir, POST_BOOTSTRAP),
    },
    postgresql: {
      listen: `${node.host}:${spec.port}`,
      connect_address: `${node.host}:${spec.port}`,
      data_dir: node.dataDir,
      bin_dir: spec.bin,
      pgpass: join(node.dir, 'pgpass'),
      authentication: { superuser: { username: 'postgres' }, replication: { username: 'postgres' }, rewind: { username: 'postgres' } },
      parameters: {
        // Its own socket dir: the nodes share a port number, hence a socket file name.
        unix_socket_directories: node.dir,
        fsync: 'off', synchronous_commit: 'on', shared_buffers: '32MB',
        wal_receiver_status_interval: '1s', wal_retrieve_retry_interval: '500ms', hot_standby_feedback: 'on',
      },
      // Replication connections come from 127.0.0.1 (the kernel's source address on lo), clients from anywhere on 127/8.
      pg_hba: ['local all all trust', 'host all all 127.0.0.0/8 trust', 'host replication all 127.0.0.0/8 trust'],
      basebackup: [{ checkpoint: 'fast' }, 'no-sync'],
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false, ...spec.tags },
  };
}

/** Spawns a server as the site's owner with stdout and stderr appended to `log`; tracks its PID for the watchdog. */
function spawnLogged(s: Site, cmd: string, args: readonly string[], log: string, onExit?: () => void): number {
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args, { ...(s.owner ?? {}), cwd: s.dir, env: s.env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.on('error', () => {}); // shows as a missing pid below
  if (onExit) child.on('exit', onExit);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}\n${tail(log, 20)}`);
  track(child.pid);
  return child.pid;
}

/** The live postmaster of a node's data dir, from postmaster.pid (checked against /proc: a stale file is ignored). */
export function postmasterPid(n: Node): number | undefined {
  let pid: number;
  try { pid = Number(readFileSync(join(n.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]); } catch { return undefined; }
  if (!Number.isInteger(pid) || pid <= 1 || gone(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(n.dataDir) ? pid : undefined;
  } catch {
    return undefined;
  }
}
