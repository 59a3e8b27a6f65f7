// A bounded read load for fault tests: N concurrent readers for a fixed time, every result kept
// with its time and serving port so shares can be cut by time window.

import type { Pool } from '../../adapters/pg/index.js';

/** A read through a pg pool that returns the serving server's port. */
export const pgRead = (pool: Pool) => async (): Promise<number> => (await pool.query('SELECT inet_server_port() AS port')).rows[0].port;

export interface Sample { readonly at: number; readonly port?: number; readonly error?: Error; readonly ms: number }

export interface LoadResult {
  readonly samples: readonly Sample[];
  readonly failed: readonly Sample[];
  /** Share of successful reads served by `port` between `from` and `to` (ms since start). */
  share(port: number, from?: number, to?: number): number;
}

export async function readLoad(target: Pool | (() => Promise<number>), options: { readers: number; durationMs: number }): Promise<LoadResult> {
  const read = typeof target === 'function' ? target : pgRead(target);
  const samples: Sample[] = [];
  const t0 = Date.now();
  const deadline = t0 + options.durationMs;
  await Promise.all(Array.from({ length: options.readers }, async () => {
    while (Date.now() < deadline) {
      const start = Date.now();
      try {
        const port = await read();
        samples.push({ at: start - t0, port, ms: Date.now() - start });
      } catch (err) {
        samples.push({ at: start - t0, error: err as Error, ms: Date.now() - start });
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }));
  return {
    samples,
    failed: samples.filter((s) => s.error),
    share(port, from = 0, to = Infinity) {
      const window = samples.filter((s) => !s.error && s.at >= from && s.at < to);
      return window.length === 0 ? 0 : window.filter((s) => s.port === port).length / window.length;
    },
  };
}

/** Polls `fn` every 5 ms until it returns true; resolves with the time it took, or rejects after `timeoutMs`. */
export async function waitFor(fn: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<number> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - t0;
}

/**
 * Retries `write` (which returns the serving port) until it succeeds, for at most `limitMs`.
 * Returns ms from start to the first success (-1 if none), the error codes seen meanwhile (p2cCode, else code), and
 * the slowest failing attempt.
 */
export async function untilWriteSucceeds(write: () => Promise<number>, limitMs = 15_000): Promise<{ after: number; port: number; codes: Set<string>; slowestFailure: number }> {
  const t0 = Date.now();
  const codes = new Set<string>();
  let slowestFailure = 0;
  while (Date.now() - t0 < limitMs) {
    const t = Date.now();
    try {
      const port = await write();
      return { after: Date.now() - t0, port, codes, slowestFailure };
    } catch (err) {
      codes.add((err as { p2cCode?: string; code?: string }).p2cCode ?? (err as { code?: string }).code ?? 'no code'); // p2c's code for host failures (the driver's is kept in `code`)
      slowestFailure = Math.max(slowestFailure, Date.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return { after: -1, port: 0, codes, slowestFailure };
}
