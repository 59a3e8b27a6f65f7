// The pure parts of the safety model: role decisions, check failures, lag of a replica that stopped
// receiving, an ambiguous primary, and whose fault an error is (pg and mysql2).
import { describe, expect, it } from 'vitest';
import { DEFAULT_HEALTH_OPTIONS, INITIAL_HEALTH, transition } from '../../src/health.js';
import { decideRole, roleMismatch } from '../../src/monitor.js';
import { Cluster } from '../../src/pool.js';
import { Host } from '../../src/host.js';
import { NoPrimaryError } from '../../src/errors.js';
import { errorKind as pgKind } from '../../adapters/pg/options.js';
import { errorKind as myKind } from '../../adapters/mysql/options.js';

const opts = { ...DEFAULT_HEALTH_OPTIONS, ejectionJitter: 0 };
const err = (props: Record<string, unknown>, message = 'x') => Object.assign(new Error(message), props);

describe('roles', () => {
  it('a host that replicates is a replica whatever read_only says; detectRoles false keeps the configuration', () => {
    expect(decideRole('replica', true, { replica: true, writable: true })).toBe('replica');
    expect(decideRole('replica', true, { replica: false, writable: true })).toBe('primary'); // promoted
    expect(decideRole('primary', true, { replica: true })).toBe('replica'); // demoted
    expect(decideRole('replica', false, { replica: false })).toBe('replica');
    expect(decideRole(undefined, true, { replica: false })).toBe('primary');
  });

  it('reports a writable replica and a configured role the host contradicts', () => {
    expect(roleMismatch('replica', { replica: true, writable: false })).toBeUndefined();
    expect(roleMismatch('replica', { replica: true, writable: true })).toMatch(/writable replica/);
    expect(roleMismatch(undefined, { replica: true, writable: true })).toMatch(/writable replica/);
    expect(roleMismatch('primary', { replica: true })).toMatch(/configured primary, reports replica/);
    expect(roleMismatch('primary', { replica: false })).toBeUndefined();
  });
});

describe('health events of the safety model', () => {
  it('a failed routine check ejects at once (unless the host is the last one); a never-verified host waits for a probe', () => {
    // Checked again at the check cadence: a blip costs an interval, not a whole ejection time.
    expect(transition(INITIAL_HEALTH, { type: 'check-failed', retryAfter: 500 }, 1000, () => 0, opts, true)).toMatchObject({ state: 'ejected', ejections: 1, retryAt: 1500 });
    expect(transition(INITIAL_HEALTH, { type: 'check-failed', retryAfter: 500 }, 1000, () => 0, opts, false)).toMatchObject({ state: 'up', consecutiveFailures: 1 });
    expect(transition(INITIAL_HEALTH, { type: 'unverified' }, 1000, () => 0, opts, false)).toMatchObject({ state: 'ejected', ejections: 0, retryAt: 1000 });
  });
});

function cluster(hosts: Host<number>[], now: () => number, maxReplicationLagMillis?: number): Cluster<number> {
  return new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: false, random: () => 0.5, maxReplicationLagMillis }, now, () => ({ total: 0, idle: 0, waiting: 0 }));
}

describe('cluster eligibility', () => {
  it('serves nothing from an unverified host', () => {
    const p = new Host('p', 'primary', 1, 10, 0);
    const r = new Host('r', 'replica', 1, 10, 1);
    r.verified = false;
    p.verified = false;
    const c = cluster([p, r], () => 0);
    expect(() => c.choose('write')).toThrow(NoPrimaryError);
    expect(c.readCandidates()).toEqual([]);
    p.verified = true;
    r.verified = true;
    c.invalidate();
    expect(c.choose('write')).toBe(p);
    expect(c.choose('read')).toBe(r);
  });

  it('two hosts claiming the primary role on one timeline get no writes', () => {
    const a = new Host('a', 'primary', 1, 10, 0);
    const b = new Host('b', 'primary', 1, 10, 1);
    const c = cluster([a, b], () => 0);
    expect(() => c.choose('write')).toThrow(/several hosts claim the primary role/);
    b.timeline = 2;
    c.invalidate();
    expect(c.choose('write')).toBe(b);
  });

  it('a replica that stopped receiving leaves the read set when its lag passes the limit, by the clock alone', () => {
    let now = 10_000;
    const p = new Host('p', 'primary', 1, 10, 0);
    const r = new Host('r', 'replica', 1, 10, 1);
    const fresh = new Host('f', 'replica', 1, 10, 2);
    r.lagMillis = 200;
    r.notReceivingSince = now - 200;
    const c = cluster([p, r, fresh], () => now, 1000);
    expect(c.readCandidates()).toContain(r);
    now += 700;
    expect(c.readCandidates()).toContain(r);
    now += 200; // 1100 ms since it stopped receiving: no invalidate() needed
    expect(c.readCandidates()).not.toContain(r);
    expect(r.currentLag(now)).toBe(1100);
  });
});

describe('whose fault an error is', () => {
  it('pg', () => {
    expect(pgKind(err({}, 'timeout exceeded when trying to connect'), true)).toBe('client');
    expect(pgKind(err({}, 'timeout exceeded when trying to connect'), false)).toBe('client');
    expect(pgKind(err({ code: '28P01' }), true)).toBe('host'); // a login the host refuses
    expect(pgKind(err({ code: '3D000' }), true)).toBe('host');
    // A connect timer may fire late because this process was busy: the host is asked first.
    expect(pgKind(err({}, 'Connection terminated due to connection timeout'), true)).toBe('timeout');
    expect(pgKind(err({ code: 'ECONNREFUSED' }), true)).toBe('host');
    expect(pgKind(err({}, 'Query read timeout'), false)).toBe('timeout');
    expect(pgKind(err({ code: '08P01' }, 'invalid message format'), false)).toBe('client');
    expect(pgKind(err({ code: '40001' }, 'canceling statement due to conflict with recovery'), false)).toBe('conflict');
    expect(pgKind(err({ code: '40001' }, 'could not serialize access due to concurrent update'), false)).toBe('statement');
    expect(pgKind(err({ code: 'ECONNRESET' }), false)).toBe('host');
    expect(pgKind(err({ code: '57P01' }), false)).toBe('host');
    expect(pgKind(err({ code: '23505' }), false)).toBe('statement');
  });

  it('mysql2', () => {
    expect(myKind(new Error('Queue limit reached.'), true)).toBe('client');
    expect(myKind(err({ errno: 1045, code: 'ER_ACCESS_DENIED_ERROR' }), true)).toBe('host');
    expect(myKind(err({ errno: 1049, code: 'ER_BAD_DB_ERROR' }), true)).toBe('host');
    expect(myKind(err({ code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: true }), false)).toBe('timeout');
    expect(myKind(err({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }), false)).toBe('host');
    expect(myKind(err({ errno: 1062, code: 'ER_DUP_ENTRY' }), false)).toBe('statement');
  });
});
