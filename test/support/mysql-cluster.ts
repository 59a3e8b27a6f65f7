// Test harness: a real MariaDB primary with GTID replicas, from environment variables, from
// Testcontainers when a container runtime answers, or from the installed server in a temp dir.

import { spawn, type ChildProcess } from 'node:child_process';
import { chown, cp, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { freePort, run, runAs, stopPid, track } from './processes.js';
import { containerRuntimeAvailable, trackDir } from './processes.js';

/** One server of the MariaDB test cluster. */
export interface MyNode {
  readonly role: 'primary' | 'replica';
  readonly host: string;
  readonly port: number;
  /** mysql://app:app@host:port/test: the application user, with rights on `test` only. */
  readonly url: string;
  /** mysql://root@host:port/: for administration (replication control, promotion). */
  readonly adminUrl: string;
  pid(): number | undefined;
  crash(): Promise<void>;
  start(): Promise<void>;
}

export interface MyCluster {
  readonly source: 'env' | 'containers' | 'local';
  readonly primary: MyNode;
  readonly replicas: readonly MyNode[];
  stop(): Promise<void>;
}

const APP_USER = 'app';
const APP_PASSWORD = 'app';

/**
 * P2C_MY_PRIMARY (+ P2C_MY_REPLICAS, P2C_MY_ADMIN_PRIMARY...) when set; Testcontainers when a
 * container runtime answers; else mariadb-install-db + mariadbd from the installed server.
 */
export async function startMyCluster(options: { replicas?: number } = {}): Promise<MyCluster> {
  const replicas = options.replicas ?? 1;
  const forced = process.env['P2C_HARNESS'];
  if (forced === 'env' || (!forced && process.env['P2C_MY_PRIMARY'])) return fromEnv();
  if (forced === 'containers' || (!forced && (await containerRuntimeAvailable()))) return startContainers(replicas);
  return startLocal(replicas);
}

/** The same topology in containers (image P2C_MY_IMAGE, default mariadb:10.11). */
async function startContainers(replicaCount: number): Promise<MyCluster> {
  const tc = await import('testcontainers');
  const image = process.env['P2C_MY_IMAGE'] ?? 'mariadb:10.11';
  const network = await new tc.Network().start();
  const started: { stop(): Promise<unknown> }[] = [];
  const serverArgs = (id: number, replica: boolean) => ['--server-id=' + id, '--log-bin=binlog', '--binlog-format=ROW', '--gtid-strict-mode=1',
    '--log-slave-updates', '--log-bin-trust-function-creators=1', ...(replica ? ['--read-only=1'] : [])];
  const start = async (id: number, replica: boolean, alias: string) => {
    const c = await new tc.GenericContainer(image).withNetwork(network).withNetworkAliases(alias).withExposedPorts(3306)
      .withEnvironment({ MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: '1' }).withCommand(serverArgs(id, replica))
      .withWaitStrategy(tc.Wait.forLogMessage(/ready for connections/, 2)).start();
    started.push(c);
    return c;
  };
  const node = (role: MyNode['role'], c: Awaited<ReturnType<typeof start>>): MyNode => {
    const host = c.getHost();
    const port = c.getMappedPort(3306);
    return {
      role, host, port, url: `mysql://${APP_USER}:${APP_PASSWORD}@${host}:${port}/test`, adminUrl: `mysql://root@${host}:${port}/`,
      pid: () => undefined,
      crash: async () => { await c.exec(['bash', '-c', 'kill -KILL 1']); },
      start: () => Promise.reject(new Error('restarting a container node is not supported by the harness')),
    };
  };
  const rootOn = async (n: MyNode, sqls: string[]) => {
    const conn = await mysql.createConnection(n.adminUrl);
    try { for (const sql of sqls) await conn.query(sql); } finally { await conn.end(); }
  };
  const primary = node('primary', await start(1, false, 'primary'));
  await rootOn(primary, [
    'CREATE DATABASE IF NOT EXISTS test', `CREATE USER '${APP_USER}'@'%' IDENTIFIED BY '${APP_PASSWORD}'`, `GRANT ALL ON test.* TO '${APP_USER}'@'%'`,
    `GRANT REPLICA MONITOR, BINLOG MONITOR ON *.* TO '${APP_USER}'@'%'`, "CREATE USER 'repl'@'%' IDENTIFIED BY 'repl'", "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'",
  ]);
  const replicas: MyNode[] = [];
  for (let i = 0; i < replicaCount; i++) {
    const r = node('replica', await start(i + 2, true, `replica${i + 1}`));
    // The replica replays the primary's whole binlog, users included.
    await rootOn(r, ["SET GLOBAL gtid_slave_pos = ''",
      "CHANGE MASTER TO MASTER_HOST='primary', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
      'START SLAVE']);
    replicas.push(r);
  }
  return {
    source: 'containers', primary, replicas,
    stop: async () => {
      for (const c of started.reverse()) await c.stop().catch(() => {});
      await network.stop().catch(() => {});
    },
  };
}

function fromEnv(): MyCluster {
  const primary = process.env['P2C_MY_PRIMARY'];
  if (!primary) throw new Error('P2C_HARNESS=env needs P2C_MY_PRIMARY (and P2C_MY_REPLICAS, comma-separated URLs)');
  const node = (role: MyNode['role'], url: string): MyNode => {
    const u = new URL(url);
    const unsupported = () => Promise.reject(new Error('servers from environment variables cannot be stopped or started by the harness'));
    return { role, host: u.hostname, port: Number(u.port || 3306), url, adminUrl: url, pid: () => undefined, crash: unsupported, start: unsupported };
  };
  const replicas = (process.env['P2C_MY_REPLICAS'] ?? '').split(',').filter(Boolean);
  return { source: 'env', primary: node('primary', primary), replicas: replicas.map((r) => node('replica', r)), stop: async () => {} };
}


function serverBinary(): string {
  for (const p of [process.env['P2C_MARIADBD'], '/usr/sbin/mariadbd', '/usr/sbin/mysqld']) if (p && existsSync(p)) return p;
  throw new Error('No MariaDB server binary found (/usr/sbin/mariadbd or P2C_MARIADBD). Install mariadb-server or set P2C_MY_PRIMARY/P2C_MY_REPLICAS.');
}

async function startLocal(replicaCount: number): Promise<MyCluster> {
  const bin = serverBinary();
  const owner = runAs('mysql');
  const dir = await mkdtemp(join(tmpdir(), 'p2c-my-'));
  if (owner) await chown(dir, owner.uid, owner.gid);
  const nodes: LocalMyNode[] = [];
  const cleanup = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await rm(dir, { recursive: true, force: true });
    trackDir(dir, false);
  };
  trackDir(dir);
  try {
    const seed = join(dir, 'seed');
    await run('mariadb-install-db', ['--no-defaults', ...(owner ? ['--user=mysql'] : []), `--datadir=${seed}`,
      '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'], { cwd: dir });
    const make = async (role: MyNode['role'], i: number) => {
      const data = join(dir, `${role}${i}`);
      await cp(seed, data, { recursive: true });
      if (owner) await chownTree(data, owner);
      const node = new LocalMyNode(role, bin, dir, data, await freePort(), i + 1, owner !== undefined);
      nodes.push(node);
      await node.start();
      return node;
    };
    const primary = await make('primary', 0);
    await primary.admin(async (c) => {
      await c.query('CREATE DATABASE IF NOT EXISTS test');
      await c.query(`CREATE USER '${APP_USER}'@'%' IDENTIFIED BY '${APP_PASSWORD}'`);
      await c.query(`GRANT ALL ON test.* TO '${APP_USER}'@'%'`);
      await c.query("CREATE USER 'repl'@'%' IDENTIFIED BY 'repl'");
      await c.query("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'");
      // Lets the pool read replication status with the application user.
      await c.query(`GRANT REPLICA MONITOR, BINLOG MONITOR ON *.* TO '${APP_USER}'@'%'`);
    });
    const replicas = await Promise.all(Array.from({ length: replicaCount }, async (_, i) => {
      const r = await make('replica', i + 1);
      await r.admin(async (c) => {
        await c.query("SET GLOBAL gtid_slave_pos = ''");
        await c.query(`CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`);
        await c.query('START SLAVE');
      });
      return r;
    }));
    // Wait until every replica has the application user (replicated from the primary).
    for (const r of replicas) {
      for (let i = 0; ; i++) {
        const ok = await r.admin(async (c) => ((await c.query("SELECT COUNT(*) AS n FROM mysql.user WHERE user = 'app'")) as [Array<{ n: number }>, unknown])[0][0]!.n > 0);
        if (ok) break;
        if (i > 500) throw new Error('replica did not catch up with the primary');
        await sleep(10);
      }
    }
    return { source: 'local', primary, replicas, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function chownTree(path: string, owner: { uid: number; gid: number }): Promise<void> {
  await run('chown', ['-R', `${owner.uid}:${owner.gid}`, path]);
}

class LocalMyNode implements MyNode {
  readonly host = '127.0.0.1';
  readonly url: string;
  readonly adminUrl: string;
  private child: ChildProcess | undefined;

  constructor(readonly role: MyNode['role'], private readonly bin: string, private readonly dir: string, private readonly data: string,
    readonly port: number, private readonly serverId: number, private readonly asMysql: boolean) {
    this.url = `mysql://${APP_USER}:${APP_PASSWORD}@127.0.0.1:${port}/test`;
    this.adminUrl = `mysql://root@127.0.0.1:${port}/`;
  }

  pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const args = ['--no-defaults', ...(this.asMysql ? ['--user=mysql'] : []), `--datadir=${this.data}`, `--port=${this.port}`,
      '--bind-address=127.0.0.1', `--socket=${join(this.dir, `s${this.serverId}.sock`)}`, `--pid-file=${join(this.data, 'server.pid')}`,
      `--server-id=${this.serverId}`, '--log-bin=binlog', '--binlog-format=ROW', '--gtid-strict-mode=1', '--log-slave-updates',
      '--skip-name-resolve', '--innodb-buffer-pool-size=32M', '--innodb-log-file-size=16M', '--innodb-flush-log-at-trx-commit=2',
      '--sync-binlog=0', '--max-connections=300', '--log-bin-trust-function-creators=1', `--log-error=${join(this.data, 'error.log')}`,
      ...(this.role === 'replica' ? ['--read-only=1'] : [])];
    const child = spawn(this.bin, args, { stdio: 'ignore', cwd: this.dir });
    this.child = child;
    track(child.pid!);
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`mariadbd exited with ${child.exitCode}; see ${join(this.data, 'error.log')}`);
      try {
        await this.admin(async () => {});
        return;
      } catch {
        if (i > 600) throw new Error('mariadbd did not accept connections within 30 s');
        await sleep(50);
      }
    }
  }

  /** Runs `fn` on a root connection to this node. */
  async admin<T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
    const c = await mysql.createConnection({ host: this.host, port: this.port, user: 'root' });
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => {});
    }
  }

  async crash(): Promise<void> {
    const pid = this.child?.pid;
    this.child = undefined;
    if (pid !== undefined) await stopPid(pid, 'SIGKILL', 5_000);
  }

  async stop(): Promise<void> {
    const pid = this.child?.pid;
    this.child = undefined;
    if (pid !== undefined) await stopPid(pid, 'SIGTERM', 10_000);
  }
}
