// Cluster membership (pure): hosts joining and leaving, draining, target_session_attrs, and the
// last-host signal that makes ejected hosts be probed early.
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/pool.js';
import { Host } from '../../src/host.js';
import { NoPrimaryError, NoHostAvailableError } from '../../src/errors.js';

function make(options: { targetSessionAttrs?: string; counts?: (d: unknown) => { total: number; idle: number; waiting: number } } = {}) {
  const hosts = [new Host('p', 'primary', 1, 10, 'p'), new Host('r1', 'replica', 1, 10, 'r1')];
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const c = new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: true, random, targetSessionAttrs: options.targetSessionAttrs }, () => 0, options.counts ?? (() => ({ total: 0, idle: 0, waiting: 0 })));
  return { c, hosts };
}

describe('membership', () => {
  it('an added host serves reads; a draining one gets no new work and leaves on drop, with events once each', () => {
    const { c, hosts } = make();
    const events: string[] = [];
    c.onMembership({ added: (h) => events.push(`+${h.name}`), removed: (h) => events.push(`-${h.name}`) });
    const r2 = new Host('r2', 'replica', 1, 10, 'r2');
    c.addHost(r2);
    expect(() => c.addHost(new Host('r2', 'replica', 1, 10, 'x'))).toThrow('already');
    const seen = new Set(Array.from({ length: 200 }, () => c.choose('read').name));
    expect(seen).toEqual(new Set(['r1', 'r2']));
    c.drainHost(hosts[1]!);
    expect(c.stats().hosts.find((h) => h.name === 'r1')!.draining).toBe(true);
    expect(new Set(Array.from({ length: 100 }, () => c.choose('read').name))).toEqual(new Set(['r2']));
    c.dropHost(hosts[1]!);
    c.dropHost(hosts[1]!);
    expect(hosts[1]!.state).toBe('closed');
    expect(c.hosts.map((h) => h.name)).toEqual(['p', 'r2']);
    expect(events).toEqual(['+r2', '-r1']);
    // Weights are relative to the heaviest host present.
    const heavy = new Host('r3', 'replica', 4, 10, 'r3');
    c.addHost(heavy);
    expect(r2.maxWeight).toBe(4);
    c.drainHost(heavy);
    c.dropHost(heavy);
    expect(r2.maxWeight).toBe(1);
  });

  it('a draining primary takes no writes, and is not counted against a new one', () => {
    const { c, hosts } = make();
    c.drainHost(hosts[0]!);
    expect(() => c.choose('write')).toThrow(NoPrimaryError);
    expect(c.choose('read').name).toBe('r1');
    const p2 = new Host('p2', 'primary', 1, 10, 'p2');
    p2.timeline = 0;
    c.addHost(p2);
    expect(c.choose('write').name).toBe('p2');
  });

  it("target_session_attrs 'standby' / 'read-only' never choose the primary, not even as a fallback for reads", () => {
    for (const tsa of ['standby', 'read-only']) {
      const { c, hosts } = make({ targetSessionAttrs: tsa });
      expect(() => c.choose('write')).toThrow(NoPrimaryError);
      expect(() => c.choose('read', 'primary')).toThrow(/target_session_attrs/);
      expect(c.choose('read').name).toBe('r1');
      c.drainHost(hosts[1]!);
      expect(() => c.choose('read')).toThrow(NoHostAvailableError);
    }
    const { c } = make({ targetSessionAttrs: 'prefer-standby' });
    expect(c.choose('write').name).toBe('p');
  });

  it('idleOnly (hedges) picks only hosts where a statement starts at once, never the primary as a fallback', () => {
    const counts: Record<string, { total: number; idle: number; waiting: number }> = { p: { total: 0, idle: 0, waiting: 0 }, r1: { total: 10, idle: 0, waiting: 3 } };
    const { c } = make({ counts: (d) => counts[d as string]! });
    expect(() => c.choose('read', 'replica', { idleOnly: true })).toThrow(NoHostAvailableError);
    counts['r1'] = { total: 10, idle: 1, waiting: 0 };
    expect(c.choose('read', 'replica', { idleOnly: true }).name).toBe('r1');
  });

  it('signals the last host that can serve failing while it cannot be ejected', () => {
    const { c, hosts } = make();
    const signals: string[] = [];
    c.onLastHostFailing((h) => signals.push(h.name));
    for (let i = 0; i < 6; i++) c.apply(hosts[1]!, { type: 'failure', errorRate: 1, samples: 30 });
    expect(hosts[1]!.state).toBe('ejected'); // the primary can still serve reads
    for (let i = 0; i < 6; i++) c.apply(hosts[0]!, { type: 'failure', errorRate: 1, samples: 30 });
    expect(hosts[0]!.state).toBe('up');
    expect(signals.length).toBeGreaterThan(0);
    expect(new Set(signals)).toEqual(new Set(['p']));
  });
});
