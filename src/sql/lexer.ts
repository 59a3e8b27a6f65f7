// The SQL lexer of the routing rules: a cursor over words, quoted names, literals, punctuation.
// Shared here: token fields and literal scanning; each dialect's rules live in its own subclass.

/** Lexical rules to follow: PostgreSQL, or MySQL/MariaDB with the default sql_mode. */
export type SqlDialect = 'postgres' | 'mysql';

/**
 * The kind of the current token. `word`: unquoted keyword or identifier; `quoted`: "name" (PostgreSQL)
 * or `name` (MySQL); `string`: any literal in quotes, including dollar quotes; `param`: `$1`;
 * `punct`: any other single character; `end`: no more tokens.
 */
export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'param' | 'punct' | 'end';

/**
 * Why the tokens cannot be trusted: a literal or comment never ends (`unterminated`), or the server
 * may read the text two ways (`ambiguous`: a MySQL versioned comment whose end depends on whether
 * the server runs it, or a NUL character inside a MySQL line comment).
 */
export type LexProblem = 'unterminated' | 'ambiguous';

export const TAB = 9, LF = 10, VT = 11, FF = 12, CR = 13, SPACE = 32, BANG = 33, DQUOTE = 34, HASH = 35, DOLLAR = 36;
export const AMP = 38, QUOTE = 39, STAR = 42, MINUS = 45, DOT = 46, SLASH = 47, BACKTICK = 96;

let scanned = 0;

/**
 * Characters consumed by all lexers of this process so far. Tests use it to prove that a decision
 * was taken without reading the rest of a long text.
 * @example const before = scannedCharacters(); classify(hugeInsert); scannedCharacters() - before // < 20
 */
export function scannedCharacters(): number {
  return scanned;
}

/**
 * A cursor over the tokens of one text: `next()` moves to the next token and the fields describe
 * it. Literal bodies are skipped with `indexOf`, comments likewise, so a pass is linear in the text
 * and allocates nothing per character. A subclass gives a dialect's trivia and token rules.
 * @example const lx = createLexer("SELECT 'a;b' -- x", 'postgres'); lx.next(); lx.upper() // 'SELECT'
 */
export abstract class Lexer {
  /** Kind of the current token. */
  kind: TokenKind = 'end';
  /** Span of the current token in `sql` (quotes and prefixes included). */
  start = 0;
  end = 0;
  /** Character code of a `punct` token. */
  char = 0;
  /** True for a PostgreSQL U&"..." name: its escapes hide what it names. */
  opaque = false;
  /** Set once the text turns out unterminated or ambiguous; the tokens after it mean nothing. */
  problem: LexProblem | undefined;
  /** MySQL comments the server runs or skips depending on its version (/*!50100 ...*\/, /*M! ...*\/). */
  conditionalComments = 0;

  protected pos = 0;
  protected readonly backslash: Finder;
  protected readonly lf: Finder;

  constructor(readonly sql: string, readonly dialect: SqlDialect) {
    this.backslash = new Finder(sql, '\\');
    this.lf = new Finder(sql, '\n');
  }

  /** Index after the trivia (whitespace, comments) that starts at `i`. */
  protected abstract skipTrivia(i: number): number;

  /** Lexes the token that starts at `i` with character code `c`. */
  protected abstract lexToken(i: number, c: number): TokenKind;

  /** After a literal with backslash escapes ending at `j`: where it continues, or -1. */
  protected continuation(_j: number): number {
    return -1;
  }

  /** Called at the end of the text, for constructs still open there. */
  protected atEnd(): void {}

  /** Characters consumed so far. */
  get consumed(): number {
    return this.pos;
  }

  /** Moves to the next token and returns its kind. */
  next(): TokenKind {
    const from = this.pos;
    const kind = this.lex();
    scanned += this.pos - from;
    return kind;
  }

  /** The current word, upper-cased. */
  upper(): string {
    return this.sql.slice(this.start, this.end).toUpperCase();
  }

  /** True when the current token is the punctuation character with code `ch`. */
  isPunct(ch: number): boolean {
    return this.kind === 'punct' && this.char === ch;
  }

  /** True when the current token is the word `keyword` (given upper-case), in any case. */
  is(keyword: string): boolean {
    return this.kind === 'word' && this.wordAt(this.start, this.end, keyword);
  }

  /** True when `sql[start, end)` is `keyword` (given upper-case) in any case; allocates nothing. */
  wordAt(start: number, end: number, keyword: string): boolean {
    return end - start === keyword.length && this.startsWithAt(start, keyword);
  }

  /** True when `sql` at `start` begins with `prefix` (given upper-case) in any case. */
  startsWithAt(start: number, prefix: string): boolean {
    if (start + prefix.length > this.sql.length) return false;
    for (let k = 0; k < prefix.length; k++) {
      const c = this.sql.charCodeAt(start + k);
      const p = prefix.charCodeAt(k);
      if (c !== p && !(p >= 65 && p <= 90 && c === p + 32)) return false;
    }
    return true;
  }

  /**
   * The upper-cased name a `word` or `quoted` token spans, quotes removed; undefined for other
   * tokens and for U&"..." names. Case is folded even for quoted names: a write is safer than a miss.
   */
  nameAt(kind: TokenKind, start: number, end: number, opaque: boolean): string | undefined {
    if (kind === 'word') return this.sql.slice(start, end).toUpperCase();
    if (kind !== 'quoted' || opaque) return undefined;
    const q = this.sql[start]!;
    return this.sql.slice(start + 1, end - 1).replaceAll(q + q, q).toUpperCase();
  }

  private lex(): TokenKind {
    const s = this.sql;
    const i = this.skipTrivia(this.pos);
    this.opaque = false;
    if (i >= s.length) {
      this.atEnd();
      this.start = this.end = this.pos = s.length;
      return (this.kind = 'end');
    }
    this.start = i;
    return this.lexToken(i, s.charCodeAt(i));
  }

  protected token(kind: TokenKind, end: number): TokenKind {
    this.end = this.pos = end;
    return (this.kind = kind);
  }

  protected punct(i: number): TokenKind {
    this.char = this.sql.charCodeAt(i);
    return this.token('punct', i + 1);
  }

  protected unterminated(): TokenKind {
    this.problem ??= 'unterminated';
    this.start = this.end = this.pos = this.sql.length;
    return (this.kind = 'end');
  }

  /** For trivia that never ends: the text is over. */
  protected unterminatedTrivia(): number {
    this.problem ??= 'unterminated';
    return this.sql.length;
  }

  /** A literal from its opening quote at `q`: doubled quotes, and backslash escapes when `escapes`. */
  protected string(q: number, quote: number, escapes: boolean): TokenKind {
    const s = this.sql;
    const mark = quote === QUOTE ? "'" : '"';
    let j = q + 1;
    for (;;) {
      const close = s.indexOf(mark, j);
      if (close < 0) return this.unterminated();
      if (escapes) {
        const b = this.backslash.from(j);
        if (b < close) {
          j = b + 2;
          continue;
        }
      }
      if (s.charCodeAt(close + 1) === quote) {
        j = close + 2;
        continue;
      }
      j = close + 1;
      const more = escapes ? this.continuation(j) : -1;
      if (more >= 0) {
        j = more + 1;
        continue;
      }
      return this.token('string', j);
    }
  }

  /** A quoted name from its opening quote at `q`; the quote doubles inside. */
  protected quoted(q: number, quote: number): TokenKind {
    const s = this.sql;
    const mark = String.fromCharCode(quote);
    let j = q + 1;
    for (;;) {
      const close = s.indexOf(mark, j);
      if (close < 0) return this.unterminated();
      if (s.charCodeAt(close + 1) === quote) {
        j = close + 2;
        continue;
      }
      return this.token('quoted', close + 1);
    }
  }
}

/** The first index of a character at or after a position, remembered so repeated searches stay linear. */
export class Finder {
  private at = -1;
  constructor(private readonly s: string, private readonly ch: string) {}

  /** Index of the first occurrence at or after `i`, or Infinity. */
  from(i: number): number {
    if (this.at < i) {
      const k = this.s.indexOf(this.ch, i);
      this.at = k < 0 ? Infinity : k;
    }
    return this.at;
  }
}

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function isAsciiLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Space, tab, newline, vertical tab, form feed, carriage return. */
export function isSpace(c: number): boolean {
  return c === SPACE || (c >= TAB && c <= CR);
}
