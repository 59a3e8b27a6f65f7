// A virtual pg client for ORMs that send every statement through pool.connect() (Kysely, TypeORM,
// Knex): each statement is routed like pool.query until a transaction or session state needs one
// connection, which is then leased on the primary and kept until the transaction ends.

import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import pg from 'pg';
import type { Pool } from './pool.js';
import { Pinning, sessionEffect } from '../../src/routing.js';
import { inTransaction } from './driver.js';
import { pinnedPrimaryLost } from '../../src/executor.js';

type Callback = (err: Error | null, res?: pg.QueryResult) => void;


/**
 * What `pool.connect({ role: 'auto' })` returns. It has the pg client surface ORMs use (`query` in
 * every form, `release`, events, `escapeIdentifier`, `escapeLiteral`, `processID` while pinned);
 * statements run one at a time, in order, as on a real connection.
 */
export class RoutingClient extends EventEmitter {
  private pinned: pg.PoolClient | undefined;
  private readonly pinning = new Pinning();
  private chain: Promise<unknown> = Promise.resolve();
  private released = false;

  constructor(private readonly pool: Pool) {
    super();
  }

  /** The backend PID while a connection is pinned (Kysely uses it to cancel). */
  get processID(): number | undefined {
    return (this.pinned as unknown as { processID?: number } | undefined)?.processID;
  }

  /** True while statements are pinned to one primary connection. */
  get isPinned(): boolean {
    return this.pinned !== undefined;
  }

  /** Routing clients are connected already; accepted for ORMs that call it. */
  connect(callback?: (err?: Error) => void): Promise<void> | void {
    if (callback) return void setImmediate(callback);
    return Promise.resolve();
  }

  query(config: unknown, values?: unknown, callback?: unknown): unknown {
    if (typeof values === 'function') {
      callback = values;
      values = undefined;
    }
    if (typeof config === 'object' && config !== null && typeof (config as { submit?: unknown }).submit === 'function') {
      // A cursor or stream takes its turn like any statement (behind a queued BEGIN it belongs to
      // the transaction): it runs on the pinned connection, or is routed by the pool, and the next
      // statement waits until it ends, as on a pg client.
      const submittable = config as pg.Submittable & Partial<EventEmitter>;
      this.enqueue(() => new Promise<void>((resolve) => {
        submittable.once?.('end', () => resolve());
        submittable.once?.('close', () => resolve());
        submittable.once?.('error', () => resolve());
        if (this.pinned) this.pinned.query(submittable);
        else this.pool.query(submittable);
      })).catch((err: Error) => {
        // Released before its turn.
        failSubmittable(submittable, err);
      });
      return submittable;
    }
    const result = this.enqueue(() => this.run(config, values));
    if (typeof callback === 'function') {
      result.then((res) => (callback as Callback)(null, res), (err: Error) => (callback as Callback)(err));
      return undefined;
    }
    return result;
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    if (this.released) return Promise.reject(new Error('Client was released to the pool and cannot be used'));
    // A statement queued before release() but not started by then does not run: it would run on a
    // connection that is no longer this client's (or open a transaction nobody ends).
    const guarded = async (): Promise<T> => {
      try {
        if (this.released) throw new Error('Client was released to the pool before this query ran');
        return await fn();
      } finally {
        this.pending--; // before the caller's await resumes, so a release() right after sees it idle
      }
    };
    this.pending++;
    const next = this.chain.then(guarded, guarded);
    this.chain = next.catch(() => {});
    return next;
  }

  /** Statements queued or running. */
  private pending = 0;

  private async run(config: unknown, values: unknown): Promise<pg.QueryResult> {
    const text = typeof config === 'string' ? config : (config as { text?: unknown } | null)?.text;
    const effect = sessionEffect(typeof text === 'string' ? text : '', 'postgres');
    if (this.pinning.needsPin(effect)) {
      this.pinned = await this.pool.connect({ role: this.pool.pinRole });
      this.pinned.on('notice', (msg) => this.emit('notice', msg));
      this.pinned.on('notification', (msg) => this.emit('notification', msg));
      // A connection error of the pinned connection reaches this client's listeners, as on a pg
      // client; without one, the pool's own lease listener keeps it from crashing the process.
      this.pinned.on('error', this.forwardError);
    }
    if (this.pinned) this.pinning.pinned(effect);
    if (!this.pinned) return this.pool.query(config as pg.QueryConfig, values as unknown[]);
    const client = this.pinned;
    const lost = pinnedPrimaryLost(client);
    if (lost !== undefined) {
      // Demoted or out since the pin began: never run on a former primary; the pin is dropped.
      this.unpin(lost);
      throw lost;
    }
    const ends = this.pinning.releasesAfter(effect);
    try {
      return await (client.query as (c: unknown, v: unknown) => Promise<pg.QueryResult>)(config, values);
    } finally {
      // A failed COMMIT/ROLLBACK still ends the transaction on the server; a text that opened and
      // closed one (`BEGIN; ...; COMMIT`) is done with it when the server says so.
      if (ends || (this.pinning.reason === 'transaction' && !inTransaction(client))) this.unpin();
    }
  }

  private readonly forwardError = (err: Error): void => {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  };

  /** What `console.log(client)` shows: never the pool's or the connection's options. */
  [inspect.custom](): string {
    return `RoutingClient ${inspect({ pinned: this.pinning.reason ?? false, released: this.released })}`;
  }

  private unpin(err?: Error): void {
    const client = this.pinned;
    this.pinned = undefined;
    this.pinning.reason = undefined;
    client?.removeAllListeners('notice');
    client?.removeAllListeners('notification');
    client?.removeListener('error', this.forwardError);
    client?.release(err);
  }

  /** Gives the pinned connection (if any) back; releasing twice throws, as in pg. */
  release(err?: Error | boolean): void {
    if (this.released) throw new Error('Release called on client which has already been released to the pool.');
    this.released = true;
    // The pinned connection goes back at once, as in pg, unless a statement is still running on
    // it: then once that completes.
    const unpin = () => this.unpin(err instanceof Error ? err : undefined);
    if (this.pending === 0) unpin();
    else this.chain = this.chain.then(unpin, unpin);
  }

  /** For ORMs that end raw clients (Knex, Sequelize): the same as release. */
  end(callback?: (err?: Error) => void): Promise<void> | void {
    if (!this.released) this.release();
    if (callback) return void setImmediate(callback);
    return Promise.resolve();
  }

  escapeIdentifier(str: string): string {
    return pg.Client.prototype.escapeIdentifier.call(this, str);
  }

  escapeLiteral(str: string): string {
    return pg.Client.prototype.escapeLiteral.call(this, str);
  }
}

/**
 * Reports a failure that came before a Submittable (cursor, stream, pg.Query) was submitted, the
 * way it reports its own errors (`handleError`: a pending read() rejects, a callback is called),
 * never as an 'error' event nobody listens to, which would crash the process.
 */
export function failSubmittable(submittable: unknown, err: Error): void {
  const target = submittable as { handleError?: (e: Error) => void; listenerCount?: (e: string) => number; emit?: (e: string, err: Error) => void; callback?: unknown };
  const listened = (target.listenerCount?.('error') ?? 0) > 0;
  // pg.Query's handleError emits 'error' when it has no callback: only then is it safe.
  if (typeof target.handleError === 'function' && (listened || typeof target.callback === 'function' || !(typeof target.emit === 'function' && isPgQuery(target)))) target.handleError(err);
  else if (listened) target.emit?.('error', err);
}

function isPgQuery(value: object): boolean {
  return typeof (value as { handleRowDescription?: unknown }).handleRowDescription === 'function' && typeof (value as { handleDataRow?: unknown }).handleDataRow === 'function' && typeof (value as { read?: unknown }).read !== 'function';
}
