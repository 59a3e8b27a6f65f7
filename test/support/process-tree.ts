// Process and port helpers for harnesses whose servers start servers (Patroni starts PostgreSQL): kill a process
// with everything below it, find what runs from a temp dir, find one port free on several loopback addresses.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { untrack } from './processes.js';

/** True when no process runs under `pid` (a zombie, dead but not yet reaped by init, counts as gone). */
export function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Resolves true once every PID is gone, false after `timeoutMs`. */
export async function waitGone(pids: readonly number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some((p) => !gone(p))) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** All descendants of `roots` (one `ps` call). */
export function descendants(roots: readonly number[]): number[] {
  let table: string;
  try { table = execFileSync('ps', ['-e', '-o', 'pid=,ppid=']).toString(); } catch { return []; }
  const children = new Map<number, number[]>();
  for (const line of table.split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    if (pid && ppid) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const c of children.get(p) ?? []) { out.push(c); walk(c); } };
  roots.forEach(walk);
  return out;
}

/** SIGKILLs processes and all their descendants, frozen first so none forks or restarts another meanwhile; untracks the roots. */
export async function killTrees(roots: readonly number[]): Promise<void> {
  const live = roots.filter((p) => !gone(p));
  for (const p of live) { try { process.kill(p, 'SIGSTOP'); } catch { /* gone */ } }
  const all = [...live, ...descendants(live)];
  for (const p of all) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  if (!(await waitGone(all, 10_000))) throw new Error(`processes still alive after SIGKILL: ${all.filter((p) => !gone(p)).join(', ')}`);
  for (const p of roots) untrack(p);
}

/** PIDs of live processes whose command line contains `text` (a temp dir: servers name their data dir). */
export function processesWith(text: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    if (pid === process.pid) return false;
    try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text) && !gone(pid); } catch { return false; }
  });
}

/** A port free on every one of `hosts` (asked from the kernel on the first, then checked on the others). */
export async function sharedFreePort(hosts: readonly string[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const servers: Server[] = [];
    try {
      const first = await listen(hosts[0]!, 0);
      servers.push(first);
      const port = (first.address() as { port: number }).port;
      let ok = true;
      for (const h of hosts.slice(1)) {
        try { servers.push(await listen(h, port)); } catch { ok = false; break; }
      }
      if (ok) return port;
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  }
  throw new Error(`no port free on all of ${hosts.join(', ')}`);
}

export async function portFree(host: string, port: number): Promise<boolean> {
  try {
    const s = await listen(host, port);
    await new Promise((r) => s.close(r));
    return true;
  } catch {
    return false;
  }
}

function listen(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, host, () => resolve(srv));
  });
}

/** The last `lines` lines of a log file, for error messages; lines matching `skip` (e.g. traceback frames) left out. */
export function tail(file: string, lines: number, skip?: RegExp): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').filter((l) => !skip?.test(l)).slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
