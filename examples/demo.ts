// npm run demo: a mixed read/write workload over a primary and two replicas for ~20 s with a live
// view of what the balancer does while one replica is slowed, another is killed, then restored.

import { Pool, type HostStats } from '../adapters/pg/index.js';
import { FaultProxy } from '../test/support/fault-proxy.js';
import { demoHosts } from './demo-hosts.js';

const SECONDS = Number(process.env['P2C_DEMO_SECONDS'] ?? 20);
const WORKERS = 16;
const live = process.stdout.isTTY === true;

interface Phase { readonly at: number; readonly label: string; run(): Promise<void> | void }

async function main(): Promise<void> {
  console.log('Starting hosts (P2C_DEMO_PRIMARY / P2C_DEMO_REPLICAS to use your own)...');
  const hosts = await demoHosts();
  console.log(`Hosts: ${hosts.kind === 'pglite' ? 'embedded PGlite on loopback (no PostgreSQL installed)' : hosts.kind === 'local' ? 'local PostgreSQL primary + 2 streaming replicas' : 'from P2C_DEMO_*'}`);
  // Replicas are reached through fault proxies so the demo can slow them down or cut them off.
  const proxies = await Promise.all(hosts.replicas.map((url) => {
    const u = new URL(url);
    return FaultProxy.start({ host: u.hostname, port: Number(u.port || 5432) });
  }));
  const pool = new Pool({
    primary: { connectionString: hosts.primary, name: 'primary' },
    replicas: hosts.replicas.map((url, i) => {
      const u = new URL(url);
      u.hostname = proxies[i]!.host;
      u.port = String(proxies[i]!.port);
      return { connectionString: u.toString(), name: `replica${i + 1}` };
    }),
    max: 8,
    healthCheckIntervalMillis: 500,
    healthCheckTimeoutMillis: 500,
    ejectionMillis: 1000,
    slowStartMillis: 3000,
    // PGlite instances all say they are primaries: keep the configured roles there.
    detectRoles: hosts.kind !== 'pglite',
  });
  const log: string[] = [];
  const note = (line: string) => log.push(`${elapsed().toFixed(1).padStart(5)}s  ${line}`);
  pool.on('error', () => {}); // idle connections to a killed host report here
  pool.on('hostEjected', (h: HostStats) => note(`${h.name} ejected`));
  pool.on('hostDown', (h: HostStats) => note(`${h.name} down`));
  pool.on('hostUp', (h: HostStats) => note(`${h.name} back up (slow start)`));
  const t0 = Date.now();
  const elapsed = () => (Date.now() - t0) / 1000;
  let stopping = false;
  const cleanup = async () => {
    stopping = true;
    await pool.end().catch(() => {});
    for (const p of proxies) await p.stop();
    await hosts.stop();
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    for (const url of [hosts.primary, ...hosts.replicas]) await prepare(url);
    const phases: Phase[] = [
      { at: 0.25, label: 'replica1 slowed by 20 ms', run: () => proxies[0]!.setDelay(20) },
      { at: 0.5, label: 'replica2 killed', run: async () => { if (hosts.crash) await hosts.crash(1); else await proxies[1]!.refuse(); } },
      { at: 0.7, label: 'replica2 restored', run: async () => { if (hosts.restart) await hosts.restart(1); else await proxies[1]!.heal(); } },
      { at: 0.85, label: 'replica1 back to normal', run: () => proxies[0]!.setDelay(0) },
    ];
    await run(pool, phases, note, log, elapsed, () => stopping);
  } finally {
    await cleanup();
  }
}

/** The demo table on every host (PGlite hosts do not replicate, so each gets its own). */
async function prepare(url: string): Promise<void> {
  const p = new Pool({ connectionString: url, max: 1 });
  try {
    await p.query('CREATE TABLE IF NOT EXISTS p2c_demo (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), v int)');
  } catch (err) {
    // A replica is read-only: it gets the table from its primary.
    if ((err as { code?: string }).code !== '25006') throw err;
  } finally {
    await p.end();
  }
}

async function run(pool: Pool, phases: Phase[], note: (l: string) => void, log: string[], elapsed: () => number, stopping: () => boolean): Promise<void> {
  const deadline = Date.now() + SECONDS * 1000;
  let reads = 0, writes = 0, failed = 0;
  const workers = Array.from({ length: WORKERS }, async () => {
    while (Date.now() < deadline && !stopping()) {
      try {
        if (Math.random() < 0.1) {
          await pool.query('INSERT INTO p2c_demo (v) VALUES ($1)', [Math.floor(Math.random() * 1000)]);
          writes++;
        } else {
          await pool.query('SELECT count(*) FROM (SELECT 1 FROM p2c_demo LIMIT 100) t');
          reads++;
        }
      } catch {
        failed++;
      }
    }
  });
  const names = pool.stats().hosts.map((h) => h.name);
  // Served = completed queries minus host failures (a failed attempt was retried elsewhere).
  const served = (h: HostStats) => h.queries - h.errors;
  let last = new Map(pool.stats().hosts.map((h) => [h.name, served(h)]));
  const perPhase: { label: string; counts: Map<string, number> }[] = [{ label: 'normal', counts: new Map() }];
  let nextPhase = 0;
  const frame = () => {
    const t = elapsed();
    const hosts = pool.stats().hosts;
    const deltas = hosts.map((h) => served(h) - (last.get(h.name) ?? 0));
    last = new Map(hosts.map((h) => [h.name, served(h)]));
    // What was served since the last frame belongs to the phase that was running; then switch.
    const current = perPhase.at(-1)!.counts;
    hosts.forEach((h, i) => current.set(h.name, (current.get(h.name) ?? 0) + deltas[i]!));
    while (nextPhase < phases.length && t >= phases[nextPhase]!.at * SECONDS) {
      const p = phases[nextPhase++]!;
      note(p.label);
      perPhase.push({ label: p.label, counts: new Map() });
      void Promise.resolve(p.run()).catch((err: Error) => note(`(${p.label} failed: ${err.message})`));
    }
    const replicaTotal = deltas.slice(1).reduce((a, b) => a + b, 0) || 1;
    const lines = [`p2c-pool demo  t=${t.toFixed(1)}s/${SECONDS}s  reads ${reads}  writes ${writes}  failed ${failed}`, '',
      `${'host'.padEnd(10)} ${'role'.padEnd(8)} ${'state'.padEnd(8)} ${'reads/s share'.padEnd(34)} ${'in-flight'.padStart(9)} ${'latency'.padStart(9)} ${'errors'.padStart(6)}`];
    hosts.forEach((h, i) => {
      const share = h.role === 'replica' ? deltas[i]! / replicaTotal : 0;
      const bar = h.role === 'replica' ? `${'█'.repeat(Math.round(share * 20)).padEnd(20, '·')} ${(share * 100).toFixed(0).padStart(3)}%` : '(writes)'.padEnd(25);
      const latency = h.latencyMs === null ? '-' : `${h.latencyMs.toFixed(1)}ms`;
      lines.push(`${h.name.padEnd(10)} ${h.role.padEnd(8)} ${h.state.padEnd(8)} ${String(deltas[i]! * 2).padStart(6)} ${bar.padEnd(27)} ${String(h.inflight).padStart(9)} ${latency.padStart(9)} ${String(h.errors).padStart(6)}`);
    });
    lines.push('', 'events:', ...log.slice(-8));
    if (live) process.stdout.write(`\x1b[H\x1b[2J${lines.join('\n')}\n`);
    else if (Math.round(t * 2) % 2 === 0) console.log(lines.slice(0, 3 + hosts.length).join('\n'));
  };
  const ticker = setInterval(frame, 500);
  try {
    await Promise.all(workers);
  } finally {
    clearInterval(ticker);
  }
  frame();
  console.log(`\nSummary: ${reads} reads, ${writes} writes, ${failed} failed in ${SECONDS} s`);
  for (const phase of perPhase) {
    const total = names.slice(1).reduce((a, n) => a + (phase.counts.get(n) ?? 0), 0) || 1;
    console.log(`  ${phase.label.padEnd(26)} replica reads: ${names.slice(1).map((n) => `${n} ${(((phase.counts.get(n) ?? 0) / total) * 100).toFixed(1)}%`).join(', ')}`);
  }
  console.log('\nWhat the balancer did:');
  for (const line of log) console.log(`  ${line}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
