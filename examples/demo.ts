// npm run demo: a mixed read/write workload over a primary and two replicas for ~20 s; halfway one
// replica is slowed by 20 ms through a fault proxy and the table shows P2C moving reads away from it.

import { Pool } from '../adapters/pg/index.js';
import { startPgCluster, type PgCluster } from '../test/support/pg-cluster.js';
import { FaultProxy } from '../test/support/fault-proxy.js';

const SECONDS = Number(process.env['P2C_DEMO_SECONDS'] ?? 20);
const WORKERS = 16;

async function main(): Promise<void> {
  let cluster: PgCluster | undefined;
  let primary = process.env['P2C_DEMO_PRIMARY'];
  let replicas = (process.env['P2C_DEMO_REPLICAS'] ?? '').split(',').filter(Boolean);
  if (!primary) {
    console.log('Starting a local PostgreSQL primary and two streaming replicas (set P2C_DEMO_PRIMARY / P2C_DEMO_REPLICAS to use your own)...');
    cluster = await startPgCluster({ replicas: 2 });
    primary = cluster.primary.url;
    replicas = cluster.replicas.map((r) => r.url);
  }
  if (replicas.length === 0) throw new Error('The demo needs at least one replica (P2C_DEMO_REPLICAS).');
  // Each replica is reached through a fault proxy so one can be slowed down mid-run.
  const proxies = await Promise.all(replicas.map((url) => {
    const u = new URL(url);
    return FaultProxy.start({ host: u.hostname, port: Number(u.port || 5432) });
  }));
  const pool = new Pool({
    primary,
    replicas: replicas.map((url, i) => {
      const u = new URL(url);
      u.hostname = proxies[i]!.host;
      u.port = String(proxies[i]!.port);
      return { connectionString: u.toString(), name: `replica${i + 1}` };
    }),
    max: 10,
  });
  pool.on('error', (err) => console.error('idle client error:', err.message));
  const stop = async () => {
    await pool.end().catch(() => {});
    await Promise.all(proxies.map((p) => p.stop()));
    await cluster?.stop();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    await run(pool, proxies);
  } finally {
    await stop();
  }
}

async function run(pool: Pool, proxies: FaultProxy[]): Promise<void> {
  await pool.query('CREATE TABLE IF NOT EXISTS p2c_demo (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), v int)');
  const started = Date.now();
  const deadline = started + SECONDS * 1000;
  let reads = 0;
  let writes = 0;
  let failures = 0;
  const workers = Array.from({ length: WORKERS }, async () => {
    while (Date.now() < deadline) {
      try {
        if (Math.random() < 0.1) {
          await pool.query('INSERT INTO p2c_demo (v) VALUES ($1)', [Math.floor(Math.random() * 1000)]);
          writes++;
        } else {
          await pool.query('SELECT count(*) FROM p2c_demo WHERE v < $1', [Math.floor(Math.random() * 1000)]);
          reads++;
        }
      } catch (err) {
        failures++;
        if (failures < 5) console.error('query failed:', (err as Error).message);
      }
    }
  });

  const names = pool.stats().hosts.map((h) => h.name);
  let last = new Map(pool.stats().hosts.map((h) => [h.name, h.queries]));
  const perPhase = { before: new Map<string, number>(), after: new Map<string, number>() };
  let slowed = false;
  const ticker = setInterval(() => {
    const elapsed = Math.round((Date.now() - started) / 1000);
    if (!slowed && elapsed >= SECONDS / 2) {
      slowed = true;
      proxies[0]!.setDelay(20);
      console.log(`\n>>> t=${elapsed}s: ${names[1]} is now 20 ms slower (fault proxy)\n`);
    }
    const hosts = pool.stats().hosts;
    const deltas = hosts.map((h) => h.queries - (last.get(h.name) ?? 0));
    const sum = deltas.reduce((a, b) => a + b, 0) || 1;
    last = new Map(hosts.map((h) => [h.name, h.queries]));
    const phase = slowed ? perPhase.after : perPhase.before;
    console.log(`t=${String(elapsed).padStart(2)}s  ${'host'.padEnd(16)} ${'role'.padEnd(8)} ${'share'.padStart(6)} ${'q/s'.padStart(6)} ${'inflight'.padStart(8)} ${'latency'.padStart(9)} ${'errors'.padStart(6)}`);
    hosts.forEach((h, i) => {
      phase.set(h.name, (phase.get(h.name) ?? 0) + deltas[i]!);
      const share = `${((deltas[i]! / sum) * 100).toFixed(0)}%`;
      const latency = h.latencyMs === null ? '-' : `${h.latencyMs.toFixed(2)}ms`;
      console.log(`       ${h.name.padEnd(16)} ${h.role.padEnd(8)} ${share.padStart(6)} ${String(deltas[i]).padStart(6)} ${String(h.inflight).padStart(8)} ${latency.padStart(9)} ${String(h.errors).padStart(6)}`);
    });
  }, 1000);
  try {
    await Promise.all(workers);
  } finally {
    clearInterval(ticker);
  }
  console.log(`\nSummary: ${reads} reads, ${writes} writes, ${failures} failed in ${SECONDS}s`);
  for (const [label, phase] of [['before the slowdown', perPhase.before], ['after the slowdown', perPhase.after]] as const) {
    const replicaTotal = names.slice(1).reduce((a, n) => a + (phase.get(n) ?? 0), 0) || 1;
    const parts = names.slice(1).map((n) => `${n} ${(((phase.get(n) ?? 0) / replicaTotal) * 100).toFixed(1)}%`);
    console.log(`  share of replica reads ${label}: ${parts.join(', ')}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
