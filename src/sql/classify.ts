// Read/write decision from the lexer's tokens: whether a text may run on a read replica.
// Conservative: a statement is a read only when it starts like a query and nothing in it writes.

import type { Lexer, SqlDialect, TokenKind } from './lexer.js';
import { createLexer } from './lexers.js';
import { Statements } from './statements.js';
import { isWritingFunction } from './functions.js';

const LPAREN = 40, RPAREN = 41, DOT = 46, COLON = 58, EQUALS = 61;

const READ_HEADS = new Set(['SELECT', 'WITH', 'SHOW', 'TABLE', 'VALUES']);
const PAREN_HEADS = new Set(['SELECT', 'WITH', 'VALUES', 'TABLE']);
/** Anywhere after the first word: a data-modifying CTE, SELECT ... INTO, FOR UPDATE. */
const WRITE_WORDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'INTO']);
/** FOR SHARE, FOR NO KEY UPDATE, FOR KEY SHARE (FOR UPDATE is caught by UPDATE). */
const AFTER_FOR = new Set(['SHARE', 'NO', 'KEY']);
/** seq.NEXTVAL (MariaDB in Oracle mode). */
const SEQUENCE_MEMBERS = new Set(['NEXTVAL', 'CURRVAL', 'LASTVAL']);
const EXPLAIN_OPTIONS = new Set(['ANALYZE', 'ANALYSE', 'VERBOSE', 'EXTENDED', 'PARTITIONS', 'FORMAT', 'JSON', 'TRADITIONAL', 'TREE']);
/** What PostgreSQL's EXPLAIN without ANALYZE plans without running, even in a read-only transaction. */
const PG_PLANNED = new Set(['SELECT', 'WITH', 'VALUES', 'TABLE', 'INSERT', 'UPDATE', 'DELETE', 'MERGE']);
/** MySQL's EXPLAIN of these fails in a read-only transaction (it opens the tables for writing). */
const MYSQL_EXPLAINED_WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'REPLACE']);

/**
 * True when every statement of the text is a read. A MySQL versioned comment may be run or
 * skipped by the server, so the text must be a read both ways; two or more of them: a write.
 * @example isReadText('SELECT 1 # 2; DELETE FROM t', 'postgres') // false: # is an operator there
 */
export function isReadText(sql: string, dialect: SqlDialect): boolean {
  const code = createLexer(sql, dialect);
  if (!allReads(code)) return false;
  if (code.conditionalComments === 0) return true;
  return code.conditionalComments === 1 && allReads(createLexer(sql, dialect, false));
}

/** Reads statements until one is not a read; stops at once on a writing first word. */
function allReads(lx: Lexer): boolean {
  const st = new Statements(lx);
  let any = false;
  while (st.nextStatement()) {
    any = true;
    if (!readFrom(st, st.next())) return false;
  }
  return any && lx.problem === undefined;
}

/** Whether the statement whose current token (of kind `kind`) is its first word is a read. */
function readFrom(st: Statements, kind: TokenKind): boolean {
  const lx = st.lexer;
  if (lx.isPunct(LPAREN)) {
    // (SELECT ...) UNION (SELECT ...)
    do kind = st.next(); while (lx.isPunct(LPAREN));
    return kind === 'word' && PAREN_HEADS.has(lx.upper()) && restIsRead(st);
  }
  if (kind !== 'word') return false;
  const head = lx.upper();
  if (head === 'EXPLAIN' || head === 'DESCRIBE' || head === 'DESC') return explainIsRead(st);
  return READ_HEADS.has(head) && restIsRead(st);
}

/** EXPLAIN only plans, except with ANALYZE, which runs the statement: then that must be a read. */
function explainIsRead(st: Statements): boolean {
  const lx = st.lexer;
  let analyze = false;
  let kind = st.next();
  // PostgreSQL's option list; MySQL has none (there a parenthesis starts the query).
  if (lx.isPunct(LPAREN) && lx.dialect === 'postgres') {
    let depth = 1;
    let valueOfAnalyze = false;
    while (depth > 0) {
      kind = st.next();
      if (kind === 'end') return false;
      if (valueOfAnalyze) {
        valueOfAnalyze = false;
        if (!(lx.is('FALSE') || lx.is('OFF') || (kind === 'number' && lx.end - lx.start === 1 && lx.sql[lx.start] === '0'))) analyze = true;
      }
      if (lx.isPunct(LPAREN)) depth++;
      else if (lx.isPunct(RPAREN)) depth--;
      else if (lx.is('ANALYZE') || lx.is('ANALYSE')) valueOfAnalyze = true;
      // A quoted option name is still an option (`("analyze")`): any quoted name or string value
      // in the list counts as ANALYZE, whatever follows it.
      else if (kind === 'quoted' || kind === 'string') analyze = true;
    }
    kind = st.next();
  }
  while ((kind === 'word' && EXPLAIN_OPTIONS.has(lx.upper())) || lx.isPunct(EQUALS)) {
    if (lx.is('ANALYZE') || lx.is('ANALYSE')) analyze = true;
    kind = st.next();
  }
  if (kind === 'end') return true;
  if (lx.dialect === 'postgres') {
    if (analyze) return readFrom(st, kind);
    return kind === 'word' && PG_PLANNED.has(lx.upper());
  }
  if (kind === 'quoted') return true; // DESCRIBE `table`
  if (kind !== 'word') return readFrom(st, kind);
  const inner = lx.upper();
  if (MYSQL_EXPLAINED_WRITES.has(inner)) return false;
  if (READ_HEADS.has(inner)) return readFrom(st, kind);
  // EXPLAIN FOR CONNECTION n, DESCRIBE table [column]
  return !analyze;
}

/** Words restIsRead looks at; any other word only matters as the name of a function it calls. */
const KEYWORDS = [...WRITE_WORDS, ...AFTER_FOR, ...SEQUENCE_MEMBERS, 'FOR', 'LOCK', 'IN', 'NEXT', 'PREVIOUS', 'VALUE', 'REPLACE'];
const shape = (firstCode: number, length: number) => ((firstCode | 0x20) << 6) | (length & 63);
/** First letter and length of each keyword: most words are told apart from all of them without a string. */
const KEYWORD_SHAPES = new Set(KEYWORDS.map((w) => shape(w.charCodeAt(0), w.length)));

/**
 * True when the word at [start, end) may be one of KEYWORDS, so it is worth upper-casing. A word
 * with a character outside ASCII always is (upper-casing may change its letters or its length).
 */
function mayBeKeyword(sql: string, start: number, end: number): boolean {
  if (KEYWORD_SHAPES.has(shape(sql.charCodeAt(start), end - start))) return true;
  for (let i = start; i < end; i++) if (sql.charCodeAt(i) > 127) return true;
  return false;
}

/**
 * Scans the rest of a statement that starts like a read for anything that writes or locks. A
 * word's upper-cased text is made only when it may be a keyword or names a called function: the
 * scan of a typical query allocates almost nothing.
 */
function restIsRead(st: Statements): boolean {
  const lx = st.lexer;
  let previous = '';
  // The last word or quoted name, kept as a span: upper-cased only when a '(' calls it.
  let nameKind: TokenKind | undefined;
  let nameStart = 0;
  let nameEnd = 0;
  let afterDot = false;
  let afterColon = false;
  let replace = false;
  for (;;) {
    const kind = st.next();
    // REPLACE(...) is a string function; REPLACE anything else is MySQL's REPLACE statement.
    if (replace && !lx.isPunct(LPAREN)) return false;
    replace = false;
    if (kind === 'end') return true;
    if (kind === 'word') {
      const w = mayBeKeyword(lx.sql, lx.start, lx.end) ? lx.upper() : '';
      if (WRITE_WORDS.has(w)) return false;
      if (previous === 'FOR' && AFTER_FOR.has(w)) return false;
      if (previous === 'LOCK' && w === 'IN') return false; // LOCK IN SHARE MODE
      if ((previous === 'NEXT' || previous === 'PREVIOUS') && w === 'VALUE') return false; // NEXT VALUE FOR seq
      if (afterDot && SEQUENCE_MEMBERS.has(w)) return false;
      replace = w === 'REPLACE';
      previous = w;
      nameKind = kind;
      nameStart = lx.start;
      nameEnd = lx.end;
      afterDot = afterColon = false;
      continue;
    }
    if (kind === 'quoted') {
      if (lx.opaque) return false;
      nameKind = kind;
      nameStart = lx.start;
      nameEnd = lx.end;
      previous = '';
      afterDot = afterColon = false;
      continue;
    }
    if (kind === 'punct') {
      if (lx.char === LPAREN && nameKind !== undefined) {
        const name = lx.nameAt(nameKind, nameStart, nameEnd, false);
        if (name !== undefined && isWritingFunction(name)) return false;
      }
      // MySQL @v := expr assigns a session variable.
      if (lx.char === EQUALS && afterColon && lx.dialect === 'mysql') return false;
      afterDot = lx.char === DOT;
      afterColon = lx.char === COLON;
    } else {
      afterDot = afterColon = false;
    }
    previous = '';
    nameKind = undefined;
  }
}
