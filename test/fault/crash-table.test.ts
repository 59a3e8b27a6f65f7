// The fault-and-crash table: reset, refuse and black-hole faults on the primary or one replica under a
// mixed workload, every connection of the pool through a fault proxy; nothing crashes, hangs or leaks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Pool, type PoolOptions } from '../../adapters/pg/index.js';
import { useCluster } from '../support/vitest-cluster.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../support/load.js';
import { recordUncaught, sql, waitForReplay } from '../support/pg-admin.js';
import { WRITE_POSITION_SQL } from '../../adapters/pg/probe.js';

const cluster = useCluster({ replicas: 2 });

/** The pool's timeouts; every bound below is derived from them. */
const TIMEOUTS = { healthCheckIntervalMillis: 100, healthCheckTimeoutMillis: 300, queryTimeoutMillis: 500, connectionTimeoutMillis: 300 } as const;
/**
 * Longest one operation may take. A read's worst legitimate path: a wait for a pending position
 * check (discovery delay 200 + check 350), then two attempts, each a connect plus a statement
 * timeout, with a host check in between: 550 + 2 * (300 + 500) + 350 = 2500 ms.
 */
const OP_BOUND_MS = 3000;
const FAULT_AT_MS = 700;
const WORKLOAD_MS = 3000;
const APP = 'p2c-crash';

type FaultKind = 'reset' | 'refuse' | 'blackhole';
type Target = 'primary' | 'replica1';

/** How each fault is injected and for how long. */
const FAULTS: Record<FaultKind, { healAfterMs: number; inject(proxy: FaultProxy): Promise<void> | void }> = {
  // Every open and new connection reset for ~300 ms.
  reset: { healAfterMs: 300, inject: (p) => p.reset() },
  // Kill-like: refused, open connections reset, back after ~1 s.
  refuse: { healAfterMs: 1000, inject: (p) => p.refuse() },
  // Silent for ~1 s; sockets black-holed meanwhile stay stuck until their timeouts.
  blackhole: { healAfterMs: 1000, inject: (p) => p.blackhole() },
};

interface Scenario {
  readonly fault: FaultKind;
  readonly target: Target;
  /**
   * Reads through pool.query: 'never' fail (the fault can be avoided by retrying elsewhere), or
   * fail only because they needed the faulted primary (read-your-writes sends reads after a write
   * whose position is unknown, or not yet replayed, to the primary).
   */
  readonly reads: 'never' | 'primary-bound';
  /** Writes and transactions may fail (with a typed error) only while the primary is the target. */
  readonly writesMayFail: boolean;
  /** The target is ejected by the pool (health checks every 100 ms outlive every fault). */
  readonly ejected: boolean;
}

const scenarios: Scenario[] = [
  { fault: 'reset', target: 'primary', reads: 'primary-bound', writesMayFail: true, ejected: true },
  { fault: 'reset', target: 'replica1', reads: 'never', writesMayFail: false, ejected: true },
  { fault: 'refuse', target: 'primary', reads: 'primary-bound', writesMayFail: true, ejected: true },
  { fault: 'refuse', target: 'replica1', reads: 'never', writesMayFail: false, ejected: true },
  { fault: 'blackhole', target: 'primary', reads: 'primary-bound', writesMayFail: true, ejected: true },
  { fault: 'blackhole', target: 'replica1', reads: 'never', writesMayFail: false, ejected: true },
];

/** What the workload does: pool.query reads/writes, routing-client transactions, a leased replica client. */
type Actor = 'read' | 'write' | 'own-read' | 'tx' | 'lease-connect' | 'lease-read';
/** Operations whose errors come from the pool, so must carry a `code` (leased clients give pg's own errors). */
const POOL_ACTORS: ReadonlySet<Actor> = new Set(['read', 'write', 'own-read', 'lease-connect']);

interface Failure { readonly actor: Actor; readonly code: string | undefined; readonly host: string | undefined; readonly message: string; readonly ms: number }

class HangError extends Error {
  constructor(actor: Actor) {
    super(`${actor} did not settle within ${OP_BOUND_MS} ms`);
  }
}

/** Every operation of one run: counts, failures and the slowest, each bounded by OP_BOUND_MS. */
class Recorder {
  readonly ops = new Map<Actor, number>();
  readonly failures: Failure[] = [];
  readonly hangs: string[] = [];
  slowest = { actor: 'read' as Actor, ms: 0 };
  private readonly timers = new Set<NodeJS.Timeout>();

  async op<T>(actor: Actor, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    this.ops.set(actor, (this.ops.get(actor) ?? 0) + 1);
    const work = fn();
    work.catch(() => {}); // a late rejection after the watchdog fired is not an unhandled one
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HangError(actor)), OP_BOUND_MS);
      this.timers.add(timer);
    });
    try {
      return await Promise.race([work, watchdog]);
    } catch (err) {
      const ms = performance.now() - start;
      if (err instanceof HangError) this.hangs.push(err.message);
      const e = err as { code?: unknown; p2cCode?: unknown; host?: unknown; message?: unknown };
      // p2c's code where the pool marked the driver's error (a host's failure), else the error's own.
      const code = typeof e.p2cCode === 'string' ? e.p2cCode : typeof e.code === 'string' ? e.code : undefined;
      this.failures.push({ actor, ms, code, host: typeof e.host === 'string' ? e.host : undefined, message: String(e.message) });
      throw err;
    } finally {
      clearTimeout(timer);
      this.timers.delete(timer!);
      const ms = performance.now() - start;
      if (ms > this.slowest.ms) this.slowest = { actor, ms };
    }
  }

  failed(actor: Actor): Failure[] {
    return this.failures.filter((f) => f.actor === actor);
  }

  /** `actor code×n` per distinct failure, for the figures. */
  summary(): string {
    const counts = new Map<string, number>();
    for (const f of this.failures) {
      const key = `${f.actor} ${f.code ?? `"${f.message.slice(0, 40)}"`}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].map(([k, n]) => `${k} x${n}`).join('; ') || 'none';
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/** Distinct failures as `actor: code message xN`, for readable assertion diffs. */
function distinct(failures: readonly Failure[]): string[] {
  const counts = new Map<string, number>();
  for (const f of failures) {
    const key = `${f.actor}: ${f.code ?? 'no code'} ${f.message.slice(0, 120)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} x${n}`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Waits for `promise` to settle, at most `ms`; never rejects, leaves no timer behind. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => {}), new Promise<void>((r) => { timer = setTimeout(r, ms); })]);
  clearTimeout(timer);
}



const uncaught = recordUncaught();
const figures: string[][] = [];

beforeAll(async () => {
  await sql(cluster().primary.url, 'CREATE TABLE IF NOT EXISTS crash_t (id bigserial PRIMARY KEY, v text NOT NULL)');
  await sql(cluster().primary.url, 'CREATE INDEX IF NOT EXISTS crash_t_v ON crash_t (v)');
  await waitForReplay(cluster());
});

afterAll(() => {
  const head = ['scenario', 'ops (read/write/own-read/tx/lease)', 'failures by kind and code', 'slowest op', 'target ejected; all hosts up', 'pool errors', 'conns via target proxy'];
  const rows = [head, ...figures];
  const widths = head.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  console.log(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')).join('\n'));
});

interface Run {
  readonly rec: Recorder;
  /** Values of INSERTs (pool.query and committed transactions) that resolved. */
  readonly acknowledged: string[];
  /** Values inserted in transactions whose COMMIT was never sent: must not exist. */
  readonly uncommitted: string[];
  /** A read of one's own row that did not see it (read-your-writes, or inside the transaction). */
  stale: number;
}

/** The mixed workload: 8 readers, 2 writers, 2 routing clients, 1 leased replica client, until `until`. */
function workload(pool: Pool, prefix: string, until: number): { run: Run; done: Promise<unknown> } {
  const run: Run = { rec: new Recorder(), acknowledged: [], uncommitted: [], stale: 0 };
  const { rec } = run;
  let seq = 0;
  const value = (who: string) => `${prefix}-${who}-${seq++}`;
  const going = () => Date.now() < until;
  // A failure that settles at once (no primary) must not spin the event loop.
  const pause = () => sleep(5);

  const reader = async () => {
    while (going()) {
      try { await rec.op('read', () => pool.query('SELECT inet_server_port() AS port')); } catch (err) {
        if (err instanceof HangError) return;
        await pause();
      }
    }
  };
  const writer = async (w: number) => {
    while (going()) {
      const v = value(`w${w}`);
      try {
        await rec.op('write', () => pool.query('INSERT INTO crash_t (v) VALUES ($1)', [v]));
        run.acknowledged.push(v);
      } catch (err) {
        if (err instanceof HangError) return;
        await pause();
        continue;
      }
      try {
        const { rows } = await rec.op('own-read', () => pool.query('SELECT count(*)::int AS n FROM crash_t WHERE v = $1', [v]));
        if (rows[0].n !== 1) run.stale++;
      } catch (err) {
        if (err instanceof HangError) return;
        await pause();
      }
    }
  };
  const transactor = async (t: number) => {
    while (going()) {
      let client: pg.PoolClient;
      try {
        client = await rec.op('tx', () => pool.connect({ role: 'auto' })); // a RoutingClient: connects on BEGIN
      } catch (err) {
        if (err instanceof HangError) return;
        await pause();
        continue;
      }
      const v = value(`t${t}`);
      let commitSent = false;
      try {
        await rec.op('tx', () => client.query('BEGIN'));
        await rec.op('tx', () => client.query('INSERT INTO crash_t (v) VALUES ($1)', [v]));
        const { rows } = await rec.op('tx', () => client.query('SELECT count(*)::int AS n FROM crash_t WHERE v = $1', [v]));
        if (rows[0].n !== 1) run.stale++; // its own connection must see its own row
        commitSent = true;
        await rec.op('tx', () => client.query('COMMIT'));
        run.acknowledged.push(v);
        client.release();
      } catch (err) {
        if (!commitSent) run.uncommitted.push(v);
        client.release(err as Error);
        if (err instanceof HangError) return;
        await pause();
      }
    }
  };
  const leased = async () => {
    while (going()) {
      let client: pg.PoolClient;
      try {
        client = await rec.op('lease-connect', () => pool.connect({ role: 'replica' }));
      } catch (err) {
        if (err instanceof HangError) return;
        await pause();
        continue;
      }
      try {
        for (let i = 0; i < 10 && going(); i++) await rec.op('lease-read', () => client.query('SELECT inet_server_port() AS port'));
        client.release();
      } catch (err) {
        client.release(err as Error);
        if (err instanceof HangError) return;
        await pause();
      }
    }
  };
  const done = Promise.all([
    ...Array.from({ length: 8 }, reader),
    writer(1), writer(2),
    transactor(1), transactor(2),
    leased(),
  ]);
  return { run, done };
}

describe('fault-and-crash table: primary + 2 replicas, every connection through a fault proxy', () => {
  it.each(scenarios.map((s) => [`${s.fault} on ${s.target}`, s] as const))('%s', async (name, scenario) => {
    const c = cluster();
    const nodes = { primary: c.primary, replica1: c.replicas[0]!, replica2: c.replicas[1]! };
    const proxies: Partial<Record<keyof typeof nodes, FaultProxy>> = {};
    const uncaughtBefore = uncaught.length;
    const timersBefore = activeTimers();
    let pool: Pool | undefined;
    let healTimer: NodeJS.Timeout | undefined;
    let run: Run | undefined;
    let workloadDone: Promise<unknown> | undefined;
    try {
      for (const [key, node] of Object.entries(nodes)) proxies[key as keyof typeof nodes] = await FaultProxy.start({ host: node.host, port: node.port });
      const via = (key: keyof typeof nodes) => ({ host: proxies[key]!.host, port: proxies[key]!.port, user: 'postgres', database: 'postgres', name: key });
      pool = new Pool({
        primary: via('primary'),
        replicas: [via('replica1'), via('replica2')],
        application_name: APP,
        max: 10,
        consistency: 'read-your-writes',
        ...TIMEOUTS,
        // Short ejections, so a healed host is probed and back within the settle below.
        ejectionMillis: 500,
      } as PoolOptions);
      const p = pool;
      let poolErrors = 0;
      p.on('error', () => { poolErrors++; }); // idle connections of a faulted host report here
      let ejectedAt: number | undefined;
      let injectedAt = 0;
      p.on('hostEjected', (h: { name: string }) => { if (h.name === scenario.target && injectedAt > 0) ejectedAt ??= Date.now() - injectedAt; });
      await p.query('SELECT 1'); // roles verified

      const prefix = `${scenario.fault}-${scenario.target}-${Date.now()}`;
      const started = Date.now();
      const w = workload(p, prefix, started + WORKLOAD_MS);
      run = w.run;
      workloadDone = w.done;
      await sleep(FAULT_AT_MS);
      const target = proxies[scenario.target]!;
      injectedAt = Date.now();
      const injecting = Promise.resolve(FAULTS[scenario.fault].inject(target));
      await new Promise<void>((resolve) => { healTimer = setTimeout(resolve, FAULTS[scenario.fault].healAfterMs); });
      await injecting;
      await target.heal();
      // (2) Every operation settles within OP_BOUND_MS (the recorder's watchdog), so this ends.
      await workloadDone;
      const { rec } = run;

      // (3) The pool works again once healed: every host back up, a read and a write succeed, nothing in flight.
      const backMs = await waitFor(() => p.stats().hosts.every((h) => h.state === 'up' && h.verified), 8000).catch(() => -1);
      const check = `${prefix}-after`;
      await p.query('INSERT INTO crash_t (v) VALUES ($1)', [check]);
      expect((await p.query('SELECT count(*)::int AS n FROM crash_t WHERE v = $1', [check])).rows[0].n).toBe(1);
      await waitFor(() => p.stats().hosts.every((h) => h.inflight === 0 && h.waiting === 0), 1000).catch(() => {});
      const hosts = p.stats().hosts;

      // (4) No connection of this pool idle inside a transaction on any server.
      const idleInTx = async () => (await Promise.all(Object.values(nodes).map((n) => sql<{ pid: number; state: string; query: string }>(n.url,
        "SELECT pid, state, query FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in transaction%'", [APP])))).flat();
      await waitFor(async () => (await idleInTx()).length === 0, 3000).catch(() => {});
      const leftInTx = await idleInTx();

      // (6) Every acknowledged write is on the primary, once; no uncommitted transaction's row is.
      const counts = new Map((await sql<{ v: string; n: number }>(c.primary.url, 'SELECT v, count(*)::int AS n FROM crash_t WHERE v LIKE $1 GROUP BY v', [`${prefix}-%`])).map((r) => [r.v, r.n]));
      const lost = run.acknowledged.filter((v) => counts.get(v) !== 1);
      const leaked = run.uncommitted.filter((v) => counts.has(v));

      const ops = (['read', 'write', 'own-read', 'tx', 'lease-read'] as const).map((a) => rec.ops.get(a) ?? 0);
      figures.push([
        name,
        `${ops.reduce((a, b) => a + b, 0)} (${ops.join('/')})`,
        rec.summary() + (run.stale ? `; STALE own-reads ${run.stale}` : ''),
        `${rec.slowest.ms.toFixed(0)} ms (${rec.slowest.actor})`,
        ejectedAt === undefined ? 'no' : `yes, ${ejectedAt} ms after fault; +${backMs} ms after workload`,
        String(poolErrors),
        String(target.accepted),
      ]);
      console.log(`${name}: ${figures.at(-1)!.join(' | ')}`);

      // Soft: one run reports every broken promise, not just the first.
      // (1) No uncaught exception, no unhandled rejection.
      expect.soft(uncaught.slice(uncaughtBefore), '(1) uncaught exceptions / unhandled rejections').toEqual([]);
      // (2) No hang.
      expect.soft(rec.hangs, '(2) operations that did not settle').toEqual([]);
      expect.soft(rec.slowest.ms, '(2) slowest operation, ms').toBeLessThan(OP_BOUND_MS);
      // (3) Back to work after healing; nothing left in flight.
      expect.soft(backMs, '(3) ms until every host was up again (-1: never)').toBeGreaterThanOrEqual(0);
      expect.soft(hosts.map((h) => [h.name, h.inflight, h.waiting]), '(3) [host, inflight, waiting]').toEqual(hosts.map((h) => [h.name, 0, 0]));
      // (4) No pooled connection inside a transaction.
      expect.soft(leftInTx, '(4) backends idle in transaction').toEqual([]);
      // (5) Failures only where the fault could not be avoided, and typed where the pool raises them.
      // pg's own "Query read timeout" comes back unchanged when the host passed its check by the
      // time the check ran (on a loaded machine that check can end after the fault healed): it is
      // the driver's error for a statement that was sent and not answered, on the faulted host.
      // So is pg-pool's queue-wait timeout of a read bound to the faulted primary (read-your-writes)
      // whose connections are all stuck there: the pool names the host on the error (`host`).
      const driverTimeout = (f: Failure) => f.code === undefined && scenario.fault === 'blackhole'
        && (f.message === 'Query read timeout' || (f.message === 'timeout exceeded when trying to connect' && f.host === scenario.target));
      expect.soft(distinct(rec.failures.filter((f) => POOL_ACTORS.has(f.actor) && f.code === undefined && !driverTimeout(f))), '(5) pool errors without a code').toEqual([]);
      const pooledReads = [...rec.failed('read'), ...rec.failed('own-read')];
      const onFaultedPrimary = (f: Failure) => f.code === 'P2C_NO_PRIMARY' || f.host === 'primary' || (scenario.target === 'primary' && driverTimeout(f));
      const avoidableReads = scenario.reads === 'never' ? pooledReads : pooledReads.filter((f) => !onFaultedPrimary(f));
      expect.soft(distinct(avoidableReads), '(5) failed pool.query reads that another host could have served').toEqual([]);
      // A replica lease may fail as a pooled read may: on the faulted primary before the pool knew, or
      // with P2C_NO_PRIMARY when read-your-writes needs a position no replica has reached and the
      // primary is down (older data is not handed out instead).
      const avoidableLeases = rec.failed('lease-connect').filter((f) => scenario.reads === 'never' || !(f.host === 'primary' || f.code === 'P2C_NO_PRIMARY'));
      expect.soft(distinct(avoidableLeases), '(5) failed pool.connect({ role: "replica" }) that a replica could have served').toEqual([]);
      if (!scenario.writesMayFail) expect.soft(distinct([...rec.failed('write'), ...rec.failed('tx')]), '(5) failed writes with a healthy primary').toEqual([]);
      expect.soft(run.stale, '(5) reads that missed their own write').toBe(0);
      // (6) No acknowledged write lost, none duplicated, no uncommitted one visible.
      expect.soft(lost, '(6) acknowledged writes not on the primary exactly once').toEqual([]);
      expect.soft(leaked, '(6) rows of transactions never committed').toEqual([]);
      expect.soft(ejectedAt !== undefined, '(figures) target ejected').toBe(scenario.ejected);
    } finally {
      clearTimeout(healTimer);
      run?.rec.stop();
      // Stop the workload before the pool ends: operations still in flight get the pool's errors.
      if (workloadDone) await settleWithin(workloadDone, OP_BOUND_MS);
      if (pool && !pool.ending) await settleWithin(pool.end(), 3000);
      for (const proxy of Object.values(proxies)) await proxy.stop();
    }
    // Nothing left behind: the pool closed every connection, and no timer of the pool or of this test runs on.
    expect(pool?.totalCount).toBe(0);
    await waitFor(() => activeTimers() <= timersBefore, 1000).catch(() => {});
    expect(activeTimers(), 'timers left running').toBeLessThanOrEqual(timersBefore);
  });
});

describe('position queries are bounded by healthCheckTimeoutMillis even without queryTimeoutMillis', () => {
  it('a write whose position query is black-holed still settles', async () => {
    const c = cluster();
    const uncaughtBefore = uncaught.length;
    const proxy = await FaultProxy.start({ host: c.primary.host, port: c.primary.port });
    const pool = new Pool({
      primary: { host: proxy.host, port: proxy.port, user: 'postgres', database: 'postgres', name: 'primary' },
      replicas: c.replicas.map((r, i) => ({ connectionString: r.url, name: `replica${i + 1}` })),
      application_name: APP,
      consistency: 'read-your-writes',
      healthCheckIntervalMillis: TIMEOUTS.healthCheckIntervalMillis,
      healthCheckTimeoutMillis: TIMEOUTS.healthCheckTimeoutMillis,
      connectionTimeoutMillis: TIMEOUTS.connectionTimeoutMillis,
    } as PoolOptions);
    pool.on('error', () => {});
    // The position query follows the INSERT's answer on the same connection at once; no timer can
    // fault the wire in between, so the fault is injected the moment pg is asked to send it.
    const v = `position-blackhole-${Date.now()}`;
    const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const query = proto.query;
    let stage: 'idle' | 'insert' | 'faulted' = 'idle';
    proto.query = function (this: unknown, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: unknown } | undefined)?.text;
      if (stage === 'idle' && typeof text === 'string' && text.includes('INSERT INTO crash_t')) stage = 'insert';
      else if (stage === 'insert' && text === WRITE_POSITION_SQL) {
        stage = 'faulted';
        proxy.blackhole();
      }
      return query.apply(this, args);
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      await pool.query('SELECT 1');
      const t0 = performance.now();
      const outcome = await Promise.race([
        pool.query('INSERT INTO crash_t (v) VALUES ($1)', [v]).then(() => 'resolved', (e: { code?: string; message?: string }) => `rejected ${e.code ?? e.message}`),
        new Promise<string>((r) => { timer = setTimeout(() => r('hang'), OP_BOUND_MS + 2000); }),
      ]);
      const ms = performance.now() - t0;
      console.log(`position query black-holed, no queryTimeoutMillis: write ${outcome} after ${ms.toFixed(0)} ms`);
      expect(stage, 'the position query was sent after the INSERT').toBe('faulted');
      // The INSERT itself was answered, so the write resolves once the bounded position query gives up.
      expect(outcome).toBe('resolved');
      expect(ms).toBeLessThan(OP_BOUND_MS);
      expect((await sql<{ n: number }>(c.primary.url, 'SELECT count(*)::int AS n FROM crash_t WHERE v = $1', [v]))[0]!.n).toBe(1);
      expect(uncaught.slice(uncaughtBefore)).toEqual([]);
    } finally {
      clearTimeout(timer);
      proto.query = query;
      await proxy.stop(); // closes the black-holed connection, so its lease ends and the pool can end
      await settleWithin(pool.end(), 2000);
    }
  });
});
