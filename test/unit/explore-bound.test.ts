// Cluster.exploreFrom, the cluster-level lower bound of the read candidates' exploreAt (one
// comparison per pick while no host is due): a lower bound under random picks, samples, membership
// and health changes, and no scan of the hosts per pick while none is due (found by an adversarial
// review: a quiet primary or an ejected replica kept every read pick scanning).
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/pool.js';
import { Host } from '../../src/host.js';

function lcg(seed: number) {
  return () => ((seed = (Math.imul(seed, 48271) >>> 0) % 2147483647) / 2147483647);
}

describe('exploreFrom bound', () => {
  it('stays a lower bound of every read candidate\'s exploreAt under random picks, samples, add/drain/drop, ejection and return', () => {
    for (let run = 0; run < 200; run++) {
      const rnd = lcg(run + 1);
      let now = 0;
      const mk = (n: string, role: 'primary' | 'replica') => { const h = new Host(n, role, 1, 10, n); h.verified = true; return h; };
      const hosts = [mk('p', 'primary'), mk('r1', 'replica'), mk('r2', 'replica'), mk('r3', 'replica')];
      const c = new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: true, random: lcg(run + 7), latencyStaleMillis: 2000 }, () => now, () => ({ total: 0, idle: 0, waiting: 0 }));
      const inflight: { h: Host<string>; at: number }[] = [];
      let added = 0;
      for (let step = 0; step < 3000; step++) {
        now += rnd() < 0.9 ? rnd() * 5 : rnd() * 800;
        const x = rnd();
        if (x < 0.5) {
          try { const h = c.choose(rnd() < 0.9 ? 'read' : 'write'); h.begin(); inflight.push({ h, at: now }); } catch { /* none */ }
        } else if (x < 0.9 && inflight.length) {
          const { h, at } = inflight.splice(Math.floor(rnd() * inflight.length), 1)[0]!;
          const o = rnd();
          c.finish(h, o < 0.9 ? 'ok' : o < 0.95 ? 'host-error' : 'client', o < 0.9 ? now - at + (h.name === 'r3' ? 20 : 0) : undefined, true, 1, now);
        } else if (x < 0.92) {
          const h = mk(`n${added++}`, 'replica');
          c.addHost(h);
        } else if (x < 0.93) {
          const cands = c.hosts.filter((h) => h.role === 'replica' && !h.draining);
          if (cands.length > 2) { const h = cands[Math.floor(rnd() * cands.length)]!; c.drainHost(h); if (!inflight.some((f) => f.h === h)) c.dropHost(h); }
        } else if (x < 0.95) {
          const h = c.hosts[Math.floor(rnd() * c.hosts.length)]!;
          for (let i = 0; i < 5; i++) c.apply(h, { type: 'failure', errorRate: 1, samples: 100 });
        } else if (x < 0.97) {
          // ejected hosts come back through probing -> up (resetLatency)
          for (const h of c.hosts) if (h.state !== 'up' && h.state !== 'closed') { c.apply(h, { type: 'probe-ok' } as any); c.apply(h, { type: 'probe-ok' } as any); }
        }
        let min = Infinity;
        for (const h of c.readCandidates()) min = Math.min(min, h.metrics.exploreAt);
        const bound = (c as any).exploreFrom as number;
        if (!(bound <= min)) throw new Error(`run ${run} step ${step}: exploreFrom ${bound} > min exploreAt ${min}`);
        for (const h of c.hosts) {
          const l = h.metrics.latencyMs();
          if (l !== undefined && !Number.isFinite(l)) throw new Error(`non-finite latency ${l}`);
          if (Number.isNaN(h.metrics.exploreAt)) throw new Error('NaN exploreAt');
        }
      }
    }
  });

  it('a primary that took a few writes and then none does not make read picks scan the hosts', () => {
    let now = 0;
    const mk = (n: string, role: 'primary' | 'replica') => { const h = new Host(n, role, 1, 10, n); h.verified = true; return h; };
    const p = mk('p', 'primary');
    const hosts = [p, mk('r1', 'replica'), mk('r2', 'replica')];
    const c = new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: true, random: lcg(3) }, () => now, () => ({ total: 0, idle: 0, waiting: 0 }));
    const scans = { n: 0 };
    const orig = (c as any).nextExploration.bind(c);
    (c as any).nextExploration = () => { scans.n++; return orig(); };
    // one write at t=0
    const w = c.choose('write'); w.begin(); c.finish(w, 'ok', 1, true, 1, 1);
    // reads only from then on, 1 per 0.1 ms, for 10 s
    let picks = 0;
    for (now = 2; now < 10_000; now += 0.1) {
      const h = c.choose('read'); h.begin(); c.finish(h, 'ok', 1, true, 1, now); picks++;
    }
    // Expected (the optimisation's premise): a scan only when some read candidate is due.
    expect(scans.n).toBeLessThan(picks / 10);
  });

  it('an ejected replica does not make read picks scan the hosts while it is out', () => {
    let now = 0;
    const mk = (n: string, role: 'primary' | 'replica') => { const h = new Host(n, role, 1, 10, n); h.verified = true; return h; };
    const r3 = mk('r3', 'replica');
    const hosts = [mk('p', 'primary'), mk('r1', 'replica'), mk('r2', 'replica'), r3];
    const c = new Cluster(hosts, { picker: 'p2c', fallbackToPrimary: true, random: lcg(3) }, () => now, () => ({ total: 0, idle: 0, waiting: 0 }));
    for (now = 0; now < 3000; now += 0.1) { const h = c.choose('read'); h.begin(); c.finish(h, 'ok', 1, true, 1, now); }
    for (let i = 0; i < 10; i++) c.apply(r3, { type: 'failure', errorRate: 1, samples: 100 });
    expect(r3.state).not.toBe('up');
    const scans = { n: 0 };
    const orig = (c as any).nextExploration.bind(c);
    (c as any).nextExploration = () => { scans.n++; return orig(); };
    let picks = 0;
    for (; now < 8000; now += 0.1) { const h = c.choose('read'); h.begin(); c.finish(h, 'ok', 1, true, 1, now); picks++; }
    expect(scans.n).toBeLessThan(picks / 10);
  });
});
