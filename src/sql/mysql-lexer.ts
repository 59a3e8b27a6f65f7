// MySQL/MariaDB lexical rules (sql_lex.cc), default sql_mode: # and "-- " comments, flat /* */,
// executable /*! */ and /*M! */ comments, backslash escapes in '' and "", `` names, $ in words.

import { BACKTICK, BANG, DQUOTE, Finder, HASH, Lexer, MINUS, QUOTE, SLASH, SPACE, STAR, isAsciiLetter, isDigit, isSpace, type TokenKind } from './lexer.js';

const UPPER_M = 77;

/**
 * The MySQL/MariaDB lexer. Not supported: the ANSI_QUOTES and NO_BACKSLASH_ESCAPES sql_modes, and
 * multi-byte connection character sets other than UTF-8 (mysql2's escaping assumes the same).
 * @example new MysqlLexer('SELECT 1--1') // 1 - (-1): no comment
 */
export class MysqlLexer extends Lexer {
  private readonly nul: Finder;
  private execOpen = false;
  private execConditional = false;
  private execEnds: readonly number[] = [];

  /**
   * @param conditionalAsCode read versioned comments as code (the server runs them) or skip them
   *   (the server is older than the version they name).
   */
  constructor(sql: string, private readonly conditionalAsCode = true) {
    super(sql, 'mysql');
    this.nul = new Finder(sql, '\0');
  }

  protected lexToken(i: number, c: number): TokenKind {
    const s = this.sql;
    if (isWordPart(c)) {
      let j = i + 1;
      while (j < s.length && isWordPart(s.charCodeAt(j))) j++;
      return this.token(isDigit(c) ? 'number' : 'word', j);
    }
    if (c === QUOTE || c === DQUOTE) return this.string(i, c, true);
    if (c === BACKTICK) return this.quoted(i, BACKTICK);
    return this.punct(i);
  }

  protected override atEnd(): void {
    if (this.execOpen) this.problem ??= 'unterminated';
  }

  protected skipTrivia(i: number): number {
    const s = this.sql;
    for (;;) {
      if (i >= s.length) return i;
      const c = s.charCodeAt(i);
      const d = s.charCodeAt(i + 1);
      if (isSpace(c)) i++;
      else if (c === HASH) i = this.lineEnd(i);
      // "--" opens a comment only before a space or control character: 1--1 is 1 - (-1).
      else if (c === MINUS && d === MINUS && (i + 2 >= s.length || s.charCodeAt(i + 2) <= SPACE || s.charCodeAt(i + 2) === 127)) i = this.lineEnd(i);
      else if (c === SLASH && d === STAR) i = this.comment(i);
      else if (c === STAR && d === SLASH && this.execOpen) i = this.closeExecutable(i + 2);
      else return i;
    }
  }

  /** The server stops a line comment at a newline or at a NUL byte (then reads on). */
  private lineEnd(i: number): number {
    const lf = this.lf.from(i);
    const nul = this.nul.from(i);
    if (nul < lf) this.problem ??= 'ambiguous';
    return Math.min(lf, nul, this.sql.length);
  }

  /**
   * A comment from its `/*` at `i`. /*! ...*\/ and /*M! ...*\/ hold code: the lexer goes on
   * inside and `*\/` closes them. A versioned one (/*!50100, /*M!100100) may be skipped by the
   * server instead, so where it ends must not depend on reading it as code (else: ambiguous).
   */
  private comment(i: number): number {
    const s = this.sql;
    const c2 = s.charCodeAt(i + 2);
    const mariadbOnly = c2 === UPPER_M && s.charCodeAt(i + 3) === BANG;
    if (c2 !== BANG && !mariadbOnly) return this.plainComment(i);
    if (this.execOpen) {
      // The servers disagree on an executable comment inside another one.
      this.problem ??= 'ambiguous';
      return this.plainComment(i);
    }
    let j = i + (mariadbOnly ? 4 : 3);
    let versioned = false;
    if (isDigit(s.charCodeAt(j)) && isDigit(s.charCodeAt(j + 1)) && isDigit(s.charCodeAt(j + 2)) && isDigit(s.charCodeAt(j + 3)) && isDigit(s.charCodeAt(j + 4))) {
      versioned = true;
      j += isDigit(s.charCodeAt(j + 5)) ? 6 : 5;
    }
    // MySQL reads /*M! as a plain comment; MariaDB runs it (or skips it, when versioned).
    const conditional = versioned || mariadbOnly;
    if (conditional) {
      this.conditionalComments++;
      const skipped = [skipComment(s, i + 2, 0), skipComment(s, i + 2, 1)];
      if (!this.conditionalAsCode) return skipped[1]! < 0 ? this.unterminatedTrivia() : skipped[1]!;
      this.execEnds = skipped;
    }
    this.execOpen = true;
    this.execConditional = conditional;
    return j;
  }

  private closeExecutable(i: number): number {
    this.execOpen = false;
    if (this.execConditional && this.execEnds.some((end) => end !== i)) this.problem ??= 'ambiguous';
    return i;
  }

  private plainComment(i: number): number {
    const close = this.sql.indexOf('*/', i + 2);
    return close < 0 ? this.unterminatedTrivia() : close + 2;
  }
}

/**
 * Where a skipped comment starting after `/*` at `from` ends (index after `*\/`), or -1. As the
 * server's consume_comment: `nesting` levels of inner /* *\/ are allowed (one for a skipped
 * versioned comment, none for a plain one).
 */
function skipComment(s: string, from: number, nesting: number): number {
  let j = from;
  while (j < s.length) {
    const c = s.charCodeAt(j++);
    if (nesting > 0 && c === SLASH && s.charCodeAt(j) === STAR) {
      const end = skipComment(s, j + 1, nesting - 1);
      if (end < 0) return -1;
      j = end;
    } else if (c === STAR && s.charCodeAt(j) === SLASH) {
      return j + 1;
    }
  }
  return -1;
}

/** Letters, digits, _, $ and every non-ASCII character: words may start with a digit. */
function isWordPart(c: number): boolean {
  return isAsciiLetter(c) || isDigit(c) || c === 95 || c === 36 || c >= 128;
}
