// PostgreSQL's lexical rules (scan.l): nested /* */, -- to \n or \r, # as an operator, E'' escapes
// and their continuation lines, U&'' and U&"", $tag$ quotes, $ inside identifiers, $1 parameters.

import { AMP, CR, DOLLAR, DOT, DQUOTE, Finder, FF, LF, Lexer, MINUS, QUOTE, SLASH, SPACE, STAR, TAB, VT, isAsciiLetter, isDigit, isSpace, type TokenKind } from './lexer.js';

/**
 * The PostgreSQL lexer (standard_conforming_strings on, as every current driver requires).
 * @example const lx = new PostgresLexer("SELECT 1 # 2; DELETE FROM t"); // # is XOR: DELETE is code
 */
export class PostgresLexer extends Lexer {
  private readonly cr: Finder;

  constructor(sql: string) {
    super(sql, 'postgres');
    this.cr = new Finder(sql, '\r');
  }

  // Identifiers may contain $ and any non-ASCII byte; E'' strings take backslash escapes; U&''
  // and the rest do not; $tag$ quotes; "" names; # is an operator.
  protected lexToken(i: number, c: number): TokenKind {
    const s = this.sql;
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < s.length && isIdentPart(s.charCodeAt(j))) j++;
      if (j === i + 1) {
        // A prefix counts only as a whole word: in `abe'x'` the string is a plain one.
        const next = s.charCodeAt(j);
        if ((c === 69 || c === 101) && next === QUOTE) return this.string(j, QUOTE, true);
        if ((c === 85 || c === 117) && next === AMP) {
          const q = s.charCodeAt(j + 1);
          if (q === QUOTE) return this.string(j + 1, QUOTE, false);
          if (q === DQUOTE) {
            const kind = this.quoted(j + 1, DQUOTE);
            this.opaque = true;
            return kind;
          }
        }
      }
      return this.token('word', j);
    }
    if (isDigit(c) || (c === DOT && isDigit(s.charCodeAt(i + 1)))) return this.token('number', numberEnd(s, i));
    if (c === QUOTE) return this.string(i, QUOTE, false);
    if (c === DQUOTE) return this.quoted(i, DQUOTE);
    if (c === DOLLAR) {
      const d = s.charCodeAt(i + 1);
      if (isDigit(d)) {
        let j = i + 2;
        while (isDigit(s.charCodeAt(j))) j++;
        return this.token('param', j);
      }
      if (d === DOLLAR || isIdentStart(d)) {
        let j = i + 1;
        while (j < s.length && isTagPart(s.charCodeAt(j))) j++;
        if (s.charCodeAt(j) === DOLLAR) return this.dollarQuoted(i, j + 1);
      }
    }
    return this.punct(i);
  }

  // E'a' <newline> 'b' is one literal, and the second part still takes escapes.
  protected override continuation(j: number): number {
    return continuation(this.sql, j);
  }

  private dollarQuoted(open: number, bodyStart: number): TokenKind {
    const delimiter = this.sql.slice(open, bodyStart);
    const close = this.sql.indexOf(delimiter, bodyStart);
    return close < 0 ? this.unterminated() : this.token('string', close + delimiter.length);
  }

  protected skipTrivia(i: number): number {
    const s = this.sql;
    for (;;) {
      if (i >= s.length) return i;
      const c = s.charCodeAt(i);
      if (isSpace(c)) i++;
      else if (c === MINUS && s.charCodeAt(i + 1) === MINUS) i = Math.min(this.lf.from(i), this.cr.from(i), s.length);
      else if (c === SLASH && s.charCodeAt(i + 1) === STAR) i = this.nestedComment(i);
      else return i;
    }
  }

  /** A block comment (they nest) from its `/*` at `i`; returns the index after it. */
  private nestedComment(i: number): number {
    const s = this.sql;
    let depth = 1;
    let j = i + 2;
    let open = -1;
    let close = -1;
    for (;;) {
      if (open < j) open = indexOrInfinity(s, '/*', j);
      if (close < j) close = indexOrInfinity(s, '*/', j);
      if (close === Infinity) return this.unterminatedTrivia();
      if (open < close) {
        depth++;
        j = open + 2;
      } else {
        j = close + 2;
        if (--depth === 0) return j;
      }
    }
  }
}

function indexOrInfinity(s: string, needle: string, from: number): number {
  const k = s.indexOf(needle, from);
  return k < 0 ? Infinity : k;
}

/**
 * After an E'...' literal ending at `j`: the index of the quote that continues it, or -1. As scan.l's
 * quotecontinue: spaces and `--` comments, at least one newline, then a quote (no block comments).
 */
function continuation(s: string, j: number): number {
  let k = j;
  for (;;) {
    const c = s.charCodeAt(k);
    if (c === SPACE || c === TAB || c === FF || c === VT) k++;
    else if (c === MINUS && s.charCodeAt(k + 1) === MINUS) k = lineEnd(s, k);
    else break;
  }
  const c = s.charCodeAt(k);
  if (c !== LF && c !== CR) return -1;
  k++;
  for (;;) {
    const d = s.charCodeAt(k);
    if (isSpace(d)) k++;
    else if (d === MINUS && s.charCodeAt(k + 1) === MINUS) {
      k = lineEnd(s, k);
      if (k >= s.length) return -1;
    } else break;
  }
  return s.charCodeAt(k) === QUOTE ? k : -1;
}

function lineEnd(s: string, k: number): number {
  while (k < s.length) {
    const c = s.charCodeAt(k);
    if (c === LF || c === CR) return k;
    k++;
  }
  return k;
}

/** Digits, an optional fraction and exponent; letters after it start a new token (as PostgreSQL 14). */
function numberEnd(s: string, i: number): number {
  let j = i;
  while (isDigit(s.charCodeAt(j))) j++;
  if (s.charCodeAt(j) === DOT && s.charCodeAt(j + 1) !== DOT) {
    j++;
    while (isDigit(s.charCodeAt(j))) j++;
  }
  const e = s.charCodeAt(j);
  if (e === 69 || e === 101) {
    let k = j + 1;
    const sign = s.charCodeAt(k);
    if (sign === 43 || sign === MINUS) k++;
    if (isDigit(s.charCodeAt(k))) {
      j = k;
      while (isDigit(s.charCodeAt(j))) j++;
    }
  }
  return j;
}

/** scan.l ident_start: letters, _ and every non-ASCII character (any byte >= 0x80 in UTF-8). */
function isIdentStart(c: number): boolean {
  return isAsciiLetter(c) || c === 95 || c >= 128;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === DOLLAR;
}

/** scan.l dolq_cont: as an identifier, but without $. */
function isTagPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}
