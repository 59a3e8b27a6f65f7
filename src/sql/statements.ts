// Splits a lexer's tokens into statements at semicolons, and flags the pieces that are not
// commands of their own (they start inside parentheses, a CASE or a BEGIN ATOMIC body).

import type { Lexer, TokenKind } from './lexer.js';

const SEMICOLON = 59, LPAREN = 40, RPAREN = 41;

/**
 * Statement-by-statement access to a lexer: `nextStatement()` moves to the next non-empty
 * statement, `next()` gives its tokens and returns 'end' at its semicolon. A caller may stop
 * reading a statement early; the next `nextStatement()` skips the rest.
 * @example const st = new Statements(createLexer('SELECT 1; COMMIT', 'postgres'));
 *   while (st.nextStatement()) while (st.next() !== 'end') {}
 */
export class Statements {
  /**
   * True when the current statement began inside parentheses, an unclosed CASE or a routine body
   * (`CREATE FUNCTION ... BEGIN ATOMIC ...; END`): the server does not run it as a command.
   */
  continuation = false;
  /** Number of statements started so far. */
  count = 0;

  private state: 'between' | 'first' | 'in' | 'done' = 'between';
  private parens = 0;
  private body = 0;
  private words = 0;
  private routine = false;
  private head = '';

  constructor(readonly lexer: Lexer) {}

  /** Moves to the next non-empty statement; false at the end of the text. */
  nextStatement(): boolean {
    while (this.state === 'in' || this.state === 'first') this.next();
    for (;;) {
      if (this.state === 'done') return false;
      const kind = this.lexer.next();
      if (kind === 'end') {
        this.state = 'done';
        return false;
      }
      if (kind === 'punct' && this.lexer.char === SEMICOLON) continue;
      this.begin();
      this.state = 'first';
      return true;
    }
  }

  /** The next token of the current statement (the lexer describes it), or 'end' after its last. */
  next(): TokenKind {
    if (this.state === 'first') {
      this.state = 'in';
      this.track();
      return this.lexer.kind;
    }
    if (this.state !== 'in') return 'end';
    const kind = this.lexer.next();
    if (kind === 'end') {
      this.state = 'done';
      return 'end';
    }
    if (kind === 'punct' && this.lexer.char === SEMICOLON) {
      this.state = 'between';
      return 'end';
    }
    this.track();
    return kind;
  }

  private begin(): void {
    this.count++;
    this.continuation = this.parens > 0 || this.body > 0;
    if (this.continuation) return;
    this.routine = false;
    this.words = 0;
    this.head = '';
  }

  // Blocks that END closes: CASE anywhere (a COMMIT after an unclosed CASE is a syntax error, not
  // a command), and psql's rule (psqlscan.l) for CREATE [OR REPLACE] FUNCTION|PROCEDURE: there BEGIN
  // opens a body at parenthesis depth 0; semicolons inside are not the end of the statement.
  private track(): void {
    const lx = this.lexer;
    if (lx.kind === 'punct') {
      if (lx.char === LPAREN) this.parens++;
      else if (lx.char === RPAREN && this.parens > 0) this.parens--;
      return;
    }
    if (lx.kind !== 'word') return;
    if (lx.is('CASE')) this.body++;
    else if (lx.is('END')) {
      if (this.body > 0) this.body--;
    } else if (lx.dialect === 'postgres') {
      if (this.words < 4) {
        this.head += wordCode(lx);
        this.routine = /^c(f|p|orf|orp)/.test(this.head);
      }
      if (this.routine && this.parens === 0 && lx.is('BEGIN')) this.body++;
    }
    this.words++;
  }
}

function wordCode(lx: Lexer): string {
  if (lx.is('CREATE')) return 'c';
  if (lx.is('OR')) return 'o';
  if (lx.is('REPLACE')) return 'r';
  if (lx.is('FUNCTION')) return 'f';
  if (lx.is('PROCEDURE')) return 'p';
  return '-';
}
