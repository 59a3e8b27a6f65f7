// Pure parts of topologies: libpq multi-host URL splitting, config expansion, the discovery runner.
import { describe, expect, it } from 'vitest';
import { expandMultiHostUrls, splitMultiHostUrl } from '../../adapters/pg/options.js';
import { Discoverer, dnsDiscovery, patroniDiscovery, type DiscoveredHost, type DiscoveryProvider } from '../../src/discovery.js';
import { ConfigError } from '../../src/errors.js';
import { normalizeCluster } from '../../src/config.js';
import { pgDriverSpec } from '../../adapters/pg/options.js';

describe('splitMultiHostUrl', () => {
  it('splits the host list and keeps credentials, database and parameters on every host', () => {
    expect(splitMultiHostUrl('postgres://app:p%40ss@db1:5432,db2:5433,db3/app?sslmode=disable&target_session_attrs=read-write&load_balance_hosts=random')).toEqual({
      urls: ['postgres://app:p%40ss@db1:5432/app?sslmode=disable', 'postgres://app:p%40ss@db2:5433/app?sslmode=disable', 'postgres://app:p%40ss@db3/app?sslmode=disable'],
      targetSessionAttrs: 'read-write',
      loadBalanceHosts: 'random',
    });
  });
  it('reads IPv6 brackets, a password with @ and commas, and the host= parameter form', () => {
    expect(splitMultiHostUrl('postgresql://u:a@b,c@[::1]:5432,[fe80::2]/d')!.urls).toEqual(['postgresql://u:a@b,c@[::1]:5432/d', 'postgresql://u:a@b,c@[fe80::2]/d']);
    expect(splitMultiHostUrl('postgres:///d?host=h1,h2&port=1,2&application_name=x')!.urls).toEqual(['postgres:///d?host=h1&port=1&application_name=x', 'postgres:///d?host=h2&port=2&application_name=x']);
    expect(splitMultiHostUrl('postgres:///d?host=h1,h2&port=7')!.urls).toEqual(['postgres:///d?host=h1&port=7', 'postgres:///d?host=h2&port=7']);
  });
  it('leaves single-host strings alone (they behave exactly as in pg)', () => {
    for (const s of ['postgres://u@h/d?target_session_attrs=any', 'postgres://u@h:5432/d', 'socket:/var/run/postgresql?db=x', 'host=a,b dbname=x', 'postgres:///d?host=/tmp']) {
      expect(splitMultiHostUrl(s)).toBeUndefined();
    }
  });
  it('refuses empty entries, port lists that do not match and hosts listed twice over', () => {
    expect(() => splitMultiHostUrl('postgres://u@a,,b/d')).toThrow('empty entry');
    expect(() => splitMultiHostUrl('postgres://u@a,b,/d')).toThrow('empty entry');
    expect(() => splitMultiHostUrl('postgres:///d?host=a,b,c&port=1,2')).toThrow('number of ports');
    expect(() => splitMultiHostUrl('postgres://u@a,b/d?host=c,d')).toThrow('both');
  });
});

describe('expandMultiHostUrls', () => {
  it('makes the hosts form with shared options taken from the URL (the URL wins, as in pg)', () => {
    const out = expandMultiHostUrls({ connectionString: 'postgres://app:pw@db1:5432,db2/app?target_session_attrs=standby&load_balance_hosts=disable', user: 'other', max: 4 }) as Record<string, unknown>;
    expect(out).toEqual({ user: 'app', password: 'pw', database: 'app', max: 4, hosts: ['postgres://app:pw@db1:5432/app', 'postgres://app:pw@db2/app'], targetSessionAttrs: 'standby', picker: 'ordered' });
    const spec = normalizeCluster(out, pgDriverSpec);
    expect(spec.hosts.map((h) => h.name)).toEqual(['db1:5432', 'db2:5432']);
    expect(spec.targetSessionAttrs).toBe('standby');
  });
  it('keeps explicit options over URL parameters, and the other hosts of a list', () => {
    const out = expandMultiHostUrls({ hosts: ['postgres://u@a,b/d?load_balance_hosts=disable', { host: 'c' }], picker: 'round-robin' }) as Record<string, unknown>;
    expect(out['hosts']).toEqual(['postgres://u@a/d', 'postgres://u@b/d', { host: 'c' }]);
    expect(out['picker']).toBe('round-robin');
  });
  it('keeps each URL its own login and parameters (pg reads them, numeric ones included); a server listed twice is one host', () => {
    const out = expandMultiHostUrls({ hosts: ['postgres://alice:pw1@h1,h2/db1?statement_timeout=100', 'postgres://bob:pw2@h3,h1/db2?application_name=b'] }) as Record<string, unknown>;
    expect(out['hosts']).toEqual(['postgres://alice:pw1@h1/db1?statement_timeout=100', 'postgres://alice:pw1@h2/db1?statement_timeout=100', 'postgres://bob:pw2@h3/db2?application_name=b']);
    expect(out).toMatchObject({ user: 'alice', password: 'pw1', database: 'db1' });
    expect(out['statement_timeout']).toBeUndefined();
    const spec = normalizeCluster(out, pgDriverSpec);
    expect(spec.hosts.map((h) => h.name)).toEqual(['h1:5432', 'h2:5432', 'h3:5432']);
    expect(() => splitMultiHostUrl('postgres://u@h1,h2/d?host=h3')).toThrow('both');
    expect(() => splitMultiHostUrl('postgres:///d?host=h1,&port=1')).toThrow('empty entry');
    expect(splitMultiHostUrl('postgres://u@h1, h2/d')!.urls).toEqual(['postgres://u@h1/d', 'postgres://u@h2/d']);
    expect(() => splitMultiHostUrl('postgres://u@h1,h2/d?sslrootcert=/nonexistent/x.pem')).toThrow(/one host's URL/);
  });

  it('refuses a multi-host connectionString beside primary/replicas/hosts, and bad libpq values', () => {
    expect(() => expandMultiHostUrls({ connectionString: 'postgres://u@a,b/d', replicas: [] })).toThrow(ConfigError);
    expect(() => expandMultiHostUrls({ connectionString: 'postgres://u@a,b/d?load_balance_hosts=x' })).toThrow(ConfigError);
    expect(() => normalizeCluster(expandMultiHostUrls({ connectionString: 'postgres://u@a,b/d?target_session_attrs=x' }) as Record<string, unknown>, pgDriverSpec)).toThrow(/targetSessionAttrs/);
  });
});

describe('discovery options', () => {
  it('validates providers', () => {
    expect(() => normalizeCluster({ discovery: {} }, pgDriverSpec)).toThrow(ConfigError);
    expect(() => normalizeCluster({ discovery: { kind: 'x', discover: async () => [], intervalMillis: 0 } }, pgDriverSpec)).toThrow(/intervalMillis/);
    expect(normalizeCluster({ discovery: { kind: 'x', discover: async () => [] } }, pgDriverSpec).hosts).toEqual([]);
    expect(() => dnsDiscovery({ name: '' })).toThrow(TypeError);
    expect(() => patroniDiscovery({ urls: [] })).toThrow(TypeError);
    expect(() => patroniDiscovery({ urls: ['not a url'] })).toThrow(TypeError);
  });
});

describe('Discoverer', () => {
  const provider = (discover: DiscoveryProvider['discover']): DiscoveryProvider => ({ kind: 'test', discover });
  it('applies non-empty lists; an empty list, a rejection or a bad value changes nothing and is reported', async () => {
    const applied: (readonly DiscoveredHost[])[] = [];
    const errors: string[] = [];
    const answers: unknown[] = [[{ host: 'a' }], [], Promise.reject(new Error('boom')), 'nonsense'];
    const d = new Discoverer(provider(async () => (await answers.shift()) as DiscoveredHost[]), async (hosts) => void applied.push(hosts), 1000);
    d.onError = (e) => errors.push(e.message);
    for (let i = 0; i < 4; i++) await d.run();
    expect(applied).toEqual([[{ host: 'a' }]]);
    expect(errors).toEqual(['test discovery found no host; keeping the current ones', 'boom', 'test discovery returned no list']);
  });
  it("a discoveryError listener that throws does not stop discovery; its exception surfaces on its own, as a listener's would", async () => {
    const thrown: unknown[] = [];
    const nextTick = process.nextTick;
    process.nextTick = ((fn: () => void) => { try { fn(); } catch (e) { thrown.push(e); } }) as typeof process.nextTick;
    try {
      let runs = 0;
      const d = new Discoverer(provider(async () => { runs++; throw new Error('down'); }), async () => {}, 100);
      d.onError = () => { throw new Error('listener bug'); };
      await d.run();
      await d.run();
      expect(runs).toBe(2);
      expect(thrown.map((e) => (e as Error).message)).toEqual(['listener bug', 'listener bug']);
    } finally {
      process.nextTick = nextTick;
    }
  });

  it('bounds a provider that never answers, and aborts it', async () => {
    let aborted = false;
    const d = new Discoverer(provider((signal) => new Promise(() => signal.addEventListener('abort', () => { aborted = true; }))), async () => {}, 50);
    const errors: string[] = [];
    d.onError = (e) => errors.push(e.message);
    await d.run();
    expect(errors).toEqual(['test discovery timed out after 50 ms']);
    expect(aborted).toBe(true);
  });
  it('a provider that throws synchronously is a failed run, not a crash; runs requested meanwhile are merged into one', async () => {
    let calls = 0;
    const d = new Discoverer(provider(() => { calls++; throw new Error('sync'); }), async () => {}, 100);
    const errors: string[] = [];
    d.onError = (e) => errors.push(e.message);
    await Promise.all([d.run(), d.run(), d.run()]);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(2);
    expect(errors).toEqual(['sync', 'sync']);
    d.stop();
    await d.run();
    expect(calls).toBe(2);
  });
});

describe('patroniDiscovery (against local HTTP servers shaped like Patroni)', () => {
  it('takes the first answer of all known nodes (one refused, one black-holed), keeps serving members, leaves out noloadbalance ones', async () => {
    const { createServer } = await import('node:http');
    const members = [
      { name: 'n1', role: 'leader', state: 'running', host: '10.0.0.1', port: 5432, api_url: 'http://127.0.0.1:1/patroni', tags: { noloadbalance: true } },
      { name: 'n2', role: 'sync_standby', state: 'streaming', host: '10.0.0.2', port: 5432 },
      { name: 'n3', role: 'replica', state: 'running', host: '10.0.0.3', port: 5433, tags: { noloadbalance: 'true' } },
      { name: 'n4', role: 'replica', state: 'stopped', host: '10.0.0.4', port: 5432 },
      { name: 'n5', role: 'replica', state: 'starting', host: '10.0.0.5', port: 5432 },
    ];
    const good = createServer((req, res) => res.end(JSON.stringify(req.url === '/cluster' ? { members } : {})));
    const hole = createServer(() => {}); // accepts, never answers
    await Promise.all([good, hole].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    const url = (s: typeof good) => `http://127.0.0.1:${(s.address() as { port: number }).port}`;
    try {
      const p = patroniDiscovery({ urls: ['http://127.0.0.1:1', url(hole), `${url(good)}/`] });
      const started = Date.now();
      expect(await p.discover(AbortSignal.timeout(2000))).toEqual([
        { host: '10.0.0.1', port: 5432, role: 'primary' },
        { host: '10.0.0.2', port: 5432, role: 'replica' },
      ]);
      expect(Date.now() - started).toBeLessThan(1000);
      const all = patroniDiscovery({ urls: [url(good)], includeNoLoadBalance: true });
      expect((await all.discover(AbortSignal.timeout(2000))).map((h) => h.host)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
      const none = patroniDiscovery({ urls: ['http://127.0.0.1:1', url(hole)] });
      await expect(none.discover(AbortSignal.timeout(300))).rejects.toThrow();
    } finally {
      hole.closeAllConnections();
      await Promise.all([good, hole].map((s) => new Promise((r) => s.close(r))));
    }
  });
});
