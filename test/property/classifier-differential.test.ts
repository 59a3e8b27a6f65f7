// Differential tests of the lexer's decisions against real servers: a text classify() calls a read
// runs read-only without a read-only error or a lock; a text whose sessionEffect() is 'none' or 'end'
// leaves no transaction or session state. Texts mix every kind of comment, literal and operator
// with writing and locking calls. P2C_FC_SEED replays a run; the seed is printed either way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { classify, sessionEffect } from '../../src/routing.js';
import type { SqlDialect } from '../../src/sql/lexer.js';
import { createLexer } from '../../src/sql/lexers.js';
import { Statements } from '../../src/sql/statements.js';

const RUNS = Number(process.env['P2C_DIFF_RUNS'] ?? 5000);
const EFFECT_RUNS = Number(process.env['P2C_DIFF_EFFECT_RUNS'] ?? 3000);
const SEED = Number(process.env['P2C_FC_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const PG_URL = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const MY_URL = { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test' };
/** Objects the generator names live here (a PostgreSQL schema, a MariaDB database). */
const SPACE = 'p2c_classifier_diff';
const LOCK_NAMES = ['p2c_l1', 'p2c_l2'];
const USER_WRITE = 'diff_w';
const USER_READ = 'diff_r';

// ---------------------------------------------------------------------------------------------
// Generator: a statement is a list of tokens; trivia (whitespace, comments of every kind, or
// nothing at all) goes between every two tokens.

type Gen = fc.Arbitrary<readonly string[]>;
const tok = (...parts: string[]): Gen => fc.constant(parts);
const cat = (...gens: Gen[]): Gen => fc.tuple(...gens).map((parts) => parts.flat());
const opt = (g: Gen): Gen => fc.oneof(tok(), g);

/** Literal contents with the characters lexers trip over. */
const content = fc.array(fc.constantFrom(
  '', 'x', "it's", '\\', 'a\\', '\\\\', "'", "''", '"', '`', '--', '-- ', '/*', '*/', '#', ';', '$$', '$a$', '$é$', 'é', 'ключ',
  '\n', '\r', '; DELETE FROM t WHERE 1=0; --', "nextval('s')", "GET_LOCK('p2c_l1', 0)", "E'", "\\'", '*/ ; DELETE FROM t; /*',
), { maxLength: 4 }).map((parts) => parts.join(''));

const mysqlEscape = (c: string, quote: string, doubled: boolean) =>
  c.replaceAll('\\', '\\\\').replaceAll(quote, doubled ? quote + quote : '\\' + quote);
const pgEscape = (c: string, doubled: boolean) => c.replaceAll('\\', '\\\\').replaceAll("'", doubled ? "''" : "\\'");

function dollar(tag: string, c: string): string {
  const delimiter = `$${tag}$`;
  const body = c.includes(delimiter) || c.endsWith('$') ? c.replaceAll('$', '') : c;
  return delimiter + body + delimiter;
}

/** PostgreSQL text literals of every kind, each holding a generated content. */
const pgText: Gen = fc.oneof(
  content.map((c) => ["'" + c.replaceAll("'", "''") + "'"]),
  fc.tuple(fc.constantFrom('E', 'e'), content, fc.boolean()).map(([e, c, d]) => [`${e}'${pgEscape(c, d)}'`]),
  // An E literal continued after a newline keeps its backslash escapes.
  fc.tuple(content, content, fc.constantFrom('\n', ' \n ', '-- c\n', '\r\n', ' -- x\n -- y\n'), fc.boolean())
    .map(([a, b, ws, d]) => [`E'${pgEscape(a, d)}'${ws}'${pgEscape(b, d)}'`]),
  content.map((c) => [`U&'${c.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`]),
  fc.tuple(fc.constantFrom('', 'a', 'A', '_1', 'é', 'ключ', 'tag'), content).map(([t, c]) => [dollar(t, c)]),
  fc.constant(["N'x'"]),
);

const mysqlText: Gen = fc.oneof(
  fc.tuple(content, fc.boolean()).map(([c, d]) => ["'" + mysqlEscape(c, "'", d) + "'"]),
  fc.tuple(content, fc.boolean()).map(([c, d]) => ['"' + mysqlEscape(c, '"', d) + '"']),
  fc.tuple(content, fc.boolean()).map(([c, d]) => ["_utf8mb4'" + mysqlEscape(c, "'", d) + "'"]),
  fc.constant(["N'x'"]),
);

const names = fc.constantFrom('x', 'a b', 'nextval', 'FOR UPDATE', 'it"s', 'a`b', 'é', '$a$', 'DELETE');
const pgAlias: Gen = fc.oneof(names.map((n) => ['"' + n.replaceAll('"', '""') + '"']), fc.constantFrom(['a$b'], ['x$tag$'], ['ñame'], ['_x'], ['y']));
const mysqlAlias: Gen = fc.oneof(names.map((n) => ['`' + n.replaceAll('`', '``') + '`']), fc.constantFrom(['a$b'], ['$x'], ['1a'], ['ñame'], ['y']));

/** A token list; the tokens `N`, `T`, `B` are holes for a number, text and boolean expression. */
type Template = readonly string[];

/** What the grammar needs from a dialect. */
interface Dialect {
  text: Gen;
  alias: Gen;
  numbers: Template[];
  /** Calls by result type; the writing ones (weight 1 against 4) are what the classifier must see. */
  numCalls: Template[];
  numWrites: Template[];
  textCalls: Template[];
  textWrites: Template[];
  boolWrites: Template[];
  /** Calls only valid as a select item (PostgreSQL's void functions). */
  itemWrites: Template[];
  numOps: string[];
  textOps: Template[];
  items: Template[];
  trivia: fc.Arbitrary<string>;
  extraStatements: Gen[];
  lockTails: Template[];
  explain: Template[];
}

/**
 * Trivia between tokens: mostly a space, sometimes nothing (a comment right at a word boundary),
 * comments of every kind, and rarely comments that hold code in one dialect and not the other.
 * MySQL versioned comments stay rare: two in one text make it a write without further thought.
 */
function trivia(plain: string[], payload: string[], conditional: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 100, arbitrary: fc.constant(' ') },
    { weight: 20, arbitrary: fc.constant('') },
    { weight: 30, arbitrary: fc.constantFrom(...plain) },
    { weight: 3, arbitrary: fc.constantFrom(...payload) },
    ...(conditional.length ? [{ weight: 1, arbitrary: fc.constantFrom(...conditional) }] : []),
  );
}

const pgTrivia = trivia(
  ['\n', '\t', '\r', ' -- c\n', '--x\r', '/* c */', '/* a /* b */ c */', '/**/', '/*/ x */', "-- it's\n", "/* ' */", '/* $$ */', '--$a$\n', '/* -- */',
    '-- /*\n', '/*/**/*/', "/* E'\\' */", '\f'],
  // A nested comment hides the call; after \r the line comment is over and the call is code.
  ['/* a /* b */ , pg_advisory_lock(7) */', '--x\r, pg_advisory_lock(15)\n', '-- \\\n, pg_advisory_lock(16)'],
  [],
);

const mysqlTrivia = trivia(
  ['\n', '\t', '\r', '# c\n', "# it's\n", '-- c\n', '--\tc\n', '--\x01\n', '/* c */', '/**/', "/* ' */", '/*+ hint */', '/* a /* b */', '/* -- */',
    '-- /*\n', '#*/\n', '/*! */', '/*!*/'],
  // Not nested in MySQL: the call after the first */ is code; an executable comment holds code.
  ["/* a /* b */ , GET_LOCK('p2c_l1', 0) /* */", "/*! , GET_LOCK('p2c_l2', 0) */", "# \r, GET_LOCK('p2c_l1', 0)\n"],
  ['/*!50100 */', '/*M! */', '/*M!100100 */', '/*!99999 x */', "/*!99999 ' */", '/*!100100 */'],
);

const pgGrammar: Dialect = {
  text: pgText,
  alias: pgAlias,
  numbers: [['1'], ['2'], ['0'], ['2.5'], ['1e3'], ['a'], ['2#1']],
  numCalls: [['abs', '(', 'N', ')'], ['length', '(', 'T', ')'], ['"length"', '(', 'T', ')'], ['pg_catalog', '.', 'abs', '(', 'N', ')'], [USER_READ, '(', ')'],
    ['greatest', '(', 'N', ',', 'N', ')']],
  numWrites: [['nextval', '(', "'s'", ')'], ['setval', '(', "'s'", ',', '5', ')'], ['currval', '(', "'s'", ')'], ['lastval', '(', ')'],
    ['txid_current', '(', ')'], [USER_WRITE, '(', ')'], ['pg_catalog', '.', 'nextval', '(', "'s'", ')']],
  textCalls: [['lower', '(', 'T', ')'], ['replace', '(', 'T', ',', 'T', ',', 'T', ')'], ['"lower"', '(', 'T', ')'], ["'{\"a\":1}'::jsonb", '#>>', "'{a}'"], ['b']],
  textWrites: [['set_config', '(', "'p2c.x'", ',', 'T', ',', 'false', ')'], ['pg_current_xact_id', '(', ')', '::text']],
  boolWrites: [['pg_try_advisory_lock', '(', '8', ')'], ['pg_try_advisory_xact_lock_shared', '(', '10', ')'], ['pg_catalog', '.', '"pg_try_advisory_lock"', '(', '13', ')']],
  itemWrites: [['pg_advisory_lock', '(', '7', ')'], ['pg_advisory_xact_lock', '(', '7', ')'], ['pg_advisory_lock_shared', '(', '9', ')'],
    ['pg_notify', '(', "'p2c'", ',', "'x'", ')'], ['pg_catalog', '.', 'pg_advisory_lock', '(', '11', ')'], ['"pg_advisory_lock"', '(', '12', ')'],
    ['U&"\\0070g_advisory_lock"', '(', '14', ')']],
  numOps: ['+', '-', '*', '#', '- -'],
  textOps: [['||']],
  items: [["X'1F'"], ["B'101'"], ['pg_sleep', '(', '0', ')'], ['pg_advisory_lock_status']],
  trivia: pgTrivia,
  extraStatements: [
    tok('TABLE', 't'), tok('SHOW', 'search_path'), tok('EXPLAIN', 'DELETE', 'FROM', 't', 'WHERE', '1=0'),
    tok('WITH', 'x', 'AS', '(', 'DELETE', 'FROM', 't', 'WHERE', '1=0', 'RETURNING', 'a', ')', 'SELECT', '*', 'FROM', 'x'),
    tok('SELECT', '*', 'INTO', 'TEMP', 'zz', 'FROM', 't'), tok('DELETE', 'FROM', 't', 'WHERE', '1=0'),
    tok('UPDATE', 't', 'SET', 'a', '=', 'a', 'WHERE', '1=0'), tok('INSERT', 'INTO', 'w', 'SELECT', '1', 'WHERE', '1=0'),
    tok('SET', 'search_path', '=', 'public'), tok('COMMIT'), tok('BEGIN'),
    // Transaction control and session state, for the session-effect differential.
    tok('START', 'TRANSACTION'), tok('ROLLBACK'), tok('COMMIT', 'AND', 'CHAIN'), tok('END'), tok('ABORT'), tok('SAVEPOINT', 'sp'),
    tok('ROLLBACK', 'TO', 'sp'), tok('RELEASE', 'sp'), tok('SET', 'p2c.x', '=', "'1'"), tok('SET', 'LOCAL', 'p2c.x', '=', "'2'"),
    tok('SET', 'application_name', '=', "'p2c'"), tok('LISTEN', 'p2c'), tok('PREPARE', 'p2cq', 'AS', 'SELECT', '1'),
    tok('DECLARE', 'c', 'CURSOR', 'WITH', 'HOLD', 'FOR', 'SELECT', '1'), tok('SELECT', 'set_config', '(', "'p2c.x'", ',', "'3'", ',', 'false', ')'),
  ],
  lockTails: [['FOR', 'UPDATE'], ['FOR', 'SHARE'], ['FOR', 'NO', 'KEY', 'UPDATE'], ['LIMIT', '1'], ['FOR', 'KEY', 'SHARE'], ['ORDER', 'BY', '1']],
  explain: [[], ['ANALYZE'], ['(', 'ANALYZE', 'off', ')'], ['(', 'ANALYZE', ')'], ['(', 'COSTS', 'off', ')']],
};

const myGrammar: Dialect = {
  text: mysqlText,
  alias: mysqlAlias,
  // 1--1 is 1 - (-1) in MySQL: no comment starts there.
  numbers: [['1'], ['2'], ['0'], ['2.5'], ['1e3'], ['0x1F'], ['a'], ['1--1'], ['a--0x1F']],
  numCalls: [['ABS', '(', 'N', ')'], ['LENGTH', '(', 'T', ')'], ['`LENGTH`', '(', 'T', ')'], ['SLEEP', '(', '0', ')'], ['IS_USED_LOCK', '(', "'p2c_l1'", ')'],
    [USER_READ, '(', ')'], ['@@version_comment', 'IS', 'NULL']],
  numWrites: [['GET_LOCK', '(', "'p2c_l1'", ',', '0', ')'], ['`GET_LOCK`', '(', "'p2c_l2'", ',', '0', ')'], ['get_lock', '(', "'p2c_l1'", ',', '0', ')'],
    ['RELEASE_LOCK', '(', "'p2c_l1'", ')'], ['NEXTVAL', '(', 's', ')'], ['LASTVAL', '(', 's', ')'], ['SETVAL', '(', 's', ',', '5', ')'],
    ['NEXT', 'VALUE', 'FOR', 's'], ['PREVIOUS', 'VALUE', 'FOR', 's'], ['LAST_INSERT_ID', '(', '5', ')'], ['(', '@x', ':=', '1', ')'], [USER_WRITE, '(', ')']],
  textCalls: [['LOWER', '(', 'T', ')'], ['REPLACE', '(', 'T', ',', 'T', ',', 'T', ')'], ['`LOWER`', '(', 'T', ')'], ['CONCAT', '(', 'T', ',', 'T', ')'], ['b']],
  textWrites: [],
  boolWrites: [],
  itemWrites: [],
  numOps: ['+', '-', '--', '*', 'DIV', '#', '- -'],
  textOps: [],
  items: [["X'1F'"], ["B'101'"], ['@@version']],
  trivia: mysqlTrivia,
  extraStatements: [
    tok('SHOW', 'TABLES'), tok('DESCRIBE', 't'), tok('EXPLAIN', 'DELETE', 'FROM', 't', 'WHERE', '1=0'), tok('DELETE', 'FROM', 't', 'WHERE', '1=0'),
    tok('UPDATE', 't', 'SET', 'a', '=', 'a', 'WHERE', '1=0'), tok('INSERT', 'INTO', 'w', 'SELECT', '1', 'FROM', 'DUAL', 'WHERE', '1=0'),
    tok('DO', 'GET_LOCK', '(', "'p2c_l1'", ',', '0', ')'), tok('SET', '@v', '=', '1'), tok('CREATE', 'TABLE', 'zz', '(', 'a', 'int', ')'),
    tok('COMMIT'), tok('BEGIN'), tok('SELECT', '1', 'INTO', '@v'),
    tok('START', 'TRANSACTION'), tok('ROLLBACK'), tok('COMMIT', 'AND', 'CHAIN'), tok('BEGIN', 'WORK'), tok('ROLLBACK', 'WORK', 'AND', 'CHAIN'),
    tok('SAVEPOINT', 'sp'), tok('ROLLBACK', 'TO', 'sp'), tok('RELEASE', 'SAVEPOINT', 'sp'), tok('SET', 'autocommit', '=', '0'), tok('SET', '@x', '=', '1'),
  ],
  lockTails: [['FOR', 'UPDATE'], ['LOCK', 'IN', 'SHARE', 'MODE'], ['LIMIT', '1'], ['FOR', 'SHARE'], ['ORDER', 'BY', '1']],
  explain: [[], ['EXTENDED'], ['FORMAT', '=', 'JSON']],
};

/** Fills the holes of a template (N, T, B) with generated expressions. */
function fill(template: Template, holes: { N: Gen; T: Gen; B: Gen }): Gen {
  return cat(...template.map((t) => (t === 'N' || t === 'T' || t === 'B' ? holes[t] : tok(t))));
}

function statementGen(d: Dialect, dialect: SqlDialect): Gen {
  const templates = (list: Template[], holes: { N: Gen; T: Gen; B: Gen }): Gen[] => list.map((t) => fill(t, holes));
  const { num, text, bool } = fc.letrec<{ num: readonly string[]; text: readonly string[]; bool: readonly string[] }>((tie) => {
    const holes = { N: tie('num'), T: tie('text'), B: tie('bool') };
    const writes = (list: Template[]) => (list.length ? [{ weight: 1, arbitrary: fc.oneof(...templates(list, holes)) }] : []);
    return {
      num: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        { weight: 6, arbitrary: fc.constantFrom(...d.numbers) },
        { weight: 3, arbitrary: fc.oneof(...templates(d.numCalls, holes)) },
        ...writes(d.numWrites),
        { weight: 2, arbitrary: cat(tie('num'), fc.constantFrom(...d.numOps).map((o) => o.split(' ')), tie('num')) },
        { weight: 1, arbitrary: cat(tok('('), tie('num'), tok(')')) },
        { weight: 1, arbitrary: cat(tok('(', 'SELECT'), tie('num'), tok(')')) },
        { weight: 1, arbitrary: cat(tok('CASE', 'WHEN'), tie('bool'), tok('THEN'), tie('num'), tok('ELSE'), tie('num'), tok('END')) },
        // Executable comments hold code in MySQL; a versioned one may be skipped by the server.
        ...(dialect === 'mysql'
          ? [{ weight: 1, arbitrary: cat(tie('num'), fc.constantFrom('/*!', '/*!50100', '/*M!', '/*M!100100', '/*!99999', '/*!100100', '/*M!999999').map((o) => [o, '+']), tie('num'), tok('*/')) }]
          : []),
      ),
      text: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        { weight: 6, arbitrary: d.text },
        { weight: 2, arbitrary: fc.oneof(...templates(d.textCalls, holes)) },
        ...writes(d.textWrites),
        ...(d.textOps.length ? [{ weight: 1, arbitrary: cat(tie('text'), fc.constantFrom(...d.textOps), tie('text')) }] : []),
        { weight: 1, arbitrary: cat(tok('(', 'SELECT'), tie('text'), tok(')')) },
        // ELSE'...' glued: the E ends a keyword and is no prefix.
        { weight: 1, arbitrary: cat(tok('CASE', 'WHEN'), tie('bool'), tok('THEN'), tie('text'), tok('ELSE'), tie('text'), tok('END')) },
      ),
      bool: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        { weight: 3, arbitrary: cat(tie('num'), fc.constantFrom(['='], ['<>'], ['<']), tie('num')) },
        { weight: 2, arbitrary: cat(tie('text'), fc.constantFrom(['='], ['<>'], ['LIKE']), tie('text')) },
        { weight: 1, arbitrary: fc.constantFrom(['TRUE'], ['FALSE']) },
        ...writes(d.boolWrites),
        { weight: 1, arbitrary: cat(tie('bool'), fc.constantFrom(['AND'], ['OR']), tie('bool')) },
        { weight: 1, arbitrary: cat(tok('('), tie('bool'), tok(')')) },
      ),
    };
  });
  const holes = { N: num, T: text, B: bool };
  const writing = fc.oneof(...[d.numWrites, d.textWrites, d.boolWrites, d.itemWrites].flat().map((t) => fill(t, holes)));
  const value = fc.oneof(
    { weight: 4, arbitrary: num },
    { weight: 4, arbitrary: text },
    { weight: 1, arbitrary: bool },
    { weight: 1, arbitrary: fc.constantFrom(...d.items) },
    ...(d.itemWrites.length ? [{ weight: 1, arbitrary: fc.constantFrom(...d.itemWrites) }] : []),
  );
  const item = cat(value, opt(cat(tok('AS'), d.alias)));
  const items = fc.array(item, { minLength: 1, maxLength: 3 }).map((xs) => xs.flatMap((x, i) => (i === 0 ? x : [',', ...x])));
  const where = opt(cat(tok('WHERE'), bool));
  const select = cat(tok('SELECT'), items, fc.oneof({ weight: 4, arbitrary: tok('FROM', 't') }, { weight: 1, arbitrary: tok() }), where,
    fc.oneof({ weight: 4, arbitrary: tok() }, { weight: 1, arbitrary: fc.constantFrom(...d.lockTails) }));
  // UNION needs the same number of columns on both sides.
  const select1 = cat(tok('SELECT'), value, tok('FROM', 't'), where);
  return fc.oneof(
    { weight: 8, arbitrary: select },
    { weight: 1, arbitrary: cat(tok('WITH', 'x', 'AS', '('), select1, tok(')', 'SELECT', '*', 'FROM', 'x')) },
    { weight: 1, arbitrary: cat(tok('VALUES', '('), value, tok(')')) },
    { weight: 1, arbitrary: cat(tok('('), select1, tok(')', 'UNION', '('), select1, tok(')')) },
    { weight: 1, arbitrary: cat(tok('EXPLAIN'), fc.constantFrom(...d.explain), select) },
    { weight: 1, arbitrary: fc.oneof(...d.extraStatements) },
    // A writing call between two tricky literals: a lexer that misreads either end hides it.
    { weight: 1, arbitrary: cat(tok('SELECT'), text, tok(','), writing, tok(','), text, tok('FROM', 't')) },
  );
}

const isWordChar = (c: string | undefined) => c !== undefined && /[\p{L}\p{N}_$]/u.test(c);

/**
 * One text: one to three statements, every token separated by generated trivia. Nothing between
 * two word characters would merge the words, so a space goes there instead.
 */
function textGen(d: Dialect, dialect: SqlDialect): fc.Arbitrary<string> {
  const statement = statementGen(d, dialect);
  const tokens = fc.oneof(fc.array(statement, { minLength: 1, maxLength: 1 }), fc.array(statement, { minLength: 2, maxLength: 3 }))
    .map((list) => list.flatMap((s, i) => (i === 0 ? s : [';', ...s])))
    .chain((ts) => fc.tuple(fc.constant(ts), fc.array(d.trivia, { minLength: ts.length + 1, maxLength: ts.length + 1 }), fc.boolean()));
  return tokens.map(([ts, trivia, semicolon]) => {
    let text = trivia[0]!;
    ts.forEach((t, i) => {
      const gap = trivia[i + 1]!;
      const next = ts[i + 1];
      text += t + (gap === '' && next !== undefined && isWordChar(t.at(-1)) && isWordChar(next[0]) ? ' ' : gap);
    });
    return semicolon ? text + ';' : text;
  });
}

// ---------------------------------------------------------------------------------------------
// Servers. Both probe sessions make every transaction read-only, so no generated text can write.

interface Outcome {
  /** The server's error code (SQLSTATE or MySQL errno), undefined on success. */
  code: string | number | undefined;
  message: string;
  /** Result sets the server returned (on success). */
  results: number;
  /** Locks held after the statement (before the rollback) and after the rollback. */
  locksBefore: number;
  locksAfter: number;
}

/** What a text left on the session: an open transaction, and state that outlives it. */
interface Leftover {
  ok: boolean;
  inTransaction: boolean;
  state: string[];
}

interface Probe {
  dialect: SqlDialect;
  /** Runs a text inside a read-only transaction, then rolls back. */
  run(text: string): Promise<Outcome>;
  /** Runs a text as a routing client would (inside a transaction or not) and reports what it left. */
  leftover(text: string, insideTransaction: boolean): Promise<Leftover>;
  readOnlyError(code: string | number | undefined): boolean;
  writtenRows(): Promise<number>;
}

async function unreachable(what: string, err: unknown): Promise<never> {
  throw new Error(`${what} is unreachable (${(err as Error).message}); the classifier differential test needs it running`);
}

async function postgresProbe(): Promise<{ probe: Probe; close: () => Promise<void> }> {
  const admin = new pg.Client(PG_URL);
  await admin.connect().catch((err) => unreachable(`PostgreSQL at ${PG_URL.host}:${PG_URL.port} (database ${PG_URL.database}, user ${PG_URL.user})`, err));
  await admin.query(`DROP SCHEMA IF EXISTS ${SPACE} CASCADE; CREATE SCHEMA ${SPACE}; SET search_path = ${SPACE};
    CREATE TABLE t (a int, b text); INSERT INTO t VALUES (1, 'x'), (2, 'y');
    CREATE TABLE w (a int); CREATE SEQUENCE s;
    CREATE FUNCTION diff_w() RETURNS int LANGUAGE plpgsql AS $$ BEGIN INSERT INTO w VALUES (1); RETURN 1; END $$;
    CREATE FUNCTION diff_r() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;`);
  // Startup options are what RESET and DISCARD ALL return to; a hidden COMMIT cannot escape.
  const client = new pg.Client({ ...PG_URL, options: `-c search_path=${SPACE} -c default_transaction_read_only=on -c statement_timeout=2000 -c lock_timeout=1000` });
  await client.connect();
  const advisory = async () => Number((await client.query("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")).rows[0].n);
  const stateQuery = `SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks,
    (SELECT count(*) FROM pg_listening_channels()) AS listening, (SELECT count(*) FROM pg_prepared_statements) AS prepared,
    (SELECT count(*) FROM pg_cursors) AS cursors, (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()) AS temp_tables,
    coalesce(current_setting('p2c.x', true), '') <> '' AS guc, current_setting('application_name') <> '' AS application_name,
    current_setting('default_transaction_read_only') <> 'on' AS read_write`;
  const probe: Probe = {
    dialect: 'postgres',
    async run(text) {
      await client.query('BEGIN READ ONLY');
      const out: Outcome = { code: undefined, message: '', results: 0, locksBefore: 0, locksAfter: 0 };
      try {
        const res = (await client.query(text)) as unknown;
        out.results = Array.isArray(res) ? res.length : 1;
        out.locksBefore = await advisory();
      } catch (err) {
        out.code = (err as { code?: string }).code;
        out.message = (err as Error).message;
      } finally {
        await client.query('ROLLBACK');
      }
      // Session-level advisory locks survive the rollback (and a failed statement).
      out.locksAfter = await advisory();
      if (out.locksAfter > 0) await client.query('SELECT pg_advisory_unlock_all()');
      await client.query('RESET ALL');
      return out;
    },
    async leftover(text, inside) {
      if (inside) await client.query('BEGIN');
      const ok = await client.query(text).then(() => true, () => false);
      // SAVEPOINT fails with 25P01 only outside a transaction block (25P02: in an aborted one).
      const inTransaction = await client.query('SAVEPOINT p2c_probe').then(() => true, (err: { code?: string }) => err.code !== '25P01');
      await client.query('ROLLBACK');
      const row = (await client.query(stateQuery)).rows[0] as Record<string, unknown>;
      const state = Object.entries(row).filter(([, v]) => v !== false && v !== '0').map(([k, v]) => `${k}=${String(v)}`);
      await client.query('DISCARD ALL');
      return { ok, inTransaction, state };
    },
    readOnlyError: (code) => code === '25006',
    async writtenRows() {
      return Number((await admin.query(`SELECT count(*) AS n FROM ${SPACE}.w`)).rows[0].n);
    },
  };
  return {
    probe,
    close: async () => {
      await client.end();
      await admin.query(`DROP SCHEMA IF EXISTS ${SPACE} CASCADE`);
      await admin.end();
    },
  };
}

async function mysqlProbe(): Promise<{ probe: Probe; close: () => Promise<void> }> {
  const admin = await mysql.createConnection({ ...MY_URL, multipleStatements: true })
    .catch((err) => unreachable(`MariaDB at ${MY_URL.host}:${MY_URL.port} (database ${MY_URL.database}, user ${MY_URL.user})`, err));
  await admin.query(`DROP DATABASE IF EXISTS ${SPACE}; CREATE DATABASE ${SPACE}; USE ${SPACE};
    CREATE TABLE t (a int, b text); INSERT INTO t VALUES (1, 'x'), (2, 'y');
    CREATE TABLE w (a int); CREATE SEQUENCE s;`);
  // Creating a function that writes needs log_bin_trust_function_creators when binary logging is on.
  const [[trust]] = (await admin.query('SELECT @@GLOBAL.log_bin_trust_function_creators AS v')) as unknown as [[{ v: number }]];
  if (!trust.v) await admin.query('SET GLOBAL log_bin_trust_function_creators = 1');
  try {
    await admin.query('CREATE FUNCTION diff_w() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO w VALUES (1); RETURN 1; END');
    await admin.query('CREATE FUNCTION diff_r() RETURNS INT NO SQL RETURN 1');
  } finally {
    if (!trust.v) await admin.query('SET GLOBAL log_bin_trust_function_creators = 0');
  }
  const client = await mysql.createConnection({ ...MY_URL, database: SPACE, multipleStatements: true, charset: 'UTF8MB4_GENERAL_CI' });
  // Every transaction of the probe session is read-only, so DDL's implicit commit cannot escape.
  await client.query('SET SESSION TRANSACTION READ ONLY; SET SESSION max_statement_time = 2; SET SESSION lock_wait_timeout = 1');
  const lockQuery = `SELECT ${LOCK_NAMES.map((n, i) => `IS_USED_LOCK('${n}') AS l${i}`).join(', ')}`;
  const held = async () => {
    const [[row]] = (await client.query(lockQuery)) as unknown as [[Record<string, unknown>]];
    return Object.values(row).filter((v) => v !== null).length;
  };
  const stateQuery = `SELECT @@autocommit = 0 AS autocommit_off, @v IS NOT NULL AS v, @x IS NOT NULL AS x,
    ${LOCK_NAMES.map((n, i) => `IS_USED_LOCK('${n}') IS NOT NULL AS lock${i}`).join(', ')}`;
  const probe: Probe = {
    dialect: 'mysql',
    async run(text) {
      await client.query('START TRANSACTION READ ONLY');
      const out: Outcome = { code: undefined, message: '', results: 0, locksBefore: 0, locksAfter: 0 };
      try {
        const [rows, fields] = (await client.query(text)) as unknown as [unknown[], unknown[] | undefined];
        // Several statements: one entry per result set, each with an array of fields or none.
        const multi = Array.isArray(fields) && fields.length > 0 && fields.every((f) => f === undefined || Array.isArray(f));
        out.results = multi ? rows.length : 1;
        out.locksBefore = await held();
      } catch (err) {
        out.code = (err as { errno?: number }).errno;
        out.message = (err as Error).message;
      } finally {
        await client.query('ROLLBACK');
      }
      out.locksAfter = await held();
      if (out.locksAfter > 0) await client.query('SELECT RELEASE_ALL_LOCKS()');
      return out;
    },
    async leftover(text, inside) {
      if (inside) await client.query('START TRANSACTION');
      const ok = await client.query(text).then(() => true, () => false);
      const [[tx]] = (await client.query('SELECT @@in_transaction AS v')) as unknown as [[{ v: number }]];
      await client.query('ROLLBACK');
      const [[row]] = (await client.query(stateQuery)) as unknown as [[Record<string, unknown>]];
      const state = Object.entries(row).filter(([, v]) => Number(v) !== 0).map(([k]) => k);
      await client.query('SET autocommit = 1, @v = NULL, @x = NULL; SELECT RELEASE_ALL_LOCKS(); UNLOCK TABLES; SET SESSION TRANSACTION READ ONLY');
      return { ok, inTransaction: tx.v !== 0, state };
    },
    readOnlyError: (code) => code === 1792 || code === 1290 || code === 1836,
    async writtenRows() {
      const [[row]] = (await admin.query(`SELECT count(*) AS n FROM ${SPACE}.w`)) as unknown as [[{ n: number }]];
      return Number(row.n);
    },
  };
  return {
    probe,
    close: async () => {
      await client.end();
      await admin.query(`DROP DATABASE IF EXISTS ${SPACE}`);
      await admin.end();
    },
  };
}

function statementCount(text: string, dialect: SqlDialect): { count: number; conditional: number } {
  const lexer = createLexer(text, dialect);
  const st = new Statements(lexer);
  while (st.nextStatement());
  return { count: st.count, conditional: lexer.conditionalComments };
}

// ---------------------------------------------------------------------------------------------

interface Stats {
  texts: number;
  statements: number;
  reads: number;
  accepted: number;
  rejected: number;
  userWrites: number;
  userWritesCaught: number;
}

function failure(probe: Probe, text: string, why: string, server: string): Error {
  return new Error(`${probe.dialect}: ${why}\n  text: ${JSON.stringify(text)}\n  server: ${server}\n  seed: ${SEED} (rerun with P2C_FC_SEED=${SEED})`);
}

async function classification(probe: Probe, gen: fc.Arbitrary<string>): Promise<Stats> {
  const stats: Stats = { texts: 0, statements: 0, reads: 0, accepted: 0, rejected: 0, userWrites: 0, userWritesCaught: 0 };
  await fc.assert(fc.asyncProperty(gen, async (text) => {
    stats.texts++;
    const { count, conditional } = statementCount(text, probe.dialect);
    stats.statements += count;
    if (classify(text, probe.dialect) !== 'read') return;
    stats.reads++;
    // A user function's writes are invisible to the classifier: check the rest with a harmless
    // twin, and the original against the server's read-only guard below.
    const twin = text.replaceAll(USER_WRITE, USER_READ);
    const out = await probe.run(twin);
    if (out.code === undefined) stats.accepted++;
    else stats.rejected++;
    const fail = (why: string) => failure(probe, twin, `classify() said 'read' but ${why}`, `${out.code ?? 'ok'} ${out.message}`);
    if (probe.readOnlyError(out.code)) throw fail('the read-only transaction refused it');
    if (out.locksBefore > 0) throw fail(`it took ${out.locksBefore} lock(s)`);
    if (out.locksAfter > 0) throw fail(`it left ${out.locksAfter} session lock(s) after ROLLBACK`);
    if (out.code === undefined && conditional === 0 && out.results !== count) throw fail(`the server ran ${out.results} statement(s), the lexer saw ${count}`);
    if (twin !== text) {
      stats.userWrites++;
      const original = await probe.run(text);
      if (probe.readOnlyError(original.code)) stats.userWritesCaught++;
    }
  }), { numRuns: RUNS, seed: SEED });
  return stats;
}

/**
 * sessionEffect() against the server: a text said to be 'none' or 'end' must leave no transaction
 * open and no session state on a connection that was idle (or it goes back to the pool dirty);
 * an 'end' that ran must close the transaction it ran in (or the pin is released too early).
 */
async function sessionEffects(probe: Probe, gen: fc.Arbitrary<string>): Promise<Record<string, number>> {
  const seen: Record<string, number> = { none: 0, end: 0, begin: 0, session: 0 };
  await fc.assert(fc.asyncProperty(gen, async (text) => {
    const effect = sessionEffect(text, probe.dialect);
    seen[effect]!++;
    if (effect !== 'none' && effect !== 'end') return;
    const idle = await probe.leftover(text, false);
    if (idle.inTransaction || idle.state.length > 0) {
      const left = [...(idle.inTransaction ? ['an open transaction'] : []), ...idle.state].join(', ');
      throw failure(probe, text, `sessionEffect() said '${effect}' but on an idle connection it left ${left}`, idle.ok ? 'ok' : 'error');
    }
    if (effect !== 'end') return;
    const pinned = await probe.leftover(text, true);
    if (pinned.ok && pinned.inTransaction) throw failure(probe, text, "sessionEffect() said 'end' but the transaction is still open", 'ok');
  }), { numRuns: EFFECT_RUNS, seed: SEED });
  return seen;
}

function report(dialect: SqlDialect, stats: Stats, ms: number): void {
  console.log(`classifier differential (${dialect}, seed ${SEED}): ${stats.texts} texts, ${stats.statements} statements; ` +
    `${stats.reads} classified read and run read-only (${stats.accepted} accepted, ${stats.rejected} refused for syntax/type errors); ` +
    `${stats.userWrites} call a writing user function, ${stats.userWritesCaught} stopped by the read-only session; ${ms} ms`);
}

describe.each([
  ['postgres' as const, postgresProbe, pgGrammar],
  ['mysql' as const, mysqlProbe, myGrammar],
])('classifier differential: %s', (dialect, open, grammar) => {
  // Connecting in beforeAll but failing inside each test: an unreachable server fails every test
  // with its message instead of leaving them skipped.
  let setup: Promise<{ probe: Probe; close: () => Promise<void> }>;
  let stats: Stats | undefined;

  beforeAll(() => {
    setup = open();
    setup.catch(() => {});
  });

  afterAll(async () => {
    await setup.then((s) => s.close(), () => {});
  });

  it('every text classified read runs in a read-only transaction without a read-only error or a lock', async () => {
    const { probe } = await setup;
    const start = Date.now();
    stats = await classification(probe, textGen(grammar, dialect));
    report(dialect, stats, Date.now() - start);
    expect(stats.texts).toBe(RUNS);
    // The generator must keep producing texts the server accepts, or the test proves little.
    expect(stats.accepted).toBeGreaterThan(RUNS / 10);
  });

  it('writes inside user functions, invisible to the classifier, are stopped by the read-only session', async () => {
    const { probe } = await setup;
    expect(stats, 'the classification run came first').toBeDefined();
    expect(stats!.userWrites).toBeGreaterThan(0);
    expect(stats!.userWritesCaught).toBeGreaterThan(0);
    expect(await probe.writtenRows()).toBe(0);
  });

  it("texts whose sessionEffect is 'none' or 'end' leave what it says on the connection", async () => {
    const { probe } = await setup;
    const start = Date.now();
    const seen = await sessionEffects(probe, textGen(grammar, dialect));
    console.log(`session-effect differential (${dialect}, seed ${SEED}): ${EFFECT_RUNS} texts, ${JSON.stringify(seen)}; ${Date.now() - start} ms`);
    expect(seen['none']! + seen['end']!).toBeGreaterThan(EFFECT_RUNS / 4);
  });
});
