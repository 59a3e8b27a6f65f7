// Test harness: a real PostgreSQL primary with streaming replicas, from environment variables, from
// Testcontainers when a container runtime answers, or from the installed binaries in a temp dir.

import { mkdtemp, rm, appendFile, chown } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, postgresBinDir, readPidFile, run, runAs, stopPid, track } from './processes.js';
import { containerRuntimeAvailable, trackDir } from './processes.js';

/** One server of the test cluster. */
export interface PgNode {
  readonly role: 'primary' | 'replica';
  readonly host: string;
  readonly port: number;
  /** postgres://... connection string (trust auth, no password). */
  readonly url: string;
  /** Server PID when the harness started it locally. */
  pid(): number | undefined;
  /** Stops the server with SIGKILL (local) or kill (container). */
  kill(): Promise<void>;
  /** Starts a stopped server again on the same port. */
  start(): Promise<void>;
  /** Crashes the server: SIGKILL to the postmaster and every backend at once. */
  crash(): Promise<void>;
}

export interface PgCluster {
  readonly source: 'env' | 'containers' | 'local';
  readonly primary: PgNode;
  readonly replicas: readonly PgNode[];
  /** Stops every server the harness started (by PID) and removes its files. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Number of streaming replicas. Default 2. */
  replicas?: number;
}

/**
 * Finds servers in this order: P2C_PG_PRIMARY (+ P2C_PG_REPLICAS, comma-separated) when set;
 * Testcontainers when a container runtime answers; else initdb/pg_basebackup from the installed
 * PostgreSQL. P2C_HARNESS=env|containers|local forces one.
 */
export async function startPgCluster(options: ClusterOptions = {}): Promise<PgCluster> {
  const replicas = options.replicas ?? 2;
  const forced = process.env['P2C_HARNESS'];
  if (forced === 'env' || (!forced && process.env['P2C_PG_PRIMARY'])) return fromEnv();
  if (forced === 'containers' || (!forced && (await containerRuntimeAvailable()))) return startContainers(replicas);
  return startLocal(replicas);
}

function fromEnv(): PgCluster {
  const primary = process.env['P2C_PG_PRIMARY'];
  if (!primary) throw new Error('P2C_HARNESS=env needs P2C_PG_PRIMARY (and P2C_PG_REPLICAS, comma-separated URLs)');
  const replicas = (process.env['P2C_PG_REPLICAS'] ?? '').split(',').filter(Boolean);
  const node = (role: PgNode['role'], url: string): PgNode => {
    const u = new URL(url);
    const unsupported = () => Promise.reject(new Error('servers from environment variables cannot be stopped or started by the harness'));
    return { role, host: u.hostname, port: Number(u.port || 5432), url, pid: () => undefined, kill: unsupported, start: unsupported, crash: unsupported };
  };
  return { source: 'env', primary: node('primary', primary), replicas: replicas.map((r) => node('replica', r)), stop: async () => {} };
}


async function startLocal(replicaCount: number): Promise<PgCluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('No PostgreSQL binaries found (looked in /usr/lib/postgresql/*/bin, P2C_PG_BIN and pg_config). Install postgresql or set P2C_PG_PRIMARY/P2C_PG_REPLICAS.');
  const owner = runAs('postgres');
  const dir = await mkdtemp(join(tmpdir(), 'p2c-pg-'));
  if (owner) await chown(dir, owner.uid, owner.gid);
  // cwd: the caller's directory may be unreadable by the postgres user (e.g. a root-only temp dir).
  const spawnOpts = { ...(owner ?? {}), cwd: dir, env: { ...process.env, LC_ALL: 'C' } };
  const nodes: LocalNode[] = [];
  const cleanup = async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await rm(dir, { recursive: true, force: true });
    trackDir(dir, false);
  };
  trackDir(dir);
  try {
    const primary = new LocalNode('primary', bin, join(dir, 'primary'), await freePort(), spawnOpts);
    nodes.push(primary);
    await run(`${bin}/initdb`, ['-D', primary.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '--locale=C', '-E', 'UTF8'], spawnOpts);
    await appendFile(join(primary.dataDir, 'postgresql.conf'), [
      `port = ${primary.port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`,
      'wal_level = replica', 'max_wal_senders = 10', 'hot_standby = on', 'fsync = off', 'full_page_writes = off',
      'max_connections = 200', 'shared_buffers = 32MB', "wal_keep_size = '256MB'", 'wal_receiver_status_interval = 1s', 'hot_standby_feedback = on', '',
    ].join('\n'));
    await primary.start();
    const replicas = await Promise.all(Array.from({ length: replicaCount }, async (_, i) => {
      const r = new LocalNode('replica', bin, join(dir, `replica${i + 1}`), await freePort(), spawnOpts);
      nodes.push(r);
      await run(`${bin}/pg_basebackup`, ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', r.dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'], spawnOpts);
      await appendFile(join(r.dataDir, 'postgresql.auto.conf'), `port = ${r.port}\n`);
      await r.start();
      return r;
    }));
    return { source: 'local', primary, replicas, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

class LocalNode implements PgNode {
  readonly host = '127.0.0.1';
  readonly url: string;
  private serverPid: number | undefined;

  constructor(readonly role: PgNode['role'], private readonly bin: string, readonly dataDir: string, readonly port: number, private readonly spawnOpts: object) {
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  pid(): number | undefined {
    return this.serverPid;
  }

  async start(): Promise<void> {
    await run(`${this.bin}/pg_ctl`, ['-D', this.dataDir, '-l', join(this.dataDir, 'server.log'), '-w', '-t', '60', 'start'], this.spawnOpts);
    this.serverPid = readPidFile(join(this.dataDir, 'postmaster.pid'));
    track(this.serverPid);
  }

  async kill(): Promise<void> {
    const pid = this.serverPid;
    this.serverPid = undefined;
    // SIGKILL on the postmaster leaves its backends running until they notice; SIGQUIT is an
    // immediate shutdown that takes them down too. Either way we wait for the PID to go.
    if (pid !== undefined) await stopPid(pid, 'SIGQUIT', 5_000);
  }

  async crash(): Promise<void> {
    const pid = this.serverPid;
    if (pid === undefined) return;
    this.serverPid = undefined;
    // Freeze the postmaster first so it forks no backend between listing its children and the kill.
    try { process.kill(pid, 'SIGSTOP'); } catch { /* gone */ }
    const children = childPids(pid);
    for (const p of [...children, pid]) {
      try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
    await Promise.all([pid, ...children].map((p) => stopPid(p, 'SIGKILL', 5_000)));
  }
}

function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)]).toString().split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
  } catch {
    return [];
  }
}

async function startContainers(replicaCount: number): Promise<PgCluster> {
  const tc = await import('testcontainers');
  const image = process.env['P2C_PG_IMAGE'] ?? 'postgres:15';
  const network = await new tc.Network().start();
  const started: { stop(): Promise<unknown> }[] = [];
  const primary = await new tc.GenericContainer(image)
    .withNetwork(network).withNetworkAliases('primary').withExposedPorts(5432)
    .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
    .withCopyContentToContainer([{ content: 'echo "host replication all all trust" >> "$PGDATA/pg_hba.conf"\n', target: '/docker-entrypoint-initdb.d/replication.sh' }])
    .withCommand(['postgres', '-c', 'wal_level=replica', '-c', 'max_wal_senders=10', '-c', 'hot_standby=on', '-c', 'fsync=off'])
    .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  started.push(primary);
  const replicaScript = 'set -e; D=/var/lib/postgresql/data; mkdir -p $D; chown postgres $D; chmod 700 $D; '
    + 'until gosu postgres pg_basebackup -h primary -U postgres -D $D -R -X stream -c fast; do sleep 1; done; '
    + 'exec gosu postgres postgres -D $D -c hot_standby=on';
  const replicas = [];
  for (let i = 0; i < replicaCount; i++) {
    const c = await new tc.GenericContainer(image).withNetwork(network).withExposedPorts(5432)
      .withEntrypoint(['bash', '-c', replicaScript])
      .withWaitStrategy(tc.Wait.forLogMessage(/ready to accept read-only connections/))
      .start();
    started.push(c);
    replicas.push(c);
  }
  const node = (role: PgNode['role'], c: Awaited<ReturnType<InstanceType<typeof tc.GenericContainer>['start']>>): PgNode => {
    const host = c.getHost();
    const port = c.getMappedPort(5432);
    return {
      role, host, port, url: `postgres://postgres@${host}:${port}/postgres`, pid: () => undefined,
      kill: async () => { await c.exec(['bash', '-c', 'kill -QUIT 1']); },
      crash: async () => { await c.exec(['bash', '-c', 'kill -KILL -1']); },
      start: () => Promise.reject(new Error('restarting a container node is not supported by the harness')),
    };
  };
  return {
    source: 'containers',
    primary: node('primary', primary),
    replicas: replicas.map((c) => node('replica', c)),
    stop: async () => {
      for (const c of started.reverse()) await c.stop().catch(() => {});
      await network.stop().catch(() => {});
    },
  };
}
