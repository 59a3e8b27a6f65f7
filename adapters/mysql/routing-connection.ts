// A virtual mysql2 connection for ORMs that send every statement through getConnection() (Kysely,
// Knex, TypeORM, Sequelize): statements are routed like pool.query until a transaction or session
// state needs one connection, which is then leased on the primary until the transaction ends.

import { EventEmitter } from 'node:events';
import type { FieldPacket, PoolConnection } from 'mysql2';
import type { Pool } from './pool.js';
import { Pinning, sessionEffect } from '../../src/routing.js';
import mysqlPromise from 'mysql2/promise';

const { PromisePoolConnection } = mysqlPromise as unknown as { PromisePoolConnection: new (conn: unknown, P?: PromiseConstructorLike) => unknown };

type Callback = (err: Error | null, rows?: unknown, fields?: FieldPacket[]) => void;


export class RoutingConnection extends EventEmitter {
  private pinned: PoolConnection | undefined;
  private readonly pinning = new Pinning();
  private chain: Promise<unknown> = Promise.resolve();
  private released = false;
  /** Sequelize checks these on its raw connections. */
  _closing = false;
  readonly stream = { destroyed: false };

  constructor(private readonly pool: Pool) {
    super();
  }

  get threadId(): number | null {
    return this.pinned?.threadId ?? null;
  }

  get config(): unknown {
    return (this.pool.config as unknown as { connectionConfig: unknown }).connectionConfig;
  }

  /** Returns this connection (an EventEmitter) where mysql2 returns the Query: callers chain `.setMaxListeners()` on it. */
  query(sql: unknown, values?: unknown, callback?: Callback): this {
    this.dispatch('query', sql, values, callback);
    return this;
  }

  execute(sql: unknown, values?: unknown, callback?: Callback): this {
    this.dispatch('execute', sql, values, callback);
    return this;
  }

  /** mysql2's promise wrapper around this connection (TypeORM uses it). */
  promise(promiseImpl?: PromiseConstructorLike): unknown {
    return new PromisePoolConnection(this, promiseImpl);
  }

  beginTransaction(callback: (err: Error | null) => void): void {
    this.query('START TRANSACTION', undefined, (err) => callback(err));
  }

  commit(callback: (err: Error | null) => void): void {
    this.query('COMMIT', undefined, (err) => callback(err));
  }

  rollback(callback: (err: Error | null) => void): void {
    this.query('ROLLBACK', undefined, (err) => callback(err));
  }

  private dispatch(method: 'query' | 'execute', sql: unknown, values: unknown, callback: Callback | undefined): void {
    if (typeof values === 'function') {
      callback = values as Callback;
      values = undefined;
    }
    const cb: Callback = callback ?? ((err) => { if (err) this.emit('error', err); });
    if (this.released) {
      setImmediate(() => cb(new Error('Connection was released to the pool and cannot be used')));
      return;
    }
    const run = () => new Promise<void>((resolve) => this.run(method, sql, values, (err, rows, fields) => {
      resolve();
      cb(err, rows, fields);
    }));
    this.chain = this.chain.then(run, run);
  }

  private run(method: 'query' | 'execute', sql: unknown, values: unknown, cb: Callback): void {
    const effect = sessionEffect(typeof sql === 'string' ? sql : String((sql as { sql?: unknown } | null)?.sql ?? ''), 'mysql');
    const go = () => {
      if (this.pinned) this.pinning.pinned(effect);
      if (!this.pinned) {
        if (values === undefined) (this.pool[method] as (s: unknown, c: Callback) => void)(sql, cb);
        else (this.pool[method] as (s: unknown, v: unknown, c: Callback) => void)(sql, values, cb);
        return;
      }
      const conn = this.pinned;
      const ends = this.pinning.releasesAfter(effect);
      const done: Callback = (err, rows, fields) => {
        if (ends) this.unpin();
        cb(err, rows, fields);
      };
      if (values === undefined) (conn[method] as (s: unknown, c: Callback) => void)(sql, done);
      else (conn[method] as (s: unknown, v: unknown, c: Callback) => void)(sql, values, done);
    };
    if (this.pinning.needsPin(effect)) {
      this.pool.getConnection({ role: 'primary' }, (err, conn) => {
        if (err || !conn) return cb(err ?? new Error('no connection'));
        this.pinned = conn;
        go();
      });
      return;
    }
    go();
  }

  private unpin(destroy = false): void {
    const conn = this.pinned;
    this.pinned = undefined;
    this.pinning.reason = undefined;
    if (conn) (destroy ? conn.destroy() : conn.release());
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.unpin();
  }

  destroy(): void {
    if (this.released) return;
    this.released = true;
    this.stream.destroyed = true;
    this.unpin(true);
  }

  end(callback?: (err?: Error | null) => void): void {
    this._closing = true;
    this.release();
    if (callback) setImmediate(() => callback(null));
  }

  escape(value: unknown): string {
    return this.pool.escape(value);
  }

  escapeId(value: string | string[]): string {
    return this.pool.escapeId(value);
  }

  format(sql: string, values?: unknown): string {
    return this.pool.format(sql, values);
  }
}
