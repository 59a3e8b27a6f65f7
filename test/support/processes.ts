// Running server binaries for the test harness: as the service's OS user when we are root, with
// every started server's PID tracked and killed on process exit, even when a test fails or crashes.

import { spawn, execFileSync, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const live = new Set<number>();
const dirs = new Set<string>();
let hooked = false;
let pidFile: string | undefined;

/**
 * Even a process killed outright (OOM, SIGKILL) runs no exit hook: a detached watchdog shell waits
 * for this process to go, then SIGKILLs whatever PIDs are still listed in its file and exits.
 */
function startWatchdog(): void {
  pidFile = join(tmpdir(), `p2c-watchdog-${process.pid}.pids`);
  writeFileSync(pidFile, '');
  // Lines are PIDs to kill, or temp dirs (absolute paths) to remove once the servers are gone.
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; `
    + `for p in $(grep -v '^/' '${pidFile}' 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; `
    // Servers still starting (not yet tracked) are found by the PID files in the tracked dirs. The pass repeats for
    // a few seconds: a server launched by a short-lived helper of a killed manager (Patroni starts postgres that
    // way) writes its PID file only after the first pass.
    + `for i in 1 2 3 4 5; do for d in $(grep '^/' '${pidFile}' 2>/dev/null); do for f in $(find "$d" -maxdepth 3 -name '*.pid' 2>/dev/null); do p=$(head -n 1 "$f"); `
    + `grep -qaE 'postgres|mariadbd|mysqld' "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p" 2>/dev/null; done; done; sleep 1; done; `
    + `for d in $(grep '^/' '${pidFile}' 2>/dev/null); do rm -rf "$d"; done; rm -f '${pidFile}'`;
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.unref();
}

function syncPidFile(): void {
  if (pidFile) writeFileSync(pidFile, [...live, ...dirs].join('\n'));
}

/** Remembers a temp dir for the watchdog to remove if this process dies before cleaning up. */
export function trackDir(dir: string, tracked = true): void {
  if (tracked) dirs.add(dir);
  else dirs.delete(dir);
  if (!pidFile) startWatchdog();
  syncPidFile();
}

/** Remembers a server PID so it is SIGKILLed if this process exits before stopping it. */
export function track(pid: number): void {
  live.add(pid);
  if (!pidFile) startWatchdog();
  syncPidFile();
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const p of [...live, ...startingServers()]) {
      try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ }
    }
    live.clear();
    syncPidFile();
  };
  process.once('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { killAll(); process.exit(130); });
  }
}

/** PIDs in the PID files (postmaster.pid, mysqld's) under the tracked dirs: servers still starting, not yet tracked. */
function startingServers(): number[] {
  const pids: number[] = [];
  const scan = (dir: string, depth: number) => {
    let entries: import('node:fs').Dirent[];
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory() && depth > 0) scan(path, depth - 1);
      else if (e.isFile() && e.name.endsWith('.pid')) {
        try {
          const pid = Number(readFileSync(path, 'utf8').split('\n')[0]);
          // A crashed server leaves its PID file behind: only a live server process under that PID is killed.
          if (Number.isInteger(pid) && pid > 1 && pid !== process.pid && /postgres|mariadbd|mysqld/.test(commandOf(pid))) pids.push(pid);
        } catch { /* gone meanwhile */ }
      }
    }
  };
  for (const d of dirs) scan(d, 3);
  return pids;
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

export function untrack(pid: number): void {
  live.delete(pid);
  syncPidFile();
}

/** uid/gid of an OS user when running as root, so server binaries that refuse root can run. */
export function runAs(user: string): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  return { uid, gid };
}

/** Runs a command to completion; rejects with its output on a non-zero exit. */
export function run(cmd: string, args: readonly string[], options: SpawnOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends `signal`, then waits for the process to go; SIGKILL after `graceMs`. */
export async function stopPid(pid: number, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  try { process.kill(pid, signal); } catch { untrack(pid); return; }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await sleep(20);
  }
  untrack(pid);
}

/** The newest installed PostgreSQL bin directory, or undefined. */
export function postgresBinDir(): string | undefined {
  if (process.env['P2C_PG_BIN'] && existsSync(process.env['P2C_PG_BIN'])) return process.env['P2C_PG_BIN'];
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => existsSync(`${root}/${v}/bin/initdb`)).sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return `${root}/${versions[0]}/bin`;
  }
  try {
    return execFileSync('pg_config', ['--bindir']).toString().trim();
  } catch {
    return undefined;
  }
}

/** First line of a postmaster.pid file: the server's PID. */
export function readPidFile(file: string): number {
  return Number(readFileSync(file, 'utf8').split('\n')[0]);
}

/** True when Testcontainers finds a container runtime (it fails within milliseconds when none runs). */
export async function containerRuntimeAvailable(): Promise<boolean> {
  try {
    const tc = await import('testcontainers');
    await tc.getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}
