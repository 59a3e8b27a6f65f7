import { describe, expect, it } from 'vitest';
import { scannedCharacters, type SqlDialect } from '../../src/sql/lexer.js';
import { createLexer } from '../../src/sql/lexers.js';
import { Statements } from '../../src/sql/statements.js';
import { classify, sessionEffect } from '../../src/routing.js';

/** The tokens of a text as `kind:text` strings (punctuation as its character). */
function tokens(sql: string, dialect: SqlDialect): string[] {
  const lx = createLexer(sql, dialect);
  const out: string[] = [];
  for (let kind = lx.next(); kind !== 'end'; kind = lx.next()) {
    out.push(kind === 'punct' ? String.fromCharCode(lx.char) : `${kind}:${sql.slice(lx.start, lx.end)}`);
  }
  if (lx.problem) out.push(`!${lx.problem}`);
  return out;
}

/** The statements of a text, each as its tokens joined by spaces. */
function statements(sql: string, dialect: SqlDialect): string[] {
  const st = new Statements(createLexer(sql, dialect));
  const out: string[] = [];
  while (st.nextStatement()) {
    const parts: string[] = [];
    for (let kind = st.next(); kind !== 'end'; kind = st.next()) parts.push(sql.slice(st.lexer.start, st.lexer.end));
    out.push((st.continuation ? '~' : '') + parts.join(' '));
  }
  return out;
}

describe('PostgreSQL lexer', () => {
  it.each([
    // # is an operator, -- and nested /* */ are comments, -- ends at \n or \r.
    ["SELECT '{\"a\":1}'::jsonb #>> '{a}'; DELETE", ['word:SELECT', `string:'{"a":1}'`, ':', ':', 'word:jsonb', '#', '>', '>', "string:'{a}'", ';', 'word:DELETE']],
    ['SELECT 1 # 2\n; DELETE', ['word:SELECT', 'number:1', '#', 'number:2', ';', 'word:DELETE']],
    ['a -- c\rb', ['word:a', 'word:b']],
    ['a -- c\vb', ['word:a']],
    ['a /* x /* y */ z */ b', ['word:a', 'word:b']],
    ['a /*/ x */ b', ['word:a', 'word:b']],
    ['a +/* c */- b', ['word:a', '+', '-', 'word:b']],
    // Strings: '' doubles; backslashes escape only in a standalone E prefix.
    ["'it''s' x", ["string:'it''s'", 'word:x']],
    ["'a\\' x '", ["string:'a\\'", 'word:x', '!unterminated']],
    ["E'a\\'b' x", ["string:E'a\\'b'", 'word:x']],
    ["e'a\\\\' x", ["string:e'a\\\\'", 'word:x']],
    ["abe'a\\' x", ['word:abe', "string:'a\\'", 'word:x']],
    ["1e'\\'' x", ['number:1', "string:e'\\''", 'word:x']],
    ["1.5e3 x", ['number:1.5e3', 'word:x']],
    // An E literal continues after whitespace with a newline (-- comments allowed), still with escapes.
    ["E'a'\n'\\' x ' ; y", ["string:E'a'\n'\\' x '", ';', 'word:y']],
    ["E'a' -- c\n -- d\n'\\' x ' y", ["string:E'a' -- c\n -- d\n'\\' x '", 'word:y']],
    ["E'a' '\\' x", ["string:E'a'", "string:'\\'", 'word:x']],
    ["E'a' /* c */\n'\\' x", ["string:E'a'", "string:'\\'", 'word:x']],
    ["U&'\\0061' x", ["string:U&'\\0061'", 'word:x']],
    ['U&"\\0061"(1)', ['quoted:U&"\\0061"', '(', 'number:1', ')']],
    ['"a""b" x', ['quoted:"a""b"', 'word:x']],
    // Dollar quotes: [letter _ non-ASCII][letter digit _ non-ASCII]*, case-sensitive, no $ in the tag.
    ['$$ a \'b $$ x', ["string:$$ a 'b $$", 'word:x']],
    ['$a$ $A$ $b$ $a$ x', ['string:$a$ $A$ $b$ $a$', 'word:x']],
    ['$é$ \' $é$ x', ["string:$é$ ' $é$", 'word:x']],
    ['$ключ$ -- $ключ$ x', ['string:$ключ$ -- $ключ$', 'word:x']],
    ['$_1$ x $_1$ y', ['string:$_1$ x $_1$', 'word:y']],
    ['$a$ $ba$a$ x', ['string:$a$ $ba$a$', 'word:x']],
    ['$1 $2', ['param:$1', 'param:$2']],
    ['$1$a$ b $a$', ['param:$1', 'string:$a$ b $a$']],
    // $ inside identifiers: a$b and x$tag$ are names, not quotes.
    ['a$b x$tag$ y', ['word:a$b', 'word:x$tag$', 'word:y']],
    ['ñame $x', ['word:ñame', '$', 'word:x']],
    ['\'unterminated', ['!unterminated']],
    ['/* unterminated /* */', ['!unterminated']],
    ['$q$ unterminated', ['!unterminated']],
  ] as const)('%j', (sql, expected) => expect(tokens(sql, 'postgres')).toEqual(expected));
});

describe('MySQL lexer', () => {
  it.each([
    ['a # c ; d\n b', ['word:a', 'word:b']],
    ['a # c\r; d\n b', ['word:a', 'word:b']],
    // -- is a comment only before whitespace, a control character or the end.
    ['SELECT 1--1', ['word:SELECT', 'number:1', '-', '-', 'number:1']],
    ['a -- c\n b', ['word:a', 'word:b']],
    ['a --\tc\n b', ['word:a', 'word:b']],
    ['a --\x01c\n b', ['word:a', 'word:b']],
    ['a --', ['word:a']],
    ['a --x', ['word:a', '-', '-', 'word:x']],
    // /* */ does not nest.
    ['a /* x /* y */ b */', ['word:a', 'word:b', '*', '/']],
    ['a /*+ hint */ b', ['word:a', 'word:b']],
    // Executable comments hold code.
    ['a /*! b */ c', ['word:a', 'word:b', 'word:c']],
    ['a /*!50100 b */ c', ['word:a', 'word:b', 'word:c']],
    ['a /*M! b */ c', ['word:a', 'word:b', 'word:c']],
    ['a /*M!100100 b */ c', ['word:a', 'word:b', 'word:c']],
    ['a /*!123 b */ c', ['word:a', 'number:123', 'word:b', 'word:c']],
    ['a /*! b /* x */ c */ d', ['word:a', 'word:b', 'word:c', 'word:d']],
    ["a /*! b ' */ ' */ c", ['word:a', 'word:b', "string:' */ '", 'word:c']],
    ['a /*! b # */ x\n */ c', ['word:a', 'word:b', 'word:c']],
    ['a /*! b', ['word:a', 'word:b', '!unterminated']],
    // A versioned comment the server may skip must end at the same place when read as code.
    ["a /*!99999 ' */ , b -- ' */", ['word:a', "string:' */ , b -- '", '!ambiguous']],
    ['a /*!99999 /* x */ b */ c', ['word:a', 'word:b', 'word:c', '!ambiguous']],
    ['a /*! /*!50000 b */ c */', ['word:a', 'word:c', '!ambiguous']],
    // Backslash escapes and doubling in both quotes; `` names double.
    ['"a\\"" b', ['string:"a\\""', 'word:b']],
    ["'a\\'' b", ["string:'a\\''", 'word:b']],
    ["'a''b' c", ["string:'a''b'", 'word:c']],
    ["'a\\\\' b", ["string:'a\\\\'", 'word:b']],
    ['`a``b` c', ['quoted:`a``b`', 'word:c']],
    ['`a\\` b', ['quoted:`a\\`', 'word:b']],
    // $ anywhere in words, words starting with digits, non-ASCII letters, no dollar quotes.
    ['a$b $x 1a ñ', ['word:a$b', 'word:$x', 'number:1a', 'word:ñ']],
    ['$$ a $$', ['word:$$', 'word:a', 'word:$$']],
    ["@x @'y' @@sys", ['@', 'word:x', '@', "string:'y'", '@', '@', 'word:sys']],
    ['a # \0 b\n c', ['word:a', '\0', 'word:b', 'word:c', '!ambiguous']],
    ["'unterminated\\'", ['!unterminated']],
  ] as const)('%j', (sql, expected) => expect(tokens(sql, 'mysql')).toEqual(expected));

  it('skips a versioned comment when told the server is older', () => {
    const lx = createLexer('a /*!99999 /* x */ b */ c', 'mysql', false);
    const out: string[] = [];
    while (lx.next() !== 'end') out.push(lx.upper());
    expect(out).toEqual(['A', 'C']);
    expect(lx.conditionalComments).toBe(1);
  });
});

describe('statements', () => {
  it('splits at semicolons outside literals and comments, skipping empty ones', () => {
    expect(statements("SELECT ';'; ; -- ;\n/* ; */ COMMIT;", 'postgres')).toEqual(["SELECT ';'", 'COMMIT']);
    expect(statements('SELECT 1 # ;\n; BEGIN', 'mysql')).toEqual(['SELECT 1', 'BEGIN']);
    expect(statements('SELECT 1 # ;\n; BEGIN', 'postgres')).toEqual(['SELECT 1 #', 'BEGIN']);
  });

  it('marks pieces that start inside parentheses or a BEGIN ATOMIC body', () => {
    expect(statements('SELECT (1; COMMIT); COMMIT', 'postgres')).toEqual(['SELECT ( 1', '~COMMIT )', 'COMMIT']);
    expect(statements('CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END; COMMIT', 'postgres'))
      .toEqual(['CREATE FUNCTION f ( ) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END', '~SELECT 2', '~END', 'COMMIT']);
    expect(statements('CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC SELECT 1; END; END', 'postgres')).toEqual(['CREATE OR REPLACE PROCEDURE p ( ) BEGIN ATOMIC SELECT 1', '~END', 'END']);
    // Only routines have bodies: a closed CASE ... END elsewhere opens nothing; an unclosed one does.
    expect(statements('SELECT CASE WHEN true THEN 1 END; END', 'postgres')).toEqual(['SELECT CASE WHEN true THEN 1 END', 'END']);
    expect(statements('SELECT CASE WHEN true THEN 1; COMMIT', 'mysql')).toEqual(['SELECT CASE WHEN true THEN 1', '~COMMIT']);
    expect(statements('CREATE TABLE begin (a int); COMMIT', 'postgres')).toEqual(['CREATE TABLE begin ( a int )', 'COMMIT']);
  });
});

describe('linear work and early stops', () => {
  const tail = ` ('${'x'.repeat(1000)}', 1),`.repeat(10_000) + " ('y', 2)";

  it('classify decides a write by its first word without reading the rest of 10 MB', () => {
    const insert = 'INSERT INTO t (a, b) VALUES' + tail;
    expect(insert.length).toBeGreaterThan(10_000_000);
    const before = scannedCharacters();
    expect(classify(insert)).toBe('write');
    expect(classify('/* app */ UPDATE t SET a = 1;' + tail, 'mysql')).toBe('write');
    expect(scannedCharacters() - before).toBeLessThan(64);
  });

  it('a lexer reports how far it read', () => {
    const lx = createLexer('DELETE FROM t' + tail, 'postgres');
    lx.next();
    expect(lx.consumed).toBe(6);
  });

  it('sessionEffect reads all of a long text once', () => {
    const before = scannedCharacters();
    expect(sessionEffect('INSERT INTO t (a, b) VALUES' + tail + '; COMMIT', 'postgres')).toBe('end');
    expect(sessionEffect('INSERT INTO t (a, b) VALUES' + tail + '; SET x = 1', 'mysql')).toBe('session');
    const read = scannedCharacters() - before;
    expect(read).toBeGreaterThan(2 * tail.length);
    expect(read).toBeLessThan(2 * tail.length + 200);
  });

  it('long backslash-escaped literals stay linear', () => {
    // Each literal has a backslash far ahead: a naive indexOf per literal would be quadratic.
    const sql = "SELECT " + "'a', ".repeat(200_000) + "'\\''";
    const lx = createLexer(sql, 'mysql');
    let n = 0;
    while (lx.next() !== 'end') n++;
    expect(n).toBe(400_002);
    expect(lx.consumed).toBe(sql.length);
  });
});
