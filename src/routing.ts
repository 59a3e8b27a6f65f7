// Read/write classification and session effects of SQL text (both from src/sql's one lexer),
// transaction pinning for routing clients. Conservative: anything not a plain read is a write.

import type { SqlDialect } from './sql/lexer.js';
import { createLexer } from './sql/lexers.js';
import { isReadText } from './sql/classify.js';
import { sessionEffectOfText, type SessionEffect } from './sql/session.js';

/** Where a statement may run. */
export type StatementKind = 'read' | 'write';

export type { SqlDialect } from './sql/lexer.js';
export type { SessionEffect } from './sql/session.js';

/** Roles a caller may ask for explicitly. */
export type RoleRequest = 'primary' | 'replica';

/**
 * Classifies SQL text with the dialect's lexer. A statement is a read when it starts with SELECT,
 * WITH, SHOW, TABLE, VALUES, `(` + a query, or EXPLAIN/DESCRIBE that does not run a write, and
 * contains no row lock (FOR UPDATE/SHARE, LOCK IN SHARE MODE), no INTO, no data-modifying CTE, no
 * NEXT VALUE FOR and no call of a writing, locking or admin function (nextval, pg_advisory_lock,
 * get_lock, lo_*, set_config, ...). Several statements are a read only if all are. Anything else,
 * and any text the lexer cannot trust (unterminated literal or comment), is a write. A text whose
 * first word is a write is decided without reading further.
 * @example classify('SELECT * FROM t WHERE id = $1') // 'read'
 * @example classify('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d') // 'write'
 * @example classify("SELECT 1 # 2; DELETE FROM t", 'mysql') // 'read': # starts a comment there
 */
export function classify(sql: string, dialect: SqlDialect = 'postgres'): StatementKind {
  return cached(dialect === 'postgres' ? PG_CACHE : MY_CACHE, sql, () => (isReadText(sql, dialect) ? 'read' : 'write'));
}

/** Apps send the same statement texts again and again: the last few thousand answers are kept. */
function cached<T>(cache: Map<string, T>, sql: string, compute: () => T): T {
  const known = cache.get(sql);
  if (known !== undefined) return known;
  const value = compute();
  if (sql.length <= MAX_CACHED_LENGTH) {
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(sql, value);
  }
  return value;
}

const PG_CACHE = new Map<string, StatementKind>();
const MY_CACHE = new Map<string, StatementKind>();
const MAX_CACHED = 2000;
const MAX_CACHED_LENGTH = 4096;

/**
 * The statement's operation name for telemetry: its first keyword, upper-cased (`SELECT`,
 * `INSERT`, ...), after comments and opening parentheses.
 * @example operationName('/* app *\/ (SELECT 1)') // 'SELECT'
 */
export function operationName(sql: string, dialect: SqlDialect = 'postgres'): string | undefined {
  // Asked for every statement when telemetry is on: cached like classify ('' stands for none).
  const name = cached(dialect === 'postgres' ? PG_OPERATIONS : MY_OPERATIONS, sql, () => operationOfText(sql, dialect) ?? '');
  return name === '' ? undefined : name;
}

const PG_OPERATIONS = new Map<string, string>();
const MY_OPERATIONS = new Map<string, string>();

function operationOfText(sql: string, dialect: SqlDialect): string | undefined {
  const lx = createLexer(sql, dialect);
  let kind = lx.next();
  while (lx.isPunct(40)) kind = lx.next();
  return kind === 'word' ? lx.upper() : undefined;
}

/**
 * What the text does to the session of the connection it runs on, from the same lexer as
 * `classify`: each statement's effect, folded in order (any 'session' wins; a transaction left
 * open is 'begin'; else ending a transaction begun before this text is 'end'). See `SessionEffect`.
 * @example sessionEffect('/* app *\/ BEGIN', 'postgres') // 'begin'
 * @example sessionEffect('SELECT 1; SET x = 1', 'postgres') // 'session'
 * @example sessionEffect('INSERT INTO t VALUES (1); COMMIT', 'mysql') // 'end'
 */
export function sessionEffect(sql: string, dialect: SqlDialect): SessionEffect {
  // Asked for every statement of routing clients and MySQL pool queries: cached like classify.
  return cached(dialect === 'postgres' ? PG_EFFECTS : MY_EFFECTS, sql, () => sessionEffectOfText(sql, dialect));
}

const PG_EFFECTS = new Map<string, SessionEffect>();
const MY_EFFECTS = new Map<string, SessionEffect>();

/**
 * The pinning state of a routing client: whether its statements currently share one primary
 * connection, and why. `before` says whether a statement needs a pin it does not have yet;
 * `after` whether the pin is released once the statement completes.
 */
export class Pinning {
  reason: 'transaction' | 'session' | undefined;

  /** True when the statement must run on a pinned connection that does not exist yet. */
  needsPin(effect: SessionEffect): boolean {
    return this.reason === undefined && (effect === 'begin' || effect === 'session');
  }

  /** Records the pin (or a transaction turning into session state). */
  pinned(effect: SessionEffect): void {
    if (this.reason === undefined) this.reason = effect === 'begin' ? 'transaction' : 'session';
    else if (this.reason === 'transaction' && effect === 'session') this.reason = 'session';
  }

  /** True when the pin ends with this statement (the end of a transaction-only pin). */
  releasesAfter(effect: SessionEffect): boolean {
    return this.reason === 'transaction' && effect === 'end';
  }
}

/** The kind of a statement given its text and an optional explicit role (which wins). */
export function statementKind(text: unknown, role: RoleRequest | undefined, dialect: SqlDialect): StatementKind {
  if (role === 'replica') return 'read';
  if (role === 'primary') return 'write';
  return typeof text === 'string' ? classify(text, dialect) : 'write';
}
