import { describe, expect, it } from 'vitest';
import { classify } from '../../src/routing.js';

const pgReads = [
  'SELECT 1 # 2',
  "SELECT '{\"a\":1}'::jsonb #>> '{a}'",
  "SELECT 'a' -- nextval('s')\n",
  "SELECT 1 -- c\r",
  'SELECT 1 /* /* nested */ DELETE FROM t; */',
  "SELECT $é$ nextval('s') $é$",
  'SELECT $ключ$ FOR UPDATE $ключ$',
  "SELECT $a$ $b$ ; DELETE $b$ $a$",
  "SELECT E'\\' FOR UPDATE '",
  "SELECT E'a'\n'\\' FOR UPDATE '",
  "SELECT U&'\\0041' FROM t",
  'SELECT a$b, x$tag$ FROM t',
  'SELECT "nextval" FROM t',
  'SELECT * FROM t WHERE a = $1 FETCH NEXT 5 ROWS ONLY',
  "SELECT substring('abc' FROM 1 FOR 2), replace('a', 'b', 'c'), lower('X')",
  'SHOW search_path; SELECT 1;',
  'EXPLAIN (ANALYZE off) DELETE FROM t',
  'EXPLAIN (ANALYZE 0, VERBOSE) INSERT INTO t VALUES (1)',
  'EXPLAIN VERBOSE MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE',
  'EXPLAIN (FORMAT JSON) SELECT nextval(\'s\')', // plans only
  '((VALUES (1)))',
  '(TABLE t)',
  "SELECT 'ñ' AS ñame",
  'SELECT pg_advisory_lock_status FROM t', // a column, not a call
];

const pgWrites = [
  "SELECT '{\"a\":1}'::jsonb #>> '{a}'; DELETE FROM t",
  'SELECT 1 # 2\n; DELETE FROM t',
  'SELECT 1 -- c\r; DELETE FROM t',
  // The E literal continues on the next line with escapes: the DELETE is code.
  "SELECT E'a'\n'\\' x ' ; DELETE FROM t; --'",
  "SELECT e'\\'' , nextval('s') --'",
  "SELECT abe'\\' , nextval('s') --'",
  "SELECT x$a$ , pg_advisory_lock(1) -- $a$",
  "SELECT $a$ x $a$, nextval('s')",
  "SELECT $é$ $é$, pg_advisory_lock(1)",
  "SELECT 1 /* a /* b */ c */, setval('s', 1)",
  'SELECT "pg_advisory_lock"(1)',
  'SELECT pg_catalog.pg_advisory_lock(1)',
  'SELECT pg_catalog . "PG_ADVISORY_LOCK" /* c */ (1)',
  'SELECT U&"\\0070g_advisory_lock"(1)',
  'SELECT * FROM t FOR /* c */ SHARE',
  'SELECT * FROM t FOR NO KEY UPDATE',
  'SELECT * FROM t FOR KEY SHARE',
  'SELECT * INTO TEMP x FROM t',
  'WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM x',
  'WITH x AS (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE) SELECT 1',
  "(SELECT 1) UNION (SELECT nextval('s'))",
  'EXPLAIN ANALYZE DELETE FROM t',
  'EXPLAIN (ANALYZE) DELETE FROM t',
  'EXPLAIN ("analyze", "costs" off) SELECT pg_advisory_lock(4242)', // a quoted option name is an option
  'EXPLAIN ("ANALYZE") SELECT nextval(\'s\')',
  "EXPLAIN (analyze 'true') SELECT nextval('s')",
  'EXPLAIN (ANALYZE on, BUFFERS) INSERT INTO t VALUES (1)',
  "EXPLAIN (FORMAT JSON, ANALYZE 'true') DELETE FROM t",
  "EXPLAIN ANALYZE SELECT nextval('s')",
  'EXPLAIN CREATE TABLE x AS SELECT 1',
  'EXPLAIN EXECUTE p',
  "SELECT 'abc",
  'SELECT 1 /* x',
  'SELECT $a$ x',
  'SELECT "x',
  'SELECT 1; BEGIN',
  'SELECT 1; SET x = 1',
  'DO $$ BEGIN PERFORM 1; END $$',
  'CALL p()',
  ';',
  '-- only a comment',
];

const pgWritingFunctions = [
  'nextval', 'setval', 'lastval', 'currval', 'pg_advisory_lock', 'pg_advisory_xact_lock', 'pg_advisory_lock_shared',
  'pg_try_advisory_lock', 'pg_try_advisory_xact_lock_shared', 'pg_advisory_unlock', 'pg_advisory_unlock_shared',
  'pg_advisory_unlock_all', 'txid_current', 'txid_current_if_assigned', 'pg_current_xact_id',
  'pg_current_xact_id_if_assigned', 'pg_current_wal_lsn', 'pg_current_wal_insert_lsn', 'pg_current_wal_flush_lsn',
  'pg_notify', 'lo_open', 'lo_create', 'lo_creat', 'lo_import', 'lo_export', 'lo_unlink', 'lo_put', 'lo_from_bytea',
  'lo_truncate', 'lo_get', 'loread', 'lowrite', 'pg_cancel_backend', 'pg_terminate_backend', 'pg_logical_emit_message',
  'pg_promote', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_switch_wal', 'pg_create_restore_point',
  'pg_create_physical_replication_slot', 'pg_create_logical_replication_slot', 'pg_drop_replication_slot',
  'pg_replication_origin_create', 'pg_replication_origin_session_setup', 'pg_stat_reset', 'pg_stat_reset_shared',
  'pg_wal_replay_pause', 'pg_wal_replay_resume', 'pg_backup_start', 'pg_backup_stop', 'pg_start_backup',
  'pg_stop_backup', 'set_config', 'dblink_exec', 'dblink', 'dblink_connect', 'pg_import_system_collations',
];

const myReads = [
  'SELECT 1 # ; DELETE FROM t',
  'SELECT 1 -- ; DELETE FROM t',
  'SELECT 1 --\t; DELETE FROM t',
  "SELECT 'a\\'; DELETE FROM t; --'",
  'SELECT "a\\"; DELETE FROM t; -- "',
  "SELECT 'a'';DELETE FROM t'",
  'SELECT `nextval` FROM t',
  'SELECT 1 /*+ GET_LOCK(1) */',
  "SELECT SLEEP(0), IS_USED_LOCK('a'), IS_FREE_LOCK('a'), REPLACE('a', 'b', 'c')",
  'SELECT a$b, $x, 1a FROM t',
  'SELECT @@version, @x',
  'DESCRIBE t',
  'DESC `t` a',
  'EXPLAIN t',
  'EXPLAIN SELECT 1',
  'EXPLAIN FORMAT=JSON SELECT 1',
  'EXPLAIN EXTENDED (SELECT 1)',
  'EXPLAIN FOR CONNECTION 5',
  'SELECT 1 /*! + 1 */',
  'SELECT /*!40001 SQL_NO_CACHE */ * FROM t',
  'SHOW TABLES',
  'SELECT * FROM t WHERE a = ? LIMIT 1',
  "SELECT 'a' 'b'",
  'SELECT 1--1',
];

const myWrites = [
  'SELECT 1--1; DELETE FROM t',
  'SELECT 1 --x\n; DELETE FROM t',
  'SELECT 1 /*! ; DELETE FROM t */',
  'SELECT 1 /*!50100 ; DELETE FROM t */',
  'SELECT 1 /*M! ; DELETE FROM t */',
  'SELECT 1 /*M!100100 ; DELETE FROM t */',
  'SELECT 1 /* /* */ ; DELETE FROM t */',
  "SELECT GET_LOCK('a', 1)",
  "SELECT `GET_LOCK`('a', 1)",
  "SELECT `get_lock` ('a', 1)",
  "SELECT RELEASE_LOCK('a')",
  'SELECT RELEASE_ALL_LOCKS()',
  'SELECT LAST_INSERT_ID(5)',
  'SELECT NEXTVAL(s)',
  'SELECT SETVAL(s, 5)',
  'SELECT LASTVAL(s)',
  'SELECT NEXT VALUE FOR s',
  'SELECT PREVIOUS VALUE FOR s',
  'SELECT s.nextval',
  'SELECT * FROM t LOCK IN SHARE MODE',
  'SELECT * FROM t FOR UPDATE',
  'SELECT * FROM t FOR SHARE',
  'SELECT 1 INTO @x',
  "SELECT * FROM t INTO OUTFILE '/tmp/x'",
  'SELECT @x := 1',
  'EXPLAIN DELETE FROM t',
  'DESCRIBE UPDATE t SET a = 1',
  "EXPLAIN ANALYZE SELECT GET_LOCK('a', 1)",
  'EXPLAIN INSERT INTO t VALUES (1)',
  'SELECT "a\\"" ; DELETE FROM t',
  "SELECT 'a\\\\' ; DELETE FROM t",
  'SELECT `a\\` ; DELETE FROM t',
  "SELECT 1 /*!99999 ' */ , 2 -- ' */",
  'SELECT /*!40001 SQL_NO_CACHE */ /*!40001 1 */',
  // Read as code it is a SELECT; a server older than 9.99.99 skips the comment and runs CREATE.
  '/*!99999 SELECT */ CREATE TABLE x (a int)',
  'HANDLER t READ FIRST',
  "DO GET_LOCK('a', 1)",
  'CALL p()',
  "SELECT 'a\\'",
  'SELECT 1 # 2\n; REPLACE INTO t VALUES (1)',
  'SELECT 1 /* x',
];

describe('classify: PostgreSQL', () => {
  it.each(pgReads)('read: %j', (sql) => expect(classify(sql, 'postgres')).toBe('read'));
  it.each(pgWrites)('write: %j', (sql) => expect(classify(sql, 'postgres')).toBe('write'));
  it.each(pgWritingFunctions)('writing function: %s', (name) => {
    expect(classify(`SELECT ${name}(1)`, 'postgres')).toBe('write');
    expect(classify(`SELECT x FROM t WHERE "${name.toUpperCase()}"(1) > 0`, 'postgres')).toBe('write');
  });
});

describe('classify: MySQL/MariaDB', () => {
  it.each(myReads)('read: %j', (sql) => expect(classify(sql, 'mysql')).toBe('read'));
  it.each(myWrites)('write: %j', (sql) => expect(classify(sql, 'mysql')).toBe('write'));

  it('the same text differs by dialect', () => {
    expect(classify('SELECT 1 # 2; DELETE FROM t', 'mysql')).toBe('read');
    expect(classify('SELECT 1 # 2; DELETE FROM t', 'postgres')).toBe('write');
    expect(classify("SELECT 'a\\'; DELETE FROM t; --'", 'postgres')).toBe('write');
    expect(classify("SELECT 'a\\'; DELETE FROM t; --'", 'mysql')).toBe('read');
  });
});
