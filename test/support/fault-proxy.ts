// A loopback TCP proxy that puts faults between a client and one server: added latency, a black
// hole (bytes swallowed, sockets left open), refused connections, and connection resets.

import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type Fault = { kind: 'none' } | { kind: 'blackhole' } | { kind: 'refuse' } | { kind: 'reset' };

interface Pipe { client: Socket; server: Socket }

/**
 * @example const proxy = await FaultProxy.start({ host: '127.0.0.1', port: 5433 });
 * proxy.setDelay(20); // every server response arrives 20 ms later
 */
export class FaultProxy {
  private server: Server;
  private readonly pipes = new Set<Pipe>();
  private delayMs = 0;
  private fault: Fault = { kind: 'none' };
  private stopped = false;
  private failRate = 0;
  private random: () => number = Math.random;
  /** Connections accepted and connections reset at accept by failConnections(). */
  accepted = 0;
  failed = 0;

  private constructor(private readonly target: { host: string; port: number }, readonly port: number, server: Server) {
    this.server = server;
  }

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const server = createServer();
    await listen(server, 0);
    const proxy = new FaultProxy(target, (server.address() as { port: number }).port, server);
    proxy.attach(server);
    return proxy;
  }

  /** Where a client should connect. */
  get host(): string {
    return '127.0.0.1';
  }

  /** Open client connections through the proxy. */
  get connections(): number {
    return this.pipes.size;
  }

  /** Delays every chunk from the server to the client by `ms` (one added delay per round trip). */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  /** Swallows all bytes both ways on existing and new connections, which stay open. */
  blackhole(): void {
    this.fault = { kind: 'blackhole' };
  }

  /** Stops listening, so new connections get ECONNREFUSED; existing ones are reset. */
  async refuse(): Promise<void> {
    this.fault = { kind: 'refuse' };
    this.resetAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Resets every open connection and every new one (the client sees ECONNRESET). */
  reset(): void {
    this.fault = { kind: 'reset' };
    this.resetAll();
  }

  /** Resets this share (0..1) of new connections at accept; `random` decides which. */
  failConnections(rate: number, random: () => number = Math.random): void {
    this.failRate = rate;
    this.random = random;
  }

  /** Removes every fault and the delay; listens again after refuse(). */
  async heal(): Promise<void> {
    const wasRefusing = this.fault.kind === 'refuse';
    this.fault = { kind: 'none' };
    this.delayMs = 0;
    this.failRate = 0;
    if (wasRefusing && !this.stopped) {
      this.server = createServer();
      await listen(this.server, this.port);
      this.attach(this.server);
    }
  }

  /** Closes the listener and every connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.pipes) {
      p.client.destroy();
      p.server.destroy();
    }
    this.pipes.clear();
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private resetAll(): void {
    for (const p of this.pipes) {
      p.client.resetAndDestroy();
      p.server.destroy();
    }
    this.pipes.clear();
  }

  private attach(server: Server): void {
    server.on('connection', (client) => this.accept(client));
  }

  private accept(client: Socket): void {
    this.accepted++;
    if (this.fault.kind === 'reset' || this.stopped || (this.failRate > 0 && this.random() < this.failRate)) {
      if (this.fault.kind !== 'reset') this.failed++;
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const upstream = createConnection(this.target);
    upstream.setNoDelay(true);
    const pipe: Pipe = { client, server: upstream };
    this.pipes.add(pipe);
    const close = () => {
      if (!this.pipes.delete(pipe)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.on('data', (chunk) => {
      if (this.fault.kind === 'blackhole') return;
      upstream.write(chunk);
    });
    // Server -> client: delayed, but always in order, even when the delay changes mid-stream.
    let lastDue = 0;
    const queue: { due: number; chunk: Buffer }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      timer = undefined;
      const t = Date.now();
      while (queue.length > 0 && queue[0]!.due <= t) {
        const { chunk } = queue.shift()!;
        if (this.fault.kind !== 'blackhole' && !client.destroyed) client.write(chunk);
      }
      if (queue.length > 0) timer = setTimeout(flush, queue[0]!.due - t);
    };
    upstream.on('data', (chunk) => {
      if (this.fault.kind === 'blackhole') return;
      if (this.delayMs <= 0 && queue.length === 0) {
        client.write(chunk);
        return;
      }
      const due = Math.max(Date.now() + this.delayMs, lastDue);
      lastDue = due;
      queue.push({ due, chunk });
      if (timer === undefined) timer = setTimeout(flush, Math.max(0, due - Date.now()));
    });
    upstream.on('close', () => { if (timer) clearTimeout(timer); });
  }
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
