// Where the demo's servers come from: P2C_DEMO_* URLs, else a local primary + replicas from the
// installed PostgreSQL, else three embedded PGlite databases served on loopback.
// The caller handles SIGINT/SIGTERM: it stops the hosts with stop(), also after a Ctrl-C during
// startup (see localCluster).

import { existsSync } from 'node:fs';
import { startPgCluster, type PgCluster } from '../test/support/pg-cluster.js';
import { postgresBinDir } from '../test/support/processes.js';

export interface DemoHosts {
  readonly kind: 'env' | 'local' | 'pglite';
  readonly primary: string;
  readonly replicas: readonly string[];
  /** Really crash replica i (local servers); undefined: the demo cuts it off at the proxy instead. */
  crash?(i: number): Promise<void>;
  restart?(i: number): Promise<void>;
  stop(): Promise<void>;
}

export async function demoHosts(): Promise<DemoHosts> {
  const primary = process.env['P2C_DEMO_PRIMARY'];
  if (primary) {
    const replicas = (process.env['P2C_DEMO_REPLICAS'] ?? '').split(',').filter(Boolean);
    if (replicas.length < 2) throw new Error('P2C_DEMO_REPLICAS needs two comma-separated replica URLs');
    return { kind: 'env', primary, replicas, stop: async () => {} };
  }
  const bin = postgresBinDir();
  if (bin && existsSync(`${bin}/initdb`) && process.env['P2C_DEMO_PGLITE'] !== '1') {
    const cluster = await localCluster();
    return {
      kind: 'local', primary: cluster.primary.url, replicas: cluster.replicas.map((r) => r.url),
      crash: (i) => cluster.replicas[i]!.crash(),
      restart: (i) => cluster.replicas[i]!.start(),
      stop: () => cluster.stop(),
    };
  }
  return pgliteHosts();
}

/**
 * A primary and two streaming replicas from the installed binaries, each server's PID tracked by
 * the harness (SIGKILLed if this process exits before stop()).
 *
 * Two things of the test harness are kept out of the demo's way here. It would use Testcontainers
 * when a container runtime answers (P2C_HARNESS=local forces the installed binaries: what the demo
 * says it runs, servers it can restart, stopped by PID). And on its first tracked server it hooks
 * SIGINT/SIGTERM to SIGKILL the servers it tracks and exit at once: a replica whose `pg_ctl start`
 * is still running then is not tracked yet and would be left running. Those hooks are removed as
 * they are added; the caller's own handler waits for startup and stops every server.
 */
async function localCluster(): Promise<PgCluster> {
  const dropSignalHooks = (event: string | symbol, listener: (...args: unknown[]) => void) => {
    // 'newListener' comes before the listener is added; a signal is only handled on a later turn
    // of the event loop, after this microtask.
    if (event === 'SIGINT' || event === 'SIGTERM') queueMicrotask(() => process.removeListener(event, listener));
  };
  const forced = process.env['P2C_HARNESS'];
  process.env['P2C_HARNESS'] = 'local';
  process.on('newListener', dropSignalHooks);
  try {
    const started = startPgCluster({ replicas: 2 });
    // startPgCluster reads P2C_HARNESS synchronously: restore it at once.
    if (forced === undefined) delete process.env['P2C_HARNESS'];
    else process.env['P2C_HARNESS'] = forced;
    return await started;
  } finally {
    process.off('newListener', dropSignalHooks);
  }
}

/** Three independent PGlite instances (no replication between them), each on a loopback port. */
async function pgliteHosts(): Promise<DemoHosts> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const started = await Promise.all([0, 1, 2].map(async () => {
    const db = await PGlite.create();
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 32 });
    await server.start();
    const port = Number(String(server.getServerConn()).split(':').pop());
    return { db, server, url: `postgres://postgres@127.0.0.1:${port}/postgres` };
  }));
  return {
    kind: 'pglite', primary: started[0]!.url, replicas: started.slice(1).map((s) => s.url),
    stop: async () => {
      for (const s of started) {
        await s.server.stop().catch(() => {});
        await s.db.close().catch(() => {});
      }
    },
  };
}
