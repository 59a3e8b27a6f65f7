// A virtual pg client for ORMs that send every statement through pool.connect() (Kysely, TypeORM,
// Knex): each statement is routed like pool.query until a transaction or session state needs one
// connection, which is then leased on the primary and kept until the transaction ends.

import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Pool } from './pool.js';
import { Pinning, sessionEffect } from '../../src/routing.js';

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
      // A cursor or stream runs on the pinned connection, or is routed by the pool.
      return this.pinned ? this.pinned.query(config as pg.Submittable) : this.pool.query(config as pg.Submittable);
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
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  private async run(config: unknown, values: unknown): Promise<pg.QueryResult> {
    const text = typeof config === 'string' ? config : (config as { text?: unknown } | null)?.text;
    const effect = sessionEffect(typeof text === 'string' ? text : '', 'postgres');
    if (this.pinning.needsPin(effect)) {
      this.pinned = await this.pool.connect({ role: 'primary' });
      this.pinned.on('notice', (msg) => this.emit('notice', msg));
      this.pinned.on('notification', (msg) => this.emit('notification', msg));
    }
    if (this.pinned) this.pinning.pinned(effect);
    if (!this.pinned) return this.pool.query(config as pg.QueryConfig, values as unknown[]);
    const client = this.pinned;
    const ends = this.pinning.releasesAfter(effect);
    try {
      return await (client.query as (c: unknown, v: unknown) => Promise<pg.QueryResult>)(config, values);
    } finally {
      // A failed COMMIT/ROLLBACK still ends the transaction on the server.
      if (ends) this.unpin();
    }
  }

  private unpin(err?: Error): void {
    const client = this.pinned;
    this.pinned = undefined;
    this.pinning.reason = undefined;
    client?.removeAllListeners('notice');
    client?.removeAllListeners('notification');
    client?.release(err);
  }

  /** Gives the pinned connection (if any) back; releasing twice throws, as in pg. */
  release(err?: Error | boolean): void {
    if (this.released) throw new Error('Release called on client which has already been released to the pool.');
    this.released = true;
    this.unpin(err instanceof Error ? err : undefined);
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
