// A loopback proxy that passes everything through but holds chosen client-to-server packets for a
// while: a slow cancel request (PostgreSQL CancelRequest, MySQL KILL QUERY) without a slow server.

import { createConnection, createServer, type Server } from 'node:net';

export interface HoldProxy {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the proxy; `hold(chunk, first)` says which client chunks wait `holdMs` before they go on. */
export async function holdProxy(target: { host: string; port: number }, hold: (chunk: Buffer, first: boolean) => boolean, holdMs: number): Promise<HoldProxy> {
  const server: Server = createServer((client) => {
    const up = createConnection(target);
    let first = true;
    client.on('data', (chunk) => {
      if (hold(chunk, first)) setTimeout(() => up.write(chunk), holdMs);
      else up.write(chunk);
      first = false;
    });
    up.on('data', (c) => client.write(c));
    const close = () => { client.destroy(); up.destroy(); };
    client.on('close', close).on('error', close);
    up.on('close', close).on('error', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
