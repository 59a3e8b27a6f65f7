import { describe, expect, it } from 'vitest';
import { classify, operationName, Pinning, sessionEffect, statementKind, type SessionEffect } from '../../src/routing.js';

const reads = [
  'SELECT * FROM users WHERE id = $1',
  '  select 1',
  '-- comment\nSELECT 1',
  '/* a /* nested */ comment */ SELECT 1',
  'WITH x AS (SELECT 1) SELECT * FROM x',
  'WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n+1 FROM t WHERE n < 5) SELECT sum(n) FROM t',
  'SHOW search_path',
  'TABLE users',
  'VALUES (1), (2)',
  'EXPLAIN SELECT 1',
  'EXPLAIN DELETE FROM users', // only plans
  'EXPLAIN ANALYZE SELECT 1',
  'EXPLAIN (ANALYZE false) UPDATE t SET a = 1',
  "SELECT 'update; delete from t' AS s",
  'SELECT "update" FROM t',
  "SELECT $$ FOR UPDATE $$",
  "SELECT $tag$ nextval('x') $tag$",
  "SELECT E'it\\'s FOR UPDATE'",
  '(SELECT 1) UNION (SELECT 2)',
  'SELECT 1; SELECT 2',
  'SELECT pg_sleep(0.1)',
  'SELECT count(*) FROM t FOR_UPDATE_TABLE',
];

const writes = [
  'INSERT INTO t VALUES (1)',
  'UPDATE t SET a = 1',
  'DELETE FROM t',
  'MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE',
  'CREATE TABLE t (a int)',
  'BEGIN',
  'SET search_path = x',
  'SELECT * FROM t FOR UPDATE',
  'SELECT * FROM t FOR SHARE',
  'SELECT * FROM t FOR NO KEY UPDATE',
  'SELECT * FROM t FOR KEY SHARE SKIP LOCKED',
  'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d',
  'WITH i AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM i',
  "SELECT nextval('s')",
  "SELECT setval('s', 1)",
  'SELECT pg_advisory_lock(1)',
  'SELECT pg_try_advisory_xact_lock(1)',
  'SELECT txid_current()',
  'SELECT * INTO new_table FROM t',
  'EXPLAIN ANALYZE DELETE FROM t',
  'EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1',
  'SELECT 1; DELETE FROM t',
  'COPY t FROM STDIN',
  'CALL proc()',
  '',
  '   ',
  'VACUUM t',
  'LOCK TABLE t',
];

describe('classify', () => {
  it.each(reads)('read: %s', (sql) => expect(classify(sql)).toBe('read'));
  it.each(writes)('write: %s', (sql) => expect(classify(sql)).toBe('write'));

  it('mysql dialect: backslash escapes and row locks', () => {
    expect(classify("SELECT 'it\\'s' FROM t", 'mysql')).toBe('read');
    expect(classify('SELECT * FROM t LOCK IN SHARE MODE', 'mysql')).toBe('write');
    expect(classify('SELECT GET_LOCK("x", 1)', 'mysql')).toBe('write');
    expect(classify('# c\nSELECT `update` FROM t', 'mysql')).toBe('read');
  });
});

describe('sessionEffect and Pinning (routing clients)', () => {
  it.each([
    ['BEGIN', 'postgres', 'begin'], ['start transaction isolation level serializable', 'postgres', 'begin'],
    ['COMMIT', 'postgres', 'end'], ['ROLLBACK', 'postgres', 'end'], ['END', 'postgres', 'end'],
    ['ROLLBACK TO SAVEPOINT a', 'postgres', 'none'], ['SAVEPOINT a', 'postgres', 'none'],
    ["SET search_path TO x", 'postgres', 'session'], ['SET LOCAL x = 1', 'postgres', 'none'], ['LISTEN ch', 'postgres', 'session'],
    ['CREATE TEMP TABLE t (a int)', 'postgres', 'session'], ['SELECT 1', 'postgres', 'none'],
    // SET TRANSACTION shapes the next transaction of this session: the session must stay pinned.
    ['SET TRANSACTION ISOLATION LEVEL READ COMMITTED', 'mysql', 'session'], ['SET time_zone = "+00:00"', 'mysql', 'session'],
    ["SELECT GET_LOCK('x', 1)", 'mysql', 'session'], ['ROLLBACK WORK TO SAVEPOINT a', 'mysql', 'none'], ['COMMIT', 'mysql', 'end'],
  ] as const)('%s (%s) -> %s', (sql, dialect, effect) => expect(sessionEffect(sql, dialect)).toBe(effect));

  it('pins for a transaction until its end, and for good once session state is set', () => {
    const p = new Pinning();
    expect(p.needsPin('none')).toBe(false);
    expect(p.needsPin('begin')).toBe(true);
    p.pinned('begin');
    expect(p.reason).toBe('transaction');
    expect(p.releasesAfter('none')).toBe(false);
    expect(p.releasesAfter('end')).toBe(true);
    p.pinned('session');
    expect(p.reason).toBe('session');
    expect(p.releasesAfter('end')).toBe(false);
  });
});

// Each row: text, expected effect. Comments before the command, several statements in one text
// and commands inside literals are the cases that once sent a connection back to the pool inside
// an open transaction.
const pgEffects: [string, SessionEffect][] = [
  ['/* app */ BEGIN', 'begin'], ['-- c\nBEGIN', 'begin'], ['/*a/*b*/*/begin', 'begin'], ['begin work', 'begin'],
  ['START TRANSACTION READ ONLY', 'begin'], ['START something', 'none'],
  ['COMMIT WORK', 'end'], ['END TRANSACTION', 'end'], ['ABORT', 'end'], ['rollback transaction', 'end'],
  ['COMMIT AND NO CHAIN', 'end'], ['COMMIT AND CHAIN', 'begin'], ['/* c */ rollback and chain', 'begin'], ['END AND CHAIN', 'begin'],
  ['ROLLBACK TO a', 'none'], ['ROLLBACK WORK TO SAVEPOINT a', 'none'], ['ROLLBACK TRANSACTION TO a', 'none'], ['RELEASE SAVEPOINT a', 'none'],
  ["COMMIT PREPARED 'x'", 'none'], ["ROLLBACK PREPARED 'x'", 'none'], ["PREPARE TRANSACTION 'x'", 'end'],
  // A malformed end is a syntax error: the transaction is still open, so the pin must stay.
  ['COMMIT garbage', 'none'], ['COMMIT AND', 'none'], ['ROLLBACK WORK WORK', 'none'],
  ['/* c */ SET x = 1', 'session'], ['SET SESSION x = 1', 'session'], ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'none'],
  ['SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY', 'session'], ['SELECT 1; SET x = 1', 'session'],
  ['RESET ALL', 'session'], ['UNLISTEN *', 'session'], ['PREPARE p AS SELECT 1', 'session'], ['DEALLOCATE p', 'session'],
  ['DECLARE c CURSOR WITH HOLD FOR SELECT 1', 'session'], ['CREATE TEMPORARY TABLE t (a int)', 'session'],
  ['CREATE GLOBAL TEMPORARY TABLE t (a int)', 'session'], ['CREATE LOCAL TEMP TABLE t (a int)', 'session'],
  ['CREATE OR REPLACE TEMP VIEW v AS SELECT 1', 'session'], ['CREATE TABLE pg_temp.t (a int)', 'session'],
  ['CREATE TABLE "pg_temp_3".t (a int)', 'session'], ['CREATE UNLOGGED TABLE t (a int)', 'none'],
  ['LOCK TABLE t', 'session'], ['DISCARD ALL', 'session'], ["LOAD 'auto_explain'", 'session'],
  ['SELECT * INTO TEMP t2 FROM t', 'session'], ['SELECT * INTO TEMPORARY TABLE t2 FROM t', 'session'],
  ['EXPLAIN ANALYZE CREATE TEMP TABLE t2 AS SELECT 1', 'session'],
  ['DO $$ BEGIN PERFORM set_config(\'a.b\', \'c\', false); END $$', 'session'], ['CALL p()', 'session'],
  ["SELECT set_config('a.b', 'c', false)", 'session'], ["SELECT set_config('a.b', 'c', true)", 'session'],
  ["SELECT pg_catalog.set_config('a.b', 'c', false)", 'session'], ['SELECT "set_config"(\'a.b\', \'c\', false)', 'session'],
  ["SELECT U&\"\\0073et_config\"('a.b', 'c', false)", 'session'],
  ['SELECT pg_advisory_lock(1)', 'session'], ['SELECT pg_advisory_lock_shared(1)', 'session'], ['SELECT pg_try_advisory_lock(1)', 'session'],
  ['SELECT pg_try_advisory_lock_shared(1, 2)', 'session'], ['SELECT pg_advisory_unlock(1)', 'session'], ['SELECT pg_advisory_unlock_all()', 'session'],
  ['SELECT pg_advisory_xact_lock(1)', 'none'], ['SELECT pg_try_advisory_xact_lock_shared(1)', 'none'],
  ['SELECT 1; BEGIN', 'begin'], ['BEGIN; SELECT 1', 'begin'], ['BEGIN; INSERT INTO t VALUES (1); COMMIT', 'begin'],
  ['COMMIT; BEGIN', 'begin'], ['INSERT INTO t VALUES (1); COMMIT', 'end'], ['ROLLBACK; SELECT 1', 'end'],
  ['SELECT 1 # 2; BEGIN', 'begin'], ["SELECT 'BEGIN'", 'none'], ['SELECT $$; BEGIN$$', 'none'], ['-- BEGIN', 'none'],
  ["SELECT E'\\'; BEGIN; --'", 'none'], ["SELECT '\\'; BEGIN; --'", 'begin'],
  // The END of a BEGIN ATOMIC body, or a COMMIT inside parentheses, ends no transaction.
  ['CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END', 'none'],
  ['CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; COMMIT', 'end'],
  ['SELECT (1; COMMIT)', 'none'], ['SELECT CASE WHEN true THEN 1; END', 'none'],
  ["SELECT 'x", 'session'], ['SELECT 1 /* x', 'session'],
  ['SELECT temp FROM weather WHERE temp > 1', 'none'], ['GRANT TEMP ON DATABASE d TO r', 'none'],
];

const myEffects: [string, SessionEffect][] = [
  ['BEGIN WORK', 'begin'], ['/* c */ begin', 'begin'], ['# c\nBEGIN', 'begin'], ['-- c\nBEGIN', 'begin'],
  ['START TRANSACTION READ ONLY', 'begin'], ["XA START 'x'", 'begin'], ["XA BEGIN 'x'", 'begin'],
  ['COMMIT WORK', 'end'], ['ROLLBACK', 'end'], ['ROLLBACK WORK', 'end'], ['COMMIT AND NO CHAIN', 'end'], ['COMMIT RELEASE', 'end'],
  ['COMMIT WORK AND NO CHAIN NO RELEASE', 'end'], ['COMMIT AND CHAIN', 'begin'], ['ROLLBACK WORK AND CHAIN', 'begin'],
  ['ROLLBACK TO SAVEPOINT a', 'none'], ['ROLLBACK WORK TO a', 'none'], ['COMMIT garbage', 'none'], ['END', 'none'],
  ["XA END 'x'", 'none'], ["XA PREPARE 'x'", 'none'], ["XA COMMIT 'x'", 'end'], ["XA COMMIT 'x', 'y' ONE PHASE", 'end'],
  ["XA ROLLBACK X'0A'", 'end'], ['XA RECOVER', 'none'], ['XA COMMIT (1)', 'none'],
  ['SET autocommit=0', 'session'], ['SET SESSION autocommit = OFF', 'session'], ['SET @@autocommit = 0', 'session'],
  ['SET NAMES utf8mb4', 'session'], ['SET @x = 1', 'session'], ['/* c */ SET x=1', 'session'], ['SELECT 1; SET x=1', 'session'],
  ['LOCK TABLES t READ', 'session'], ['UNLOCK TABLES', 'session'], ['USE test', 'session'], ["PREPARE s FROM 'SELECT 1'", 'session'],
  ['EXECUTE s', 'session'], ['DEALLOCATE PREPARE s', 'session'], ['DROP PREPARE s', 'session'], ['DROP TABLE t', 'none'],
  ['CREATE TEMPORARY TABLE t (a int)', 'session'], ['CREATE OR REPLACE TEMPORARY TABLE t (a int)', 'session'],
  ['HANDLER t OPEN', 'session'], ['CALL p()', 'session'], ['FLUSH TABLES WITH READ LOCK', 'session'],
  ["SELECT GET_LOCK('a', 1)", 'session'], ["SELECT `get_lock` ('a', 1)", 'session'], ["SELECT RELEASE_LOCK('a')", 'session'],
  ["INSERT INTO t VALUES (GET_LOCK('a', 1))", 'session'],
  ['SELECT @x', 'session'], ['SELECT 1 INTO @x', 'session'], ["SELECT @'x'", 'session'], ['SELECT @`x`', 'session'],
  ['SELECT @@version', 'none'], ['SELECT @@session.autocommit', 'none'], ["SELECT 'a@b'", 'none'],
  ['SELECT 1; BEGIN', 'begin'], ['BEGIN; SELECT 1', 'begin'], ['BEGIN; INSERT INTO t VALUES (1); COMMIT', 'begin'], ['COMMIT; BEGIN', 'begin'],
  ['SELECT 1 # ; BEGIN', 'none'], ['SELECT 1 -- ; BEGIN', 'none'], ['SELECT 1--1; BEGIN', 'begin'],
  ["SELECT '\\'; BEGIN; --'", 'none'], ['SELECT "\\"; BEGIN; --"', 'none'],
  ['SELECT 1 /*! ; BEGIN */', 'begin'], ['SELECT 1 /*!50100 ; BEGIN */', 'session'], ['/*M! COMMIT */', 'session'],
  ['SELECT /*!40001 SQL_NO_CACHE */ 1; BEGIN', 'begin'],
  ['BEGIN NOT ATOMIC SELECT 1; END', 'session'], ['IF 1 THEN START TRANSACTION; END IF', 'session'],
  ['lbl: LOOP LEAVE lbl; END LOOP', 'session'], ["SELECT 'x", 'session'], ['SELECT CASE WHEN 1 THEN 2; COMMIT', 'none'],
];

describe('sessionEffect: PostgreSQL', () => {
  it.each(pgEffects)('%j -> %s', (sql, effect) => expect(sessionEffect(sql, 'postgres')).toBe(effect));
});

describe('sessionEffect: MySQL/MariaDB', () => {
  it.each(myEffects)('%j -> %s', (sql, effect) => expect(sessionEffect(sql, 'mysql')).toBe(effect));
});

describe('operationName', () => {
  it('is the first keyword after comments and parentheses', () => {
    expect(operationName('/* app */ (SELECT 1)')).toBe('SELECT');
    expect(operationName('-- x\ninsert into t values (1)')).toBe('INSERT');
    expect(operationName('# x\nDELETE FROM t', 'mysql')).toBe('DELETE');
    expect(operationName("'x'")).toBeUndefined();
    expect(operationName('')).toBeUndefined();
  });
});

describe('statementKind', () => {
  it('an explicit role wins over the text', () => {
    expect(statementKind('DELETE FROM t', 'replica', 'postgres')).toBe('read');
    expect(statementKind('SELECT 1', 'primary', 'mysql')).toBe('write');
    expect(statementKind('SELECT 1', undefined, 'mysql')).toBe('read');
    expect(statementKind({ text: 'SELECT 1' }, undefined, 'postgres')).toBe('write');
  });
});
