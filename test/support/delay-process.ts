// Load conditions for the tail-latency tests and benchmarks, each outside the measured event loop
// where the real world puts it: a delay proxy in a process of its own (so its timers do not share
// the client's loop), a CPU burner process, and synchronous work inside the client's loop.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { track, untrack } from './processes.js';

/**
 * The child's whole program: a TCP proxy that delays every server-to-client chunk by `delay` ms
 * (in order), and during a stall (`stall` ms every `every` ms) holds them until the stall ends.
 * Commands arrive as JSON lines on stdin; the listening port is printed on stdout.
 */
const CHILD = String.raw`
const net = require('node:net');
const [host, port] = [process.argv[1], Number(process.argv[2])];
let delay = 0, stallMs = 0, stallEvery = 0, stallFrom = Date.now();
const socks = new Set();
const releaseAt = (t) => {
  if (stallMs <= 0) return t;
  const phase = (t - stallFrom) % stallEvery;
  return phase < stallMs ? t + (stallMs - phase) : t;
};
const server = net.createServer((client) => {
  client.setNoDelay(true);
  const up = net.createConnection({ host, port });
  up.setNoDelay(true);
  socks.add(client); socks.add(up);
  const close = () => { client.destroy(); up.destroy(); socks.delete(client); socks.delete(up); };
  client.on('error', close).on('close', close);
  up.on('error', close).on('close', close);
  client.on('data', (c) => up.write(c));
  let last = 0; const q = []; let timer;
  const flush = () => {
    timer = undefined;
    const t = Date.now();
    while (q.length && q[0].due <= t) { const { chunk } = q.shift(); if (!client.destroyed) client.write(chunk); }
    if (q.length) timer = setTimeout(flush, q[0].due - t);
  };
  up.on('data', (chunk) => {
    const now = Date.now();
    const due = Math.max(releaseAt(now + delay), last);
    if (due <= now && q.length === 0) { client.write(chunk); return; }
    last = due; q.push({ due, chunk });
    if (timer === undefined) timer = setTimeout(flush, Math.max(0, due - now));
  });
  up.on('close', () => { if (timer) clearTimeout(timer); });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\n'));
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const cmd = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1);
    if ('delay' in cmd) delay = cmd.delay;
    if ('stall' in cmd) { stallMs = cmd.stall; stallEvery = cmd.every; stallFrom = Date.now(); }
  }
});
process.stdin.on('end', () => { for (const s of socks) s.destroy(); server.close(); process.exit(0); });
`;

/** A delay proxy in its own process. Stop it with stop(): it is killed by PID. */
export class DelayProxyProcess {
  private constructor(private readonly child: ChildProcess, readonly port: number) {}

  static async start(target: { host: string; port: number }): Promise<DelayProxyProcess> {
    const child = spawn(process.execPath, ['-e', CHILD, target.host, String(target.port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    track(child.pid!);
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('delay proxy did not start within 5 s')), 5000);
      child.once('exit', (code) => reject(new Error(`delay proxy exited with ${code}`)));
      child.stdout!.once('data', (d: Buffer) => {
        clearTimeout(timer);
        resolve(Number(String(d).trim()));
      });
    }).catch(async (err: unknown) => {
      child.kill('SIGKILL');
      untrack(child.pid!);
      throw err;
    });
    return new DelayProxyProcess(child, port);
  }

  get host(): string {
    return '127.0.0.1';
  }

  /** Every server-to-client chunk arrives `ms` later. */
  setDelay(ms: number): void {
    this.child.stdin!.write(`${JSON.stringify({ delay: ms })}\n`);
  }

  /** Holds all server-to-client data for `stallMs` every `everyMs` (0 turns it off). */
  setStall(stallMs: number, everyMs: number): void {
    this.child.stdin!.write(`${JSON.stringify({ stall: stallMs, every: everyMs })}\n`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
    untrack(this.child.pid!);
  }
}

/** A process burning one core until stopped (by PID). */
export async function startBurner(): Promise<{ stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
  track(child.pid!);
  return {
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      untrack(child.pid!);
    },
  };
}

/** Keeps this process's event loop ~`busyMs / everyMs` busy with synchronous work until stopped. */
export function busyLoop(busyMs = 4, everyMs = 10): { stop(): void } {
  const timer = setInterval(() => {
    const end = performance.now() + busyMs;
    while (performance.now() < end) { /* synchronous work */ }
  }, everyMs);
  return { stop: () => clearInterval(timer) };
}
