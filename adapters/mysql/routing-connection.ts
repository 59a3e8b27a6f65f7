// A virtual mysql2 connection for ORMs that send every statement through getConnection() (Kysely,
// Knex, TypeORM, Sequelize): statements are routed like pool.query until a transaction or session
// state needs one connection, which is then leased on the primary until the transaction ends.

import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import type { FieldPacket, PoolConnection, Query } from 'mysql2';
import type { Command, Pool } from './pool.js';
import { Pinning, sessionEffect } from '../../src/routing.js';
import { hasRawValue, lastStatus, leavesTransaction } from './transactions.js';
import { pinnedPrimaryLost } from '../../src/executor.js';
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

  /**
   * With a callback, returns this connection (an EventEmitter; callers chain `.setMaxListeners()`
   * on it). Without one, returns mysql2's Query emitter, as mysql2 does (`.stream()`, used by
   * Kysely's and Knex's streaming), run in turn like any statement of this connection.
   */
  query(sql: unknown, values?: unknown, callback?: Callback): this | Query {
    if (callback === undefined && typeof values !== 'function') return this.streamQuery(sql, values);
    this.dispatch('query', sql, values, callback);
    return this;
  }

  private streamQuery(sql: unknown, values: unknown): Query {
    const command = this.pool.command(sql as string, values);
    const emitter = command.query as unknown as EventEmitter;
    let started = false;
    const fail = (err: Error) => {
      // Failures before the command ran (released, no connection): reported on the command, never unlistened.
      if (!started && emitter.listenerCount('error') > 0) emitter.emit('error', err);
    };
    this.inTurn(fail, (finish) => this.run('query', sql, values, (err) => {
      finish();
      if (err) fail(err);
    }, { command, started: () => { started = true; } }));
    return command.query;
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
    this.inTurn((err) => cb(err), (finish) => this.run(method, sql, values, (err, rows, fields) => {
      finish();
      cb(err, rows, fields);
    }));
  }

  /** Runs `start` in this connection's turn (statements run one after another); `fail` if it was released before. */
  private inTurn(fail: (err: Error) => void, start: (finish: () => void) => void): void {
    if (this.released) {
      setImmediate(() => fail(new Error('Connection was released to the pool and cannot be used')));
      return;
    }
    this.pending++;
    const run = () => new Promise<void>((resolve) => {
      const finish = () => {
        this.pending--;
        resolve();
      };
      // Queued before release() but not started by then: it must not run on a connection that is
      // no longer this one's.
      if (this.released) {
        finish();
        return fail(new Error('Connection was released to the pool before this query ran'));
      }
      start(finish);
    });
    this.chain = this.chain.then(run, run);
  }

  private run(method: 'query' | 'execute', sql: unknown, values: unknown, cb: Callback, stream?: { command: Command; started: () => void }): void {
    // Raw SQL in the values may open a transaction or set session state the text does not show.
    const raw = hasRawValue(values) || hasRawValue((sql as { values?: unknown } | null)?.values);
    const effect = raw ? 'session' : sessionEffect(typeof sql === 'string' ? sql : String((sql as { sql?: unknown } | null)?.sql ?? ''), 'mysql');
    const go = () => {
      if (this.pinned) this.pinning.pinned(effect);
      if (!this.pinned) {
        if (stream) {
          stream.started();
          this.pool.runCommand(stream.command, () => cb(null));
          return;
        }
        if (values === undefined) (this.pool[method] as (s: unknown, c: Callback) => void)(sql, cb);
        else (this.pool[method] as (s: unknown, v: unknown, c: Callback) => void)(sql, values, cb);
        return;
      }
      const conn = this.pinned;
      const lost = pinnedPrimaryLost(conn);
      if (lost !== undefined) {
        // Demoted or out since the pin began: never run on a former primary; the pin is dropped.
        this.unpin(true);
        return cb(lost);
      }
      const ends = this.pinning.releasesAfter(effect);
      const done: Callback = (err, rows, fields) => {
        if (ends) {
          // The transaction ended: the connection may be pooled again. Unless the text failed: a
          // failed `INSERT ...; COMMIT` never ran its COMMIT, so the transaction is still open.
          if (!err) this.pinning.reason = undefined;
          this.unpin();
        } else if (!err && this.pinning.reason === 'transaction') {
          // A text that opened and closed a transaction (`START TRANSACTION; ...; COMMIT`) is done
          // with it when the server's status flags say so.
          const status = lastStatus(rows, fields);
          if (status !== undefined && !leavesTransaction(status)) {
            this.pinning.reason = undefined;
            this.unpin();
          }
        }
        cb(err, rows, fields);
      };
      if (stream) {
        // The command on the pinned connection; its last OK packet (if any) tells whether the transaction ended.
        const emitter = stream.command.query as unknown as EventEmitter;
        let last: unknown;
        let error: Error | null = null;
        emitter.on('result', (row: unknown) => { last = row; });
        emitter.once('error', (e: Error) => { error = e; });
        stream.started();
        conn.query(stream.command.query as never).once('end', () => done(error, last, undefined));
        return;
      }
      if (values === undefined) (conn[method] as (s: unknown, c: Callback) => void)(sql, done);
      else (conn[method] as (s: unknown, v: unknown, c: Callback) => void)(sql, values, done);
    };
    if (this.pinning.needsPin(effect)) {
      this.pool.getConnection({ role: this.pool.pinRole }, (err, conn) => {
        if (err || !conn) return cb(err ?? new Error('no connection'));
        this.pinned = conn;
        // The pinned connection's errors reach this connection's listeners, as on a mysql2 connection.
        conn.on('error', this.forwardError);
        go();
      });
      return;
    }
    go();
  }

  private readonly forwardError = (err: Error): void => {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  };

  /** What `console.log(conn)` shows: never the pool's or the connection's options. */
  [inspect.custom](): string {
    return `RoutingConnection ${inspect({ pinned: this.pinning.reason ?? false, released: this.released })}`;
  }

  private unpin(destroy = false): void {
    const conn = this.pinned;
    this.pinned = undefined;
    // A connection still inside a transaction is never pooled (a later ROLLBACK there would undo
    // another request's write): destroy it.
    if (this.pinning.reason === 'transaction') destroy = true;
    this.pinning.reason = undefined;
    conn?.removeListener('error', this.forwardError);
    if (conn) (destroy ? conn.destroy() : conn.release());
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.whenIdle(() => this.unpin());
  }

  /** Statements queued or running. */
  private pending = 0;

  /** Runs `fn` now when no statement is queued or running, else once they are done. */
  private whenIdle(fn: () => void): void {
    if (this.pending === 0) fn();
    else this.chain = this.chain.then(fn, fn);
  }

  destroy(): void {
    if (this.released) return;
    this.released = true;
    this.stream.destroyed = true;
    this.whenIdle(() => this.unpin(true));
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
