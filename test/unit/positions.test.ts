import { describe, expect, it } from 'vitest';
import { gtidReached, mergeGtid, parseGtidToken } from '../../adapters/mysql/gtid.js';
import { isHostError as myHostError, isReadOnlyError } from '../../adapters/mysql/options.js';
import { isHostError as pgHostError } from '../../adapters/pg/options.js';
import { pgDriver } from '../../adapters/pg/driver.js';
import { formatLsn, parseLsn } from '../../adapters/pg/probe.js';

const err = (props: Record<string, unknown>, message = 'x') => Object.assign(new Error(message), props);

describe('PostgreSQL LSN positions', () => {
  it('parses, formats and compares', () => {
    expect(parseLsn('0/3000060')).toBe(0x3000060n);
    expect(parseLsn('1/0')).toBe(1n << 32n);
    expect(parseLsn('bogus')).toBeUndefined();
    expect(formatLsn(parseLsn('A/FF')!)).toBe('A/FF');
    expect(pgDriver.positionReached('1/0', '0/FFFFFFFF')).toBe(true);
    expect(pgDriver.positionReached('0/10', '0/11')).toBe(false);
    expect(pgDriver.mergePosition('0/10', '0/9')).toBe('0/10');
    expect(pgDriver.mergePosition(undefined, '0/9')).toBe('0/9');
    expect(pgDriver.parsePosition('0/a')).toBe('0/A');
    expect(pgDriver.parsePosition('nope')).toBeUndefined();
  });
});

describe('MariaDB/MySQL GTID positions', () => {
  it('compares MariaDB positions per domain', () => {
    expect(gtidReached('0-1-100', '0-1-100')).toBe(true);
    expect(gtidReached('0-1-99', '0-1-100')).toBe(false);
    expect(gtidReached('0-2-150,1-1-5', '0-1-100')).toBe(true);
    expect(gtidReached('0-1-200', '0-1-100,1-1-1')).toBe(false);
    expect(gtidReached('3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5', '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-3')).toBeUndefined();
  });

  it('merges per domain; MySQL sets take the later one', () => {
    expect(mergeGtid('0-1-5,1-1-9', '0-1-7')).toBe('0-1-7,1-1-9');
    expect(mergeGtid(undefined, '0-1-7')).toBe('0-1-7');
    const uuid = '3E11FA47-71CA-11E1-9E33-C80AA9429562';
    expect(mergeGtid(`${uuid}:1-3`, `${uuid}:1-5`)).toBe(`${uuid}:1-5`);
  });

  it('validates tokens', () => {
    expect(parseGtidToken('0-1-100')).toBe('0-1-100');
    expect(parseGtidToken('3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5')).toBeDefined();
    expect(parseGtidToken('DROP TABLE x')).toBeUndefined();
  });
});

describe('error classification', () => {
  it('pg: network, shutdown and connection-limit errors blame the host; SQL errors do not', () => {
    expect(pgHostError(err({ code: 'ECONNREFUSED' }))).toBe(true);
    expect(pgHostError(err({ code: '57P01' }))).toBe(true);
    expect(pgHostError(err({ code: '53300' }))).toBe(true);
    expect(pgHostError(err({ code: '08006' }))).toBe(true);
    expect(pgHostError(err({ code: '57P01', severity: 'FATAL' }))).toBe(true);
    // A serving server's ERROR with a class 08 code is about postgres_fdw's or dblink's remote server.
    expect(pgHostError(err({ code: '08001', severity: 'ERROR' }))).toBe(false);
    expect(pgHostError(err({ code: '08006', severity: 'ERROR' }))).toBe(false);
    expect(pgHostError(err({}, 'Connection terminated unexpectedly'))).toBe(true);
    // pg's query_timeout is the client giving up: the host is asked before it is blamed (errorKind 'timeout').
    expect(pgHostError(err({}, 'Query read timeout'))).toBe(false);
    expect(pgHostError(err({ code: '42601' }))).toBe(false);
    expect(pgHostError(err({ code: '23505' }))).toBe(false);
    expect(pgHostError(err({ code: '25006' }))).toBe(false);
    expect(pgHostError('not an error')).toBe(false);
  });

  it('mysql: network codes, server-gone errnos and fatal errors blame the host; 1290 is read-only', () => {
    expect(myHostError(err({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }))).toBe(true);
    expect(myHostError(err({ code: 'ECONNREFUSED' }))).toBe(true);
    expect(myHostError(err({ errno: 1040, code: 'ER_CON_COUNT_ERROR' }))).toBe(true);
    expect(myHostError(err({ errno: 1064, code: 'ER_PARSE_ERROR' }))).toBe(false);
    expect(myHostError(err({ errno: 1062, code: 'ER_DUP_ENTRY' }))).toBe(false);
    expect(isReadOnlyError(err({ errno: 1290 }))).toBe(true);
    expect(isReadOnlyError(err({ errno: 1064 }))).toBe(false);
  });
});
