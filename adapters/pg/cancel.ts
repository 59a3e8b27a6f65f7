// PostgreSQL's cancel request (protocol "CancelRequest"): a new connection to the server carrying the
// backend's process id and secret key; the server signals that backend and closes the connection.
// pg has Client#cancel, but it needs pg's internal active query and reports no completion; hedged
// reads must know when the server took the request before the connection is reused.

import { connect } from 'node:net';
import type pg from 'pg';

/** The CancelRequest code: 1234 in the high 16 bits, 5678 in the low 16. */
const CANCEL_REQUEST_CODE = 80877102;

interface CancelKey { processID?: unknown; secretKey?: unknown; host?: unknown; port?: unknown }

/**
 * Sends a cancel request for the statement running on `client`; resolves when the server closed
 * the request's connection (it has signalled the backend), rejects on error or after `timeoutMillis`.
 * A cancel that reaches an idle backend is ignored by the server.
 */
export function cancelStatement(client: pg.PoolClient, timeoutMillis: number): Promise<void> {
  const key = client as unknown as CancelKey;
  if (typeof key.processID !== 'number' || typeof key.secretKey !== 'number') return Promise.reject(new Error('no cancel key for this connection'));
  const host = typeof key.host === 'string' && key.host !== '' ? key.host : 'localhost';
  const port = typeof key.port === 'number' ? key.port : Number(key.port ?? 5432);
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  packet.writeInt32BE(key.processID, 8);
  packet.writeInt32BE(key.secretKey, 12);
  return new Promise<void>((resolve, reject) => {
    // A host starting with '/' is a Unix socket directory, as in libpq and pg.
    const socket = host.startsWith('/') ? connect(`${host}/.s.PGSQL.${port}`) : connect(port, host);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`cancel request to ${host}:${port} not taken within ${timeoutMillis} ms`));
    }, timeoutMillis);
    timer.unref();
    socket.once('connect', () => socket.write(packet));
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve();
    });
  });
}
