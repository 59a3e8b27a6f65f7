// Read/write classification of SQL text: decides whether a statement may run on a replica.
// Conservative by design: anything not recognised as a plain read goes to the primary.

/** Where a statement may run. */
export type StatementKind = 'read' | 'write';

/** Lexical differences that matter to the classifier. */
export type SqlDialect = 'postgres' | 'mysql';

/** Roles a caller may ask for explicitly. */
export type RoleRequest = 'primary' | 'replica';

const READ_STARTS = new Set(['SELECT', 'SHOW', 'TABLE', 'VALUES', 'WITH', 'EXPLAIN', 'DESCRIBE', 'DESC']);
/** Functions that write, take locks or need a primary even inside a SELECT. */
const WRITING_FUNCTIONS = /^(nextval|setval|lastval|currval|pg_(try_)?advisory_(xact_)?lock(_shared)?|pg_advisory_unlock(_shared|_all)?|txid_current|pg_current_xact_id|pg_current_wal_(insert_|flush_)?lsn|pg_notify|lo_(create|creat|import|unlink|put|from_bytea)|get_lock|release_lock|release_all_locks|last_insert_id|pg_switch_wal|pg_create_restore_point|set_config)$/i;

interface Token {
  readonly word: string; // upper-cased keyword/identifier, or the punctuation character itself
  readonly ident: boolean;
}

/**
 * Splits SQL into words and punctuation, dropping comments, string literals, quoted identifiers
 * (PostgreSQL "x", MySQL `x`) and dollar-quoted bodies ($$...$$, $tag$...$tag$).
 */
export function tokenize(sql: string, dialect: SqlDialect = 'postgres'): Token[] {
  const tokens: Token[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === '-' && next === '-') {
      i = lineEnd(sql, i);
    } else if (ch === '#') {
      i = lineEnd(sql, i);
    } else if (ch === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') { depth++; i += 2; }
        else if (sql[i] === '*' && sql[i + 1] === '/') { depth--; i += 2; }
        else i++;
      }
    } else if (ch === "'" || ch === '"' || ch === '`') {
      // Backslash escapes: always in MySQL; in PostgreSQL only inside E'...' strings.
      const prev = sql[i - 1];
      const escapes = ch === "'" && (dialect === 'mysql' || ((prev === 'E' || prev === 'e') && tokens.at(-1)?.word === 'E'));
      i = quotedEnd(sql, i, ch, escapes);
      // A quoted identifier is still an identifier for "name(" detection; literals are not.
      tokens.push({ word: ch === "'" ? "'" : '"', ident: false });
    } else if (ch === '$' && next !== undefined && /[A-Za-z_$]/.test(next)) {
      const m = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(sql.slice(i, i + 64));
      if (m) {
        const close = sql.indexOf(m[0], i + m[0].length);
        i = close < 0 ? n : close + m[0].length;
        tokens.push({ word: "'", ident: false });
      } else i++;
    } else if (isWordStart(sql.charCodeAt(i))) {
      let j = i + 1;
      while (j < n && isWordPart(sql.charCodeAt(j))) j++;
      tokens.push({ word: sql.slice(i, j).toUpperCase(), ident: true });
      i = j;
    } else if (ch === '(' || ch === ')' || ch === ';' || ch === ',') {
      tokens.push({ word: ch, ident: false });
      i++;
    } else {
      i++;
    }
  }
  return tokens;
}

// Character classes by code, not regex: this runs for every character of every statement.
function isWordStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isWordPart(c: number): boolean {
  return isWordStart(c) || (c >= 48 && c <= 57) || c === 36;
}

function lineEnd(sql: string, i: number): number {
  const j = sql.indexOf('\n', i);
  return j < 0 ? sql.length : j + 1;
}

function quotedEnd(sql: string, i: number, quote: string, backslashEscapes: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    if (backslashEscapes && sql[j] === '\\') { j += 2; continue; }
    if (sql[j] === quote) {
      if (sql[j + 1] === quote) { j += 2; continue; }
      return j + 1;
    }
    j++;
  }
  return j;
}

/**
 * Classifies SQL text. A statement is a read when it starts with SELECT, WITH ... SELECT, SHOW,
 * TABLE, VALUES or EXPLAIN (without ANALYZE of a write) and contains no row lock (FOR UPDATE,
 * FOR SHARE, LOCK IN SHARE MODE), no SELECT ... INTO, no data-modifying CTE and no writing or
 * locking function (nextval, setval, advisory locks, ...). Several statements are a read only if
 * all are.
 * @example classify('SELECT * FROM t WHERE id = $1') // 'read'
 * @example classify('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d') // 'write'
 */
export function classify(sql: string, dialect: SqlDialect = 'postgres'): StatementKind {
  // Apps send the same statement texts again and again: remember the last few thousand.
  const cache = dialect === 'postgres' ? PG_CACHE : MY_CACHE;
  const known = cache.get(sql);
  if (known !== undefined) return known;
  const kind = classifyUncached(sql, dialect);
  if (sql.length <= MAX_CACHED_LENGTH) {
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(sql, kind);
  }
  return kind;
}

const PG_CACHE = new Map<string, StatementKind>();
const MY_CACHE = new Map<string, StatementKind>();
const MAX_CACHED = 2000;
const MAX_CACHED_LENGTH = 4096;

function classifyUncached(sql: string, dialect: SqlDialect): StatementKind {
  const tokens = tokenize(sql, dialect);
  let start = 0;
  let sawStatement = false;
  for (let i = 0; i <= tokens.length; i++) {
    if (i === tokens.length || tokens[i]!.word === ';') {
      if (i > start) {
        sawStatement = true;
        if (classifyStatement(tokens, start, i) === 'write') return 'write';
      }
      start = i + 1;
    }
  }
  return sawStatement ? 'read' : 'write';
}

function classifyStatement(t: readonly Token[], from: number, to: number): StatementKind {
  let i = from;
  const first = t[i]!.word;
  if (first === '(') {
    // "(SELECT ...) UNION (SELECT ...)": skip opening parentheses.
    while (i < to && t[i]!.word === '(') i++;
    if (i >= to || t[i]!.word !== 'SELECT' && t[i]!.word !== 'WITH' && t[i]!.word !== 'VALUES') return 'write';
  } else if (!READ_STARTS.has(first)) {
    return 'write';
  }
  if (first === 'EXPLAIN' || first === 'DESCRIBE' || first === 'DESC') {
    // EXPLAIN without ANALYZE only plans; EXPLAIN ANALYZE runs the statement, so classify that.
    let j = i + 1;
    let analyze = false;
    if (t[j]?.word === '(') {
      let depth = 0;
      for (; j < to; j++) {
        const w = t[j]!.word;
        if (w === '(') depth++;
        else if (w === ')') { depth--; if (depth === 0) { j++; break; } }
        else if (w === 'ANALYZE' || w === 'ANALYSE') {
          const value = t[j + 1]?.word;
          analyze = value !== 'FALSE' && value !== 'OFF' && value !== '0';
        }
      }
    } else {
      while (j < to && /^(ANALYZE|ANALYSE|VERBOSE|EXTENDED|PARTITIONS|FORMAT|=|JSON|TRADITIONAL|TREE)$/.test(t[j]!.word)) {
        if (t[j]!.word === 'ANALYZE' || t[j]!.word === 'ANALYSE') analyze = true;
        j++;
      }
    }
    return analyze && j < to ? classifyStatement(t, j, to) : 'read';
  }
  for (let k = i; k < to; k++) {
    const tok = t[k]!;
    const w = tok.word;
    if (!tok.ident) continue;
    if (w === 'FOR') {
      const a = t[k + 1]?.word;
      if (a === 'UPDATE' || a === 'SHARE' || a === 'NO' || a === 'KEY') return 'write';
    } else if (w === 'LOCK' && t[k + 1]?.word === 'IN') {
      return 'write'; // MySQL: LOCK IN SHARE MODE
    } else if (w === 'INTO') {
      return 'write'; // SELECT ... INTO new_table / INTO OUTFILE / INTO @var
    } else if (k > i && (w === 'INSERT' || w === 'UPDATE' || w === 'DELETE' || w === 'MERGE' || w === 'REPLACE' && t[k + 1]?.word !== '(')) {
      return 'write'; // data-modifying CTE
    } else if (t[k + 1]?.word === '(' && WRITING_FUNCTIONS.test(w)) {
      return 'write';
    }
  }
  return 'read';
}

/** The statement's operation name for telemetry: its first keyword, upper-cased (`SELECT`, `INSERT`, ...). */
export function operationName(sql: string): string | undefined {
  const m = /^(?:\s|--[^\n]*\n?|\/\*[\s\S]*?\*\/|\()*([A-Za-z]+)/.exec(sql);
  return m ? m[1]!.toUpperCase() : undefined;
}

/**
 * What a statement does to a connection's session, for routing clients that share one lease:
 * 'begin' starts (or prepares) a transaction, 'end' finishes it, 'session' leaves state on the
 * connection (SET, LISTEN, PREPARE, temp tables, locks...), 'none' is safe to route anywhere.
 */
export type SessionEffect = 'begin' | 'end' | 'session' | 'none';

const BEGIN_RE: Record<SqlDialect, RegExp> = {
  postgres: /^\s*(BEGIN|START\s+TRANSACTION)\b/i,
  // SET TRANSACTION applies to the next transaction of the same session.
  mysql: /^\s*(BEGIN|START\s+TRANSACTION|SET\s+TRANSACTION|XA\s+START)\b/i,
};
const END_RE: Record<SqlDialect, RegExp> = {
  postgres: /^\s*(COMMIT|END|ABORT|ROLLBACK)\b(?!\s+(WORK\s+|TRANSACTION\s+)?TO\b)/i,
  mysql: /^\s*(COMMIT|ROLLBACK)\b(?!\s+(WORK\s+)?TO\b)/i,
};
const SESSION_RE: Record<SqlDialect, RegExp> = {
  postgres: /^\s*(SET(?!\s+(LOCAL|TRANSACTION)\b)|RESET|LISTEN|UNLISTEN|PREPARE|DECLARE|CREATE\s+(TEMP|TEMPORARY|UNLOGGED\s+TEMP)\b|LOCK|DISCARD|LOAD)\b/i,
  mysql: /^\s*(SET(?!\s+TRANSACTION\b)|LOCK\s+TABLES|USE|PREPARE|CREATE\s+TEMPORARY|HANDLER)\b|\bGET_LOCK\s*\(/i,
};

export function sessionEffect(sql: string, dialect: SqlDialect): SessionEffect {
  if (BEGIN_RE[dialect].test(sql)) return 'begin';
  if (END_RE[dialect].test(sql)) return 'end';
  if (SESSION_RE[dialect].test(sql)) return 'session';
  return 'none';
}

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
