// Built-in functions that matter to routing, by upper-cased name: those that write, lock or need
// the primary even inside a SELECT, and those that leave state on the session.

/** Names of functions that make a statement a write (exact names, both dialects). */
const WRITING = new Set([
  // Sequences (PostgreSQL, MariaDB): nextval writes; setval writes; lastval/currval read session state.
  'NEXTVAL', 'SETVAL', 'LASTVAL', 'CURRVAL',
  // Transaction ids: assigning one makes the transaction a writer (and fails on a standby).
  'TXID_CURRENT', 'TXID_CURRENT_IF_ASSIGNED', 'PG_CURRENT_XACT_ID', 'PG_CURRENT_XACT_ID_IF_ASSIGNED',
  'PG_NOTIFY', 'LOREAD', 'LOWRITE',
  // Server administration.
  'PG_CANCEL_BACKEND', 'PG_TERMINATE_BACKEND', 'PG_LOGICAL_EMIT_MESSAGE', 'PG_PROMOTE', 'PG_RELOAD_CONF',
  'PG_ROTATE_LOGFILE', 'PG_ROTATE_LOGFILE_OLD', 'PG_SWITCH_WAL', 'PG_SWITCH_XLOG', 'PG_DROP_REPLICATION_SLOT',
  'PG_REPLICATION_SLOT_ADVANCE', 'PG_BACKUP_START', 'PG_BACKUP_STOP', 'PG_START_BACKUP', 'PG_STOP_BACKUP',
  'PG_IMPORT_SYSTEM_COLLATIONS', 'PG_LOG_BACKEND_MEMORY_CONTEXTS', 'PG_STAT_STATEMENTS_RESET', 'SET_CONFIG',
  // They run the SQL text they are given, which may lock or write.
  'QUERY_TO_XML', 'QUERY_TO_XMLSCHEMA', 'QUERY_TO_XML_AND_XMLSCHEMA',
  // Index maintenance: writes, refused on a standby.
  'BRIN_SUMMARIZE_NEW_VALUES', 'BRIN_SUMMARIZE_RANGE', 'BRIN_DESUMMARIZE_RANGE', 'GIN_CLEAN_PENDING_LIST',
  // MySQL/MariaDB: named locks; LAST_INSERT_ID(expr) sets what the session reads back.
  'GET_LOCK', 'RELEASE_LOCK', 'RELEASE_ALL_LOCKS', 'LAST_INSERT_ID',
]);

/** Name prefixes of function families that write or administer (lo_*, pg_advisory_*, dblink*...). */
const WRITING_PREFIXES = [
  'PG_ADVISORY_', 'PG_TRY_ADVISORY_', 'LO_', 'PG_CURRENT_WAL_', 'PG_CURRENT_XLOG_', 'PG_CREATE_', 'PG_COPY_',
  'PG_REPLICATION_ORIGIN_', 'PG_STAT_RESET', 'PG_WAL_REPLAY_', 'PG_XLOG_REPLAY_', 'PG_LOGICAL_SLOT_', 'PG_FILE_',
  'DBLINK',
];

/** Functions whose effect outlives the statement and its transaction. */
const SESSION = new Set(['SET_CONFIG', 'GET_LOCK', 'RELEASE_LOCK', 'RELEASE_ALL_LOCKS']);

/**
 * True when a call of the function makes a statement a write.
 * @example isWritingFunction('PG_TRY_ADVISORY_XACT_LOCK') // true
 */
export function isWritingFunction(name: string): boolean {
  return WRITING.has(name) || WRITING_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * True when a call of the function leaves state on the connection: set_config, session-level
 * advisory locks and their unlocks (not the _xact_ ones), MySQL named locks, dblink connections.
 * @example isSessionFunction('PG_ADVISORY_LOCK_SHARED') // true
 */
export function isSessionFunction(name: string): boolean {
  if (SESSION.has(name) || name.startsWith('DBLINK')) return true;
  return (name.startsWith('PG_ADVISORY_') || name.startsWith('PG_TRY_ADVISORY_')) && !name.includes('_XACT_');
}
