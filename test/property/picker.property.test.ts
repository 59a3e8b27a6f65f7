import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { P2CPicker, createPicker, PICKER_NAMES } from '../../src/picker.js';
import { Host, type HostState } from '../../src/host.js';
import { Cluster } from '../../src/pool.js';
import { HostMetrics } from '../../src/metrics.js';

// fast-check prints the seed and the shrunk counterexample on failure; P2C_FC_SEED replays one.
const params = process.env['P2C_FC_SEED'] ? { seed: Number(process.env['P2C_FC_SEED']), numRuns: 500 } : { numRuns: 500 };

/** A deterministic random source driven by fast-check's generated numbers. */
const randomSource = fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 3, maxLength: 3 })
  .map((values) => { let i = 0; return () => values[i++ % values.length]!; });

describe('P2C picker properties', () => {
  it('samples two distinct in-range indices and returns one of them', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 64 }), randomSource, (costs, random) => {
      const seen: number[] = [];
      const picked = new P2CPicker(random).pick(costs.map(() => ({ inflight: 0 })), (i) => { seen.push(i); return costs[i]!; });
      expect(seen).toHaveLength(2);
      expect(seen[0]).not.toBe(seen[1]);
      for (const i of seen) expect(i >= 0 && i < costs.length).toBe(true);
      expect(seen).toContain(picked);
      expect(costs[picked]).toBe(Math.min(costs[seen[0]!]!, costs[seen[1]!]!));
    }), params);
  });

  it('never picks the strictly most expensive of n >= 2 hosts', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 64 }), randomSource, (costs, random) => {
      const max = Math.max(...costs);
      const strict = costs.filter((c) => c === max).length === 1;
      fc.pre(strict);
      const picked = new P2CPicker(random).pick(costs.map(() => ({ inflight: 0 })), (i) => costs[i]!);
      expect(costs[picked]).toBeLessThan(max);
    }), params);
  });

  it('every picker returns an in-range index', () => {
    fc.assert(fc.property(fc.constantFrom(...PICKER_NAMES), fc.array(fc.nat(50), { minLength: 1, maxLength: 32 }), randomSource, (name, inflight, random) => {
      const picker = createPicker(name, random);
      for (let k = 0; k < 5; k++) {
        const i = picker.pick(inflight.map((n) => ({ inflight: n })), () => 1);
        expect(Number.isInteger(i) && i >= 0 && i < inflight.length).toBe(true);
      }
    }), params);
  });
});

describe('cluster properties', () => {
  const states: HostState[] = ['up', 'ejected', 'probing', 'down', 'closed'];
  it('never routes to an ineligible host', () => {
    fc.assert(fc.property(fc.constantFrom(...PICKER_NAMES), fc.array(fc.constantFrom(...states), { minLength: 1, maxLength: 12 }), fc.boolean(), randomSource, (picker, replicaStates, fallback, random) => {
      const hosts = [new Host('p', 'primary', 1, 10, null), ...replicaStates.map((s, i) => {
        const h = new Host(`r${i}`, 'replica', 1, 10, null);
        h.state = s;
        return h;
      })];
      const cluster = new Cluster(hosts, { picker, fallbackToPrimary: fallback, random }, () => 0, () => ({ total: 0, idle: 0, waiting: 0 }));
      const anyUp = replicaStates.includes('up');
      for (let k = 0; k < 5; k++) {
        if (!anyUp && !fallback) {
          expect(() => cluster.choose('read')).toThrow();
          continue;
        }
        const h = cluster.choose('read');
        expect(h.state).toBe('up');
        if (anyUp) expect(h.role).toBe('replica');
        expect(cluster.choose('write').role).toBe('primary');
      }
    }), params);
  });

  it('in-flight returns to 0 after any sequence of begin/end/fail', () => {
    const op = fc.constantFrom('begin', 'ok', 'sql-error', 'host-error', 'lease-end');
    fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const m = new HostMetrics();
      let open = 0;
      let t = 0;
      for (const o of ops) {
        t += 1;
        if (o === 'begin') { m.begin(); open++; continue; }
        if (open === 0) continue; // every end pairs with a begin, as leases guarantee
        open--;
        if (o === 'lease-end') m.end(t, 'ok', undefined, false);
        else m.end(t, o, 1);
      }
      while (open-- > 0) m.end(++t, 'ok', 1);
      expect(m.inflight).toBe(0);
      expect(m.errorRate()).toBeGreaterThanOrEqual(0);
      expect(m.errorRate()).toBeLessThanOrEqual(1);
    }), params);
  });
});
