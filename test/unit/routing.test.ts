import { describe, expect, it } from 'vitest';
import { classify, Pinning, sessionEffect } from '../../src/routing.js';

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
    ['SET TRANSACTION ISOLATION LEVEL READ COMMITTED', 'mysql', 'begin'], ['SET time_zone = "+00:00"', 'mysql', 'session'],
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
