// Session effects from the lexer's tokens: what a text leaves on the connection it ran on (an
// open transaction, session state), for routing clients that must pin one primary connection.

import type { Lexer, SqlDialect, TokenKind } from './lexer.js';
import { createLexer } from './lexers.js';
import { Statements } from './statements.js';
import { isSessionFunction } from './functions.js';

/**
 * What a statement does to a connection's session, for routing clients that share one lease:
 * 'begin' starts (or leaves open) a transaction, 'end' finishes it, 'session' leaves state on the
 * connection (SET, LISTEN, PREPARE, temp tables, locks...), 'none' is safe to route anywhere.
 */
export type SessionEffect = 'begin' | 'end' | 'session' | 'none';

const LPAREN = 40, DOT = 46, AT = 64;
/** Tokens kept per statement to read its command: the longest end statement fits. */
const HEAD = 12;
/** A word before TEMP/TEMPORARY that makes a temporary object (or drops one). */
const TEMP_OPENERS = ['CREATE', 'REPLACE', 'GLOBAL', 'LOCAL', 'INTO', 'DROP'];
const XID_PARTS = new Set(["'", '0', ',', 'X', 'B', 'ONE', 'PHASE']);

/**
 * The effect of a whole text: each statement's effect, folded in order. Any 'session' wins;
 * otherwise any statement that opens a transaction makes it 'begin', even when a later statement
 * of the text ends it: a statement in between may fail, and the servers run nothing after a
 * failed statement of a multi-statement text, so `BEGIN; INSERT ...; COMMIT` may leave the
 * transaction open (found by the differential test: `COMMIT AND CHAIN; VALUES (a); ROLLBACK`).
 * Else an 'end' gives 'end', else 'none'. An unterminated or ambiguous text, or
 * a MySQL versioned comment that changes the answer: 'session' (the pin that is never wrong).
 * @example sessionEffectOfText('SELECT 1; BEGIN', 'postgres') // 'begin'
 */
export function sessionEffectOfText(sql: string, dialect: SqlDialect): SessionEffect {
  const code = createLexer(sql, dialect);
  const effect = fold(code);
  if (effect === 'session' || code.conditionalComments === 0) return effect;
  if (code.conditionalComments > 1) return 'session';
  return fold(createLexer(sql, dialect, false)) === effect ? effect : 'session';
}

function fold(lx: Lexer): SessionEffect {
  const st = new Statements(lx);
  let began = false;
  let ended = false;
  while (st.nextStatement()) {
    const effect = statementEffect(st);
    if (effect === 'session') return 'session';
    if (effect === 'begin') began = true;
    else if (effect === 'end' && !began) ended = true;
  }
  if (lx.problem !== undefined) return 'session';
  return began ? 'begin' : ended ? 'end' : 'none';
}

/**
 * One statement: its first words name the command; anywhere in it, a session-level function
 * call, a MySQL user variable or a temporary object leave state on the session.
 */
function statementEffect(st: Statements): SessionEffect {
  const lx = st.lexer;
  const head: string[] = [];
  let count = 0;
  let prevKind: TokenKind = 'end';
  let prevStart = 0;
  let prevEnd = 0;
  let prevOpaque = false;
  let at = false;
  for (;;) {
    const kind = st.next();
    if (kind === 'end') break;
    if (count++ < HEAD) head.push(signature(lx));
    const punct = kind === 'punct' ? lx.char : -1;
    if (at) {
      // @@name is a system variable; @name, @'name', @`name` a user variable.
      at = false;
      if (punct !== AT) return 'session';
    } else if (punct === AT) {
      if (lx.dialect === 'mysql') at = true;
    } else if (punct === LPAREN) {
      const name = lx.nameAt(prevKind, prevStart, prevEnd, prevOpaque);
      if (name !== undefined && isSessionFunction(name)) return 'session';
    } else if (punct === DOT) {
      if (lx.dialect === 'postgres' && isTempSchema(lx, prevKind, prevStart, prevEnd)) return 'session';
    } else if (kind === 'word') {
      if ((lx.is('TEMP') || lx.is('TEMPORARY')) && prevKind === 'word' && TEMP_OPENERS.some((w) => lx.wordAt(prevStart, prevEnd, w))) return 'session';
    } else if (kind === 'quoted' && lx.opaque) {
      return 'session'; // U&"..." may spell set_config
    }
    prevKind = kind;
    prevStart = lx.start;
    prevEnd = lx.end;
    prevOpaque = lx.opaque;
  }
  if (at) return 'session';
  const verb = lx.dialect === 'postgres' ? postgresCommand(head, count) : mysqlCommand(head, count);
  // A piece of a routine body or of a parenthesis is no COMMIT of its own.
  return verb === 'end' && st.continuation ? 'none' : verb;
}

/** A token as the command reader sees it: upper-cased words, ' for literals, 0 for numbers. */
function signature(lx: Lexer): string {
  switch (lx.kind) {
    case 'word': return lx.upper();
    case 'string': return "'";
    case 'quoted': return '"';
    case 'number': return '0';
    case 'param': return '$';
    default: return String.fromCharCode(lx.char);
  }
}

/** pg_temp.x or pg_temp_3.x names a temporary object. */
function isTempSchema(lx: Lexer, kind: TokenKind, start: number, end: number): boolean {
  if (kind === 'quoted') {
    start++;
    end--;
  } else if (kind !== 'word') {
    return false;
  }
  return lx.startsWithAt(start, 'PG_TEMP') && (end - start === 7 || lx.sql[start + 7] === '_');
}

function postgresCommand(h: readonly string[], count: number): SessionEffect {
  switch (h[0]) {
    case 'BEGIN':
      return 'begin';
    case 'START':
      return h[1] === 'TRANSACTION' ? 'begin' : 'none';
    case 'COMMIT':
    case 'END':
    case 'ABORT':
    case 'ROLLBACK':
      return endCommand(h, count, 'postgres');
    case 'PREPARE':
      // PREPARE TRANSACTION 'x' detaches the transaction (and a failed one rolls back).
      if (h[1] === 'TRANSACTION') return count === 3 && h[2] === "'" ? 'end' : 'none';
      return 'session';
    case 'SET':
      return h[1] === 'LOCAL' || h[1] === 'TRANSACTION' ? 'none' : 'session';
    case 'RESET':
    case 'LISTEN':
    case 'UNLISTEN':
    case 'DEALLOCATE':
    case 'DECLARE':
    case 'LOCK':
    case 'DISCARD':
    case 'LOAD':
    // Procedural code: set_config, advisory locks or temp tables may hide in its body.
    case 'DO':
    case 'CALL':
      return 'session';
    default:
      return 'none';
  }
}

function mysqlCommand(h: readonly string[], count: number): SessionEffect {
  if (h[1] === ':') return 'session'; // label: BEGIN NOT ATOMIC, a loop...
  switch (h[0]) {
    case 'BEGIN':
      return h[1] === 'NOT' ? 'session' : 'begin'; // BEGIN NOT ATOMIC is a compound statement
    case 'START':
      return h[1] === 'TRANSACTION' ? 'begin' : 'none';
    case 'COMMIT':
    case 'ROLLBACK':
      return endCommand(h, count, 'mysql');
    case 'XA':
      return xaCommand(h, count);
    case 'DROP':
      return h[1] === 'PREPARE' ? 'session' : 'none';
    // SET of anything: autocommit=0 leaves a transaction open, SET TRANSACTION shapes the next one.
    case 'SET':
    case 'LOCK':
    case 'UNLOCK':
    case 'USE':
    case 'PREPARE':
    case 'EXECUTE':
    case 'DEALLOCATE':
    case 'HANDLER':
    case 'FLUSH': // FLUSH TABLES WITH READ LOCK
    case 'BACKUP': // BACKUP STAGE / BACKUP LOCK
    // Procedures and MariaDB's compound statements may open a transaction and leave it open.
    case 'CALL':
    case 'IF':
    case 'CASE':
    case 'LOOP':
    case 'REPEAT':
    case 'WHILE':
    case 'FOR':
      return 'session';
    default:
      return 'none';
  }
}

/**
 * COMMIT/ROLLBACK (and PostgreSQL's END/ABORT) [WORK|TRANSACTION] [AND [NO] CHAIN] [[NO] RELEASE].
 * Only an exact end statement is 'end': anything else is a syntax error and the transaction stays
 * open. ROLLBACK TO [SAVEPOINT] and COMMIT/ROLLBACK PREPARED stay in (or never touch) it.
 */
function endCommand(h: readonly string[], count: number, dialect: SqlDialect): SessionEffect {
  let k = h[1] === 'WORK' || (dialect === 'postgres' && h[1] === 'TRANSACTION') ? 2 : 1;
  if (count === k) return 'end';
  if (h[0] === 'ROLLBACK' && h[k] === 'TO') return 'none';
  if (dialect === 'postgres' && k === 1 && h[1] === 'PREPARED' && (h[0] === 'COMMIT' || h[0] === 'ROLLBACK')) return 'none';
  let chain = false;
  if (h[k] === 'AND') {
    if (h[k + 1] === 'CHAIN') {
      chain = true;
      k += 2;
    } else if (h[k + 1] === 'NO' && h[k + 2] === 'CHAIN') {
      k += 3;
    } else {
      return 'none';
    }
  }
  if (dialect === 'mysql') {
    if (h[k] === 'RELEASE') k += 1;
    else if (h[k] === 'NO' && h[k + 1] === 'RELEASE') k += 2;
  }
  if (chain) return 'begin';
  return count === k ? 'end' : 'none';
}

/** XA START/BEGIN open, XA COMMIT/ROLLBACK xid [ONE PHASE] end; END/PREPARE/RECOVER stay. */
function xaCommand(h: readonly string[], count: number): SessionEffect {
  switch (h[1]) {
    case 'START':
    case 'BEGIN':
      return 'begin';
    case 'COMMIT':
    case 'ROLLBACK':
      if (count < 3 || count > HEAD) return 'none';
      for (let k = 2; k < count; k++) if (!XID_PARTS.has(h[k]!)) return 'none';
      return 'end';
    default:
      return 'none';
  }
}
