// Which lexer reads which dialect: the one place that knows every dialect's lexer.
// Routing rules and tests ask here, so a dialect is added by adding its lexer and one line.

import type { Lexer, SqlDialect } from './lexer.js';
import { MysqlLexer } from './mysql-lexer.js';
import { PostgresLexer } from './postgres-lexer.js';

/**
 * A lexer for the text in the dialect's rules. `conditionalAsCode` (MySQL only): read versioned
 * comments as code, or skip them as a server older than their version does.
 * @example const lx = createLexer('SELECT 1 # 2', 'mysql'); // # starts a comment there
 */
export function createLexer(sql: string, dialect: SqlDialect, conditionalAsCode = true): Lexer {
  return dialect === 'postgres' ? new PostgresLexer(sql) : new MysqlLexer(sql, conditionalAsCode);
}
