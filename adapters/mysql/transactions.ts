// Whether a mysql2 connection is left inside a transaction (or with autocommit off), from the
// status flags of the OK packets it returned, so that no such connection is ever pooled again.

import type { PoolConnection } from 'mysql2';
import { sessionEffect } from '../../src/routing.js';

export const SERVER_STATUS_IN_TRANS = 1;
export const SERVER_STATUS_AUTOCOMMIT = 2;

/**
 * Status flags of the last OK packet of a result. Of several statements (multipleStatements), the
 * last OK packet among them: mysql2 drops the flags of a result set's closing packet, and a SELECT
 * after `SET autocommit = 0` or `START TRANSACTION` changes neither, so the earlier packet still tells.
 */
export function lastStatus(rows: unknown, fields: unknown): number | undefined {
  // mysql2 passes one fields entry per statement (an array, or undefined for an OK packet) when there were several.
  const several = Array.isArray(rows) && Array.isArray(fields) && fields.length > 1 && (fields[0] === undefined || Array.isArray(fields[0]));
  if (!several) return okStatus(Array.isArray(rows) ? rows[rows.length - 1] : rows);
  for (let i = rows.length - 1; i >= 0; i--) {
    const status = okStatus(rows[i]);
    if (status !== undefined) return status;
  }
  return undefined;
}

function okStatus(result: unknown): number | undefined {
  // Only mysql2's ResultSetHeader (an OK packet) carries the flags; a row could have such a column.
  if (typeof result !== 'object' || result === null || result.constructor?.name !== 'ResultSetHeader') return undefined;
  const status = (result as { serverStatus?: unknown }).serverStatus;
  return typeof status === 'number' ? status : undefined;
}

/** True when these status flags say a transaction is open or autocommit is off. */
export function leavesTransaction(status: number): boolean {
  return (status & SERVER_STATUS_IN_TRANS) !== 0 || (status & SERVER_STATUS_AUTOCOMMIT) === 0;
}

type AnyCallback = (err: Error | null, rows?: unknown, fields?: unknown) => void;

/**
 * Watches the statements of one lease (`query`, `execute`, and `beginTransaction`/`commit`/
 * `rollback`, which use `query`) and returns the check to call once, at its end: true when the connection may
 * still be inside a transaction or have autocommit off. A statement with a session effect resets
 * what is known until its own OK packet says; a statement without a callback (stream form) leaves
 * it unknown, which counts as open.
 */
/**
 * True when `values` hold raw SQL that mysql2 pastes into the text (`mysql.raw()`, any object with
 * `toSqlString()`): the text alone then says nothing about what the statement does.
 */
export function hasRawValue(values: unknown): boolean {
  if (Array.isArray(values)) return values.some(hasRawValue);
  if (typeof values !== 'object' || values === null) return false;
  if (typeof (values as { toSqlString?: unknown }).toSqlString === 'function') return true;
  // namedPlaceholders: an object of values.
  return Object.getPrototypeOf(values) === Object.prototype && Object.values(values).some(hasRawValue);
}

export function watchTransactions(conn: PoolConnection, proto: PoolConnection): () => boolean {
  let touched = false;
  let status: number | undefined;
  const wrap = (method: 'query' | 'execute') => function (this: PoolConnection, sql: unknown, values?: unknown, cb?: unknown): unknown {
    const text = typeof sql === 'string' ? sql : (sql as { sql?: unknown } | null)?.sql;
    if (typeof text !== 'string' || sessionEffect(text, 'mysql') !== 'none' || hasRawValue(typeof values === 'function' ? undefined : values) || hasRawValue((sql as { values?: unknown } | null)?.values)) {
      touched = true;
      status = undefined;
    }
    const callback = (typeof values === 'function' ? values : cb) as AnyCallback | undefined;
    const original = proto[method] as unknown as (...args: unknown[]) => unknown;
    if (typeof callback !== 'function') return original.call(this, sql, values, cb);
    const observed: AnyCallback = (err, rows, fields) => {
      const s = lastStatus(rows, fields);
      if (s !== undefined) status = s;
      callback(err, rows, fields);
    };
    return typeof values === 'function' ? original.call(this, sql, observed) : original.call(this, sql, values, observed);
  };
  const own = conn as unknown as Record<string, unknown>;
  own['query'] = wrap('query');
  own['execute'] = wrap('execute');
  // A prepared statement runs through its own command, not query/execute: one with a session
  // effect leaves the state unknown each time it runs.
  own['prepare'] = function (this: PoolConnection, options: unknown, cb?: (err: Error | null, stmt?: { execute: (...a: unknown[]) => unknown }) => void): unknown {
    const text = typeof options === 'string' ? options : (options as { sql?: unknown } | null)?.sql;
    const effectful = typeof text !== 'string' || sessionEffect(text, 'mysql') !== 'none';
    const prepared = (err: Error | null, stmt?: { execute: (...a: unknown[]) => unknown }) => {
      if (stmt && effectful) {
        const run = stmt.execute;
        stmt.execute = function (this: unknown, ...args: unknown[]) {
          touched = true;
          status = undefined;
          return run.apply(this, args);
        };
      }
      cb?.(err, stmt);
    };
    return (proto.prepare as unknown as (o: unknown, c: unknown) => unknown).call(this, options, prepared);
  };
  return () => {
    // The lease is over: the connection's own methods again.
    delete own['query'];
    delete own['execute'];
    delete own['prepare'];
    // The server's flags win whatever the texts looked like (a raw value may hide `SET autocommit=0`).
    return status !== undefined ? leavesTransaction(status) : touched;
  };
}
