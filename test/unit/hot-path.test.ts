// The per-query shortcuts of issue 13, each against the plain computation it replaces: the kept
// cost parts, the decay series, the shared hedge due list, the default random source, the
// connection records, and the classifier that upper-cases only words that may matter.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DueList, HedgeRace } from '../../src/hedge.js';
import { decay, SETTLED_SAMPLES } from '../../src/metrics.js';
import { Host } from '../../src/host.js';
import { fastRandom, hostCost, mulberry32 } from '../../src/picker.js';
import { ConnectionStates } from '../../src/connections.js';
import { isReadText } from '../../src/sql/classify.js';
import { DEFAULT_HEALTH_OPTIONS } from '../../src/health.js';

describe('decay', () => {
  it('is exp(-x) to 1e-9 below 1e-3 (the series) and exactly Math.exp above', () => {
    for (let i = 0; i <= 1000; i++) {
      const x = (i / 1000) * 1e-3;
      expect(Math.abs(decay(x) - Math.exp(-x))).toBeLessThan(1e-9);
    }
    for (const x of [1e-3, 0.01, 0.5, 1, 7, 100]) expect(decay(x)).toBe(Math.exp(-x));
  });
});

describe('Host.cost from kept parts', () => {
  it('equals hostCost for settled hosts of any latency, load, error rate and weight', () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: 0.01, max: 500, noNaN: true }), { minLength: SETTLED_SAMPLES, maxLength: SETTLED_SAMPLES + 20 }),
      fc.array(fc.constantFrom<0 | 1>(0, 1), { maxLength: 30 }),
      fc.integer({ min: 0, max: 200 }),
      fc.integer({ min: 1, max: 100 }),
      fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 1, max: 10 }),
      (latencies, outcomes, inflight, capacity, weight, heaviest) => {
        const h = new Host('r', 'replica', weight, capacity, null);
        h.maxWeight = Math.max(weight, heaviest);
        let now = 0;
        for (const l of latencies) h.metrics.observeLatency((now += 3), l);
        for (const o of outcomes) h.metrics.observeOutcome((now += 2), o);
        for (let i = 0; i < inflight; i++) h.begin();
        const expected = hostCost(h.metrics.latencyMs()!, inflight, capacity, h.metrics.errorRate(), weight / Math.max(weight, heaviest));
        const got = h.cost(now, 1);
        expect(Math.abs(got - expected) / expected).toBeLessThan(1e-12);
      },
    ));
  });

  it('a host in slow start, without samples, or with another error penalty is costed by the full formula', () => {
    const h = new Host('r', 'replica', 2, 10, null);
    h.maxWeight = 4;
    expect(h.cost(0, 7)).toBe(hostCost(7, 0, 10, 0, 0.5)); // no sample: the fallback latency
    h.metrics.observeLatency(0, 3);
    expect(h.cost(0, 7)).toBe(hostCost((7 * 4 + 3) / 5, 0, 10, 0, 0.5)); // one sample: shrunk toward the fallback
    for (let i = 1; i < SETTLED_SAMPLES; i++) h.metrics.observeLatency(0, 3);
    expect(h.cost(0, 7)).toBe(hostCost(3, 0, 10, 0, 0.5)); // settled: its own estimate
    expect(h.cost(0, 7, false, 50)).toBe(hostCost(3, 0, 10, 0, 0.5, 50));
    h.health = { ...h.health, upSince: 1000 };
    const inRamp = 1000 + DEFAULT_HEALTH_OPTIONS.slowStartMillis / 2;
    expect(h.cost(inRamp, 7)).toBe(hostCost(3, 0, 10, 0, h.effectiveWeight(inRamp) / 4));
    // A weight of 0 never wins.
    const zero = new Host('z', 'replica', 0, 10, null);
    zero.maxWeight = 4;
    zero.metrics.observeLatency(0, 1);
    expect(zero.cost(0, 1)).toBe(Infinity);
  });
});

describe('DueList', () => {
  const race = (due: number) => Object.assign(new HedgeRace<string, string>(() => {}), { due });
  const order = (list: DueList<string, string>) => {
    const out: number[] = [];
    for (let r = list.head; r !== undefined; r = r.next) out.push(r.due);
    return out;
  };

  it('keeps races in order of due time, whatever the order they arrive in', () => {
    const list = new DueList<string, string>();
    for (const d of [5, 7, 6, 1, 9, 9, 8]) list.insert(race(d));
    expect(order(list)).toEqual([1, 5, 6, 7, 8, 9, 9]);
  });

  it('a settled race leaves at once from anywhere; removing twice or a race never queued changes nothing', () => {
    const list = new DueList<string, string>();
    const rs = [1, 2, 3, 4].map(race);
    for (const r of rs) list.insert(r);
    list.remove(rs[2]!);
    list.remove(rs[0]!);
    list.remove(rs[3]!);
    list.remove(rs[3]!);
    list.remove(race(0));
    expect(order(list)).toEqual([2]);
    list.remove(rs[1]!);
    expect(list.head).toBeUndefined();
    list.insert(rs[3]!);
    list.insert(rs[0]!);
    expect(order(list)).toEqual([1, 4]);
  });
});

describe('fastRandom', () => {
  it('draws in [0, 1), spread evenly; mulberry32 repeats for a seed', () => {
    const buckets = new Array<number>(16).fill(0);
    for (let i = 0; i < 160_000; i++) {
      const r = fastRandom();
      expect(r >= 0 && r < 1).toBe(true);
      buckets[Math.floor(r * 16)]!++;
    }
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(600);
    const a = mulberry32(42);
    const b = mulberry32(42);
    for (let i = 0; i < 10; i++) expect(a()).toBe(b());
  });
});

describe('ConnectionStates', () => {
  it('one error listener per connection for its life; an error counts for the lease it happened in', () => {
    const states = new ConnectionStates<EventEmitter>();
    const conn = new EventEmitter();
    for (let i = 0; i < 3; i++) {
      states.leaseBegins(conn);
      expect(states.leaseEnds(conn)).toBeUndefined();
    }
    expect(conn.listenerCount('error')).toBe(1);
    // Between leases (the driver's pool has its own listener then): not the next lease's error.
    conn.emit('error', new Error('while idle'));
    const release = () => {};
    states.leaseBegins(conn, release);
    conn.emit('error', new Error('first'));
    conn.emit('error', new Error('second'));
    expect(states.takeRelease(conn)).toBe(release);
    expect(states.takeRelease(conn)).toBeUndefined();
    expect(states.leaseEnds(conn)?.message).toBe('first');
    expect(states.leaseEnds(conn)).toBeUndefined();
    // After a destroy nothing is raised as an uncaught 'error' event either.
    expect(() => conn.emit('error', new Error('after'))).not.toThrow();
  });

  it('session modes and first use are per connection', () => {
    const states = new ConnectionStates<EventEmitter>();
    const a = new EventEmitter();
    const b = new EventEmitter();
    expect(states.modeIs(a, false)).toBe(true);
    states.modeSet(a, true);
    expect(states.modeIs(a, true)).toBe(true);
    expect(states.modeIs(b, true)).toBe(false);
    states.forgetMode(a);
    expect(states.modeIs(a, true)).toBe(false);
    states.modeSet(a, true);
    states.forget(a);
    expect(states.modeIs(a, false)).toBe(true);
    expect(states.firstUse(a)).toBe(true);
    expect(states.firstUse(a)).toBe(false);
    expect(states.firstUse(b)).toBe(true);
  });
});

describe('classifier shortcut: only words that may be keywords are upper-cased', () => {
  // Words near the keywords (same first letter and length), the keywords, names of writing
  // functions, and words outside ASCII whose upper case changes length or letters.
  const words = ['SELECT', 'FROM', 't', 'x', 'INTO', 'INTE', 'INSERT', 'INSERX', 'UPDATE', 'UPDATX', 'DELETE', 'MERGE', 'MERGX', 'FOR', 'FOO', 'SHARE', 'SHARX',
    'NO', 'NX', 'KEY', 'KEX', 'LOCK', 'LOCX', 'IN', 'IX', 'NEXT', 'NEXX', 'PREVIOUS', 'VALUE', 'VALUX', 'REPLACE', 'REPLACX', 'NEXTVAL', 'CURRVAL', 'LASTVAL',
    'nextval', 'setval', 'pg_advisory_lock', 'lo_open', 'count', 'ınsert', 'ſhare', 'straße', 'é', 'ﬁle'];
  const tokens = fc.array(fc.oneof(
    fc.constantFrom(...words),
    fc.constantFrom('(', ')', '.', ',', ' ', ':', '=', "'a'", '"q"', '1', '*', '\n'),
  ), { maxLength: 14 });
  // ASCII letters in random case, the way a user may type a keyword; other characters unchanged.
  const recase = (s: string, flips: readonly boolean[]) => [...s].map((c, i) => (/[a-z]/i.test(c) && flips[i % flips.length] ? (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) : c)).join('');

  it('classification does not depend on the case of ASCII letters (PostgreSQL and MySQL)', () => {
    fc.assert(fc.property(tokens, fc.array(fc.boolean(), { minLength: 1, maxLength: 7 }), fc.constantFrom('postgres' as const, 'mysql' as const), (parts, flips, dialect) => {
      const text = `SELECT ${parts.join(' ')}`;
      expect(isReadText(recase(text, flips), dialect)).toBe(isReadText(text, dialect));
    }), { numRuns: 3000 });
  });

  it('keywords in any case still make a write; look-alike words do not', () => {
    for (const text of ['select * from t fOr UpDaTe', 'SELECT * FROM t for no key update', 'select * from t FOR share', 'select x iNtO y from t',
      'select nextval(\'s\')', 'select s.NEXTVAL from dual', 'select next value for s', 'select * from t lock in share mode',
      'SELECT replace INTO t VALUES (1)']) {
      expect(isReadText(text, 'mysql') || isReadText(text, 'postgres'), text).toBe(false);
    }
    // A quoted function name is a name in PostgreSQL (in MySQL "..." is a string).
    expect(isReadText('SELECT "pg_advisory_lock"(1)', 'postgres')).toBe(false);
    for (const text of ['SELECT inte, foo, nx, kex, locx, nexx, valux FROM t', 'SELECT replace(a, b, c) FROM t', 'SELECT "for" FROM t']) {
      expect(isReadText(text, 'postgres'), text).toBe(true);
    }
    // A word outside ASCII is upper-cased as before: ı upper-cases to I, so this stays a write.
    expect(isReadText('SELECT count(*) FROM t WHERE ınsert = 1', 'postgres')).toBe(false);
  });
});
