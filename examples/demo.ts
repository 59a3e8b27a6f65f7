// npm run demo: a mixed read/write workload over a primary and two replicas for ~20 s with a live
// view of what the balancer does while one replica is slowed, another is killed, then restored.
// Every line fits in 80 columns. On a TTY the view is redrawn in place (cursor hidden meanwhile);
// elsewhere (CI, pipes) it prints one plain line per second and each event as it happens.

import { Pool, type HostStats } from '../adapters/pg/index.js';
import { FaultProxy } from '../test/support/fault-proxy.js';
import { demoHosts, type DemoHosts } from './demo-hosts.js';

const SECONDS = Number(process.env['P2C_DEMO_SECONDS'] ?? 20);
const WORKERS = 16;
const WIDTH = 80;
/** The pool's health-check timeout. */
const CHECK_MILLIS = 500;
const EVENT_ROWS = 8;
/** Width of one replica's part of a non-TTY line, and of what comes before those parts. */
const CELL = 22;
const LINE_HEAD = 31;
const live = process.stdout.isTTY === true && process.env['TERM'] !== 'dumb';

interface Phase {
  readonly at: number;
  readonly label: string;
  /** The host the phase acts on, and how an ejection of it is explained while the phase lasts. */
  readonly host: string;
  readonly context: string | undefined;
  run(): Promise<void> | void;
  /** Noted when run() has completed, with how long it took; the host's context from then on. */
  readonly done?: { readonly note: string; readonly context: string };
}

/** One line of the event log; `text` is filled in later while the demo finds out why a host failed. */
interface LogEntry { readonly at: number; text: string | undefined }

/** The live view on a TTY: each frame overwrites the previous one in one write, never clearing the screen. */
class Screen {
  private height = 0;
  private cursorHidden = false;

  draw(lines: readonly string[]): void {
    if (!this.cursorHidden) {
      this.cursorHidden = true;
      process.stdout.write('\x1b[?25l');
    }
    // Never print into the last column: a terminal then wraps, and the cursor-up count is off.
    const cols = Math.min(WIDTH, process.stdout.columns || WIDTH) - 1;
    let out = this.height > 0 ? `\r\x1b[${this.height}A` : '';
    // Each line is overwritten in place, then the rest of it erased (no blank moment to flicker).
    for (const line of lines) out += `${line.length > cols ? line.slice(0, cols) : line}\x1b[K\n`;
    // A shorter frame than the last (none so far: the event rows are padded) erases what is below.
    process.stdout.write(lines.length < this.height ? `${out}\x1b[J` : out);
    this.height = lines.length;
  }

  /** Leaves the last frame on screen, the cursor below it and visible. Safe to call more than once. */
  end(): void {
    this.height = 0;
    if (!this.cursorHidden) return;
    this.cursorHidden = false;
    process.stdout.write('\x1b[?25h'); // synchronous on a TTY, so this also works in an exit handler
  }
}

const screen = new Screen();

let stopping = false;
let interrupts = 0;
let interrupt = () => {};
/** Resolves on the first Ctrl-C (or SIGTERM). */
const interruption = new Promise<void>((resolve) => { interrupt = resolve; });

async function main(): Promise<void> {
  let hosts: DemoHosts | undefined;
  let pool: Pool | undefined;
  const proxies: FaultProxy[] = [];
  // The cursor comes back however the process ends; the harness SIGKILLs the servers it tracks on exit.
  process.once('exit', () => screen.end());
  // First Ctrl-C: the workload stops, the summary is printed, every server is stopped by PID.
  // Second: exit at once (the harness's exit hook SIGKILLs the servers), except during startup,
  // when servers still starting are not tracked yet: they are stopped as soon as they are up.
  const interrupted = (signal: NodeJS.Signals) => {
    stopping = true;
    interrupt();
    if (++interrupts === 1) {
      if (hosts === undefined) say(`${signal}: stopping the servers once they are up...`);
      else if (!live) say(`${signal}: stopping early`);
      return;
    }
    if (hosts === undefined) {
      say(`${signal}: waiting for the servers being started, to stop them...`);
      return;
    }
    screen.end();
    say(`\n${signal}: exiting now`);
    process.exit(130);
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);

  say('Starting hosts (P2C_DEMO_PRIMARY / P2C_DEMO_REPLICAS to use your own)...');
  const starting = demoHosts();
  try {
    hosts = await starting;
    if (stopping) return;
    say(`Hosts: ${hosts.kind === 'pglite' ? 'embedded PGlite on loopback (no PostgreSQL installed)' : hosts.kind === 'local' ? 'local PostgreSQL primary + 2 streaming replicas' : 'from P2C_DEMO_*'}`);
    // Replicas are reached through fault proxies so the demo can slow them down or cut them off.
    for (const url of hosts.replicas) {
      const u = new URL(url);
      proxies.push(await FaultProxy.start({ host: u.hostname, port: Number(u.port || 5432) }));
    }
    const viaProxy = hosts.replicas.map((url, i) => {
      const u = new URL(url);
      u.hostname = proxies[i]!.host;
      u.port = String(proxies[i]!.port);
      return u.toString();
    });
    pool = new Pool({
      primary: { connectionString: hosts.primary, name: 'primary' },
      replicas: viaProxy.map((url, i) => ({ connectionString: url, name: `replica${i + 1}` })),
      max: 8,
      healthCheckIntervalMillis: 500,
      healthCheckTimeoutMillis: CHECK_MILLIS,
      ejectionMillis: 1000,
      slowStartMillis: 3000,
      // PGlite instances all say they are primaries: keep the configured roles there.
      detectRoles: hosts.kind !== 'pglite',
    });
    for (const url of [hosts.primary, ...hosts.replicas]) await prepare(url);
    const h = hosts;
    const phases: Phase[] = [
      { at: 0.25, label: 'replica1 slowed by 20 ms', host: 'replica1', context: 'while slowed by 20 ms', run: () => proxies[0]!.setDelay(20) },
      { at: 0.5, label: 'replica2 killed', host: 'replica2', context: 'after it was killed', run: async () => { if (h.crash) await h.crash(1); else await proxies[1]!.refuse(); } },
      {
        at: 0.7, label: 'replica2 restored', host: 'replica2', context: 'while it restarts', run: async () => { if (h.restart) await h.restart(1); else await proxies[1]!.heal(); },
        done: { note: 'replica2 accepts connections again', context: 'just after its restart' },
      },
      { at: 0.85, label: 'replica1 back to normal', host: 'replica1', context: undefined, run: () => proxies[0]!.setDelay(0) },
    ];
    await run(pool, phases);
  } finally {
    const ending = pool?.end().catch(() => {});
    // Stopping the proxies also ends any query still waiting on a replica (a Ctrl-C does not wait for it).
    for (const p of proxies) await p.stop();
    await ending;
    // Also after a failure or a Ctrl-C during startup: servers still starting are stopped once up.
    hosts ??= await starting.catch(() => undefined);
    await hosts?.stop();
  }
}

/** The demo table on every host (PGlite hosts do not replicate, so each gets its own). */
async function prepare(url: string): Promise<void> {
  const p = new Pool({ connectionString: url, max: 1 });
  try {
    await p.query('CREATE TABLE IF NOT EXISTS p2c_demo (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), v int)');
  } catch (err) {
    // A replica is read-only: it gets the table from its primary; wait until it has (at most 10 s).
    if ((err as { code?: string }).code !== '25006') throw err;
    for (let i = 0; i < 200; i++) {
      const found = await p.query("SELECT to_regclass('p2c_demo') IS NOT NULL AS ok");
      if (found.rows[0].ok) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await p.end();
  }
}

async function run(pool: Pool, phases: readonly Phase[]): Promise<void> {
  const t0 = Date.now();
  const elapsed = () => (Date.now() - t0) / 1000;
  const deadline = t0 + SECONDS * 1000;
  const log: LogEntry[] = [];
  let printed = 0; // entries already printed (non-TTY prints them in order as they are complete)
  const stamp = (at: number) => `${at.toFixed(1).padStart(5)}s  `;
  const flushLog = () => {
    if (live) return;
    while (printed < log.length && log[printed]!.text !== undefined) {
      const e = log[printed++]!;
      say(stamp(e.at) + e.text!, 8);
    }
  };
  const note = (text: string | undefined): LogEntry => {
    const entry: LogEntry = { at: elapsed(), text };
    log.push(entry);
    flushLog();
    return entry;
  };

  // What the demo knows about each host besides the pool's stats: the fault it injected and the
  // last health event.
  const context = new Map<string, string | undefined>();
  const lastEvent = new Map<string, 'up' | 'ejected' | 'down'>();
  const toldContext = new Map<string, string | undefined>(); // said once per host, not on every repeat
  // Idle connections to a killed host report here (the pool blames the host; see lastError).
  pool.on('error', () => {});
  // Why a host failed: the last error the pool blamed on it, carried by the event's host stats.
  const failed = (what: 'ejected' | 'down', h: HostStats) => {
    const again = what === 'ejected' && lastEvent.get(h.name) !== undefined && lastEvent.get(h.name) !== 'up';
    lastEvent.set(h.name, what);
    const ctx = context.get(h.name);
    const newContext = ctx !== undefined && toldContext.get(h.name) !== ctx;
    toldContext.set(h.name, ctx);
    const head = what === 'down' ? `${h.name} down, probes keep failing` : again ? `${h.name} probe failed, ejected again` : `${h.name} ejected`;
    const cause = h.lastError ? describeError(h.lastError) : 'no error recorded';
    note(`${head}: ${cause}${newContext ? ` ${ctx}` : ''}`);
  };
  pool.on('hostEjected', (h: HostStats) => failed('ejected', h));
  pool.on('hostDown', (h: HostStats) => failed('down', h));
  pool.on('hostUp', (h: HostStats) => {
    lastEvent.set(h.name, 'up');
    note(`${h.name} back up: probe passed, its share ramps up over 3 s`);
  });

  let reads = 0, writes = 0, failures = 0;
  const workers = Array.from({ length: WORKERS }, async () => {
    while (Date.now() < deadline && !stopping) {
      try {
        if (Math.random() < 0.1) {
          await pool.query('INSERT INTO p2c_demo (v) VALUES ($1)', [Math.floor(Math.random() * 1000)]);
          writes++;
        } else {
          await pool.query('SELECT count(*) FROM (SELECT 1 FROM p2c_demo LIMIT 100) t');
          reads++;
        }
      } catch {
        failures++;
      }
    }
  });

  const names = pool.stats().hosts.map((h) => h.name);
  const replicas = pool.stats().hosts.filter((h) => h.role === 'replica').map((h) => h.name);
  // Served = completed queries minus host failures (a failed attempt was retried elsewhere). A
  // failed health check counts as a failure too, so a window's count is never taken below 0.
  const served = (h: HostStats) => h.queries - h.errors;
  interface Snapshot { readonly at: number; readonly reads: number; readonly writes: number; readonly failed: number; readonly served: Map<string, number> }
  const snapshot = (): Snapshot => ({ at: Date.now(), reads, writes, failed: failures, served: new Map(pool.stats().hosts.map((h) => [h.name, served(h)])) });
  const since = (before: Snapshot, now: Snapshot, name: string) => Math.max(0, (now.served.get(name) ?? 0) - (before.served.get(name) ?? 0));
  const shareOf = (before: Snapshot, now: Snapshot, name: string) => {
    const total = replicas.reduce((a, n) => a + since(before, now, n), 0);
    return total > 0 ? since(before, now, name) / total : 0;
  };
  const perPhase: { label: string; counts: Map<string, number> }[] = [{ label: 'normal', counts: new Map() }];
  let nextPhase = 0;
  /** Phases still acting (a restart): the servers are stopped only once they are done. */
  const running: Promise<void>[] = [];
  let lastFrame = snapshot();
  let lastLine = lastFrame;

  // A non-TTY line has room for two replicas; more are left out of it (not of the summary).
  const inLine = replicas.slice(0, Math.floor((WIDTH - LINE_HEAD) / CELL));
  if (!live) {
    say(`${WORKERS} workers, 90% reads, for ${SECONDS} s. Each second: reads/s, writes/s, failed queries, and per replica its state, share of replica reads and latency; events as they happen.`);
    say(`${'time'.padStart(6)}${'reads/s'.padStart(9)}${'writes/s'.padStart(9)}${'failed'.padStart(7)}${inLine.map((n) => `  ${n.padEnd(CELL - 2)}`).join('').trimEnd()}`);
  }
  let ticks = 0;
  const frame = () => {
    const t = elapsed();
    const now = snapshot();
    const hosts = pool.stats().hosts;
    // What was served since the last frame belongs to the phase that was running; then switch.
    const current = perPhase.at(-1)!.counts;
    for (const n of names) current.set(n, (current.get(n) ?? 0) + since(lastFrame, now, n));
    while (nextPhase < phases.length && t >= phases[nextPhase]!.at * SECONDS) {
      const p = phases[nextPhase++]!;
      context.set(p.host, p.context);
      note(p.label);
      perPhase.push({ label: p.label, counts: new Map() });
      const started = Date.now();
      running.push(Promise.resolve(p.run()).then(() => {
        if (!p.done) return;
        if (context.get(p.host) === p.context) context.set(p.host, p.done.context);
        note(`${p.done.note} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      }, (err: Error) => {
        if (context.get(p.host) === p.context) context.set(p.host, undefined);
        note(`${p.label} failed: ${describeError(err)}`);
      }));
    }
    if (live) {
      screen.draw(view(t, hosts, lastFrame, now, log));
    } else if (++ticks % 2 === 0) {
      const dt = Math.max(1, now.at - lastLine.at) / 1000;
      const rate = (n: number) => String(Math.round(n / dt));
      let line = `${t.toFixed(1).padStart(5)}s${rate(now.reads - lastLine.reads).padStart(9)}${rate(now.writes - lastLine.writes).padStart(9)}${String(now.failed - lastLine.failed).padStart(7)}`;
      const stats = new Map(hosts.map((h) => [h.name, h]));
      for (const n of inLine) line += cell(stats.get(n)!, shareOf(lastLine, now, n));
      say(line);
      lastLine = now;
    }
    lastFrame = now;
  };
  const ticker = setInterval(frame, 500);
  try {
    // After a Ctrl-C, queries still running get 2 s to finish.
    await Promise.race([Promise.all(workers), interruption.then(() => new Promise((r) => setTimeout(r, 2000)))]);
  } finally {
    clearInterval(ticker);
  }
  await Promise.all(running);
  frame();
  screen.end();
  flushLog();

  const ran = interrupts > 0 ? `${elapsed().toFixed(1)} s (interrupted)` : `${SECONDS} s`;
  say(`\nSummary: ${reads} reads, ${writes} writes, ${failures} failed in ${ran}`);
  for (const phase of perPhase) {
    const total = replicas.reduce((a, n) => a + (phase.counts.get(n) ?? 0), 0) || 1;
    const shares = replicas.map((n) => `${n} ${(((phase.counts.get(n) ?? 0) / total) * 100).toFixed(1)}%`).join(', ');
    say(`  ${phase.label.padEnd(26)} replica reads: ${shares}`, 44);
  }
  say('\nWhat happened:');
  for (const e of log) say(`${stamp(e.at)}${e.text ?? '(no explanation)'}`, 8);
}

/** One replica's part of a non-TTY line: state, share of replica reads, latency. */
function cell(h: HostStats, share: number): string {
  const latency = h.latencyMs === null ? '-' : `${h.latencyMs.toFixed(1)}ms`;
  return `  ${h.state.padEnd(8)}${`${Math.round(share * 100)}%`.padStart(4)}${latency.padStart(8)}`;
}

/** The TTY frame: totals, one row per host, the latest events. Every line is at most 79 columns. */
function view(t: number, hosts: readonly HostStats[], before: { at: number; served: Map<string, number> }, now: { at: number; reads: number; writes: number; failed: number; served: Map<string, number> }, log: readonly LogEntry[]): string[] {
  const dt = Math.max(1, now.at - before.at) / 1000;
  const delta = (h: HostStats) => Math.max(0, (now.served.get(h.name) ?? 0) - (before.served.get(h.name) ?? 0));
  const replicaTotal = hosts.filter((h) => h.role === 'replica').reduce((a, h) => a + delta(h), 0) || 1;
  const lines = [
    `p2c-pool demo  t=${t.toFixed(1)}s/${SECONDS}s  reads ${now.reads}  writes ${now.writes}  failed ${now.failed}`,
    '',
    `${'host'.padEnd(9)}${'role'.padEnd(8)}${'state'.padEnd(8)}${'q/s'.padStart(6)}  ${'replica read share'.padEnd(21)}${'inflight'.padStart(9)}${'latency'.padStart(9)}${'errors'.padStart(7)}`,
  ];
  for (const h of hosts) {
    const share = delta(h) / replicaTotal;
    const bar = h.role === 'replica' ? `${'█'.repeat(Math.round(share * 16)).padEnd(16, '·')}${`${Math.round(share * 100)}%`.padStart(5)}` : '(writes)';
    const latency = h.latencyMs === null ? '-' : `${h.latencyMs.toFixed(1)}ms`;
    lines.push(`${h.name.padEnd(9)}${h.role.padEnd(8)}${h.state.padEnd(8)}${String(Math.round(delta(h) / dt)).padStart(6)}  ${bar.padEnd(21)}${String(h.inflight).padStart(9)}${latency.padStart(9)}${String(h.errors).padStart(7)}`);
  }
  const events = log.flatMap((e) => wrap(`${e.at.toFixed(1).padStart(5)}s  ${e.text ?? '(finding out why...)'}`, WIDTH - 1, 8)).slice(-EVENT_ROWS);
  lines.push('', 'events:', ...events, ...Array<string>(EVENT_ROWS - events.length).fill(''));
  return lines;
}

/** A short human description of a driver, network or server error, with its code. */
function describeError(err: unknown): string {
  const e = (err ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused', ECONNRESET: 'connection reset', ETIMEDOUT: 'connect timed out',
    EHOSTUNREACH: 'host unreachable', ENOTFOUND: 'host not found', EPIPE: 'connection closed',
  };
  if (code && known[code]) return `${known[code]} (${code})`;
  // pg's own connect and query timeouts (no SQLSTATE; a statement_timeout has one).
  if (!code && /timeout|timed out/i.test(message)) return `timed out after ${CHECK_MILLIS} ms`;
  const text = message.replace(/\s+/g, ' ').trim();
  const short = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return code ? `${short} (${code})` : short;
}

/** Splits a line at spaces into lines of at most `width` columns; continuations are indented. */
function wrap(text: string, width = WIDTH, indent = 2): string[] {
  const out: string[] = [];
  let rest = text;
  const pad = ' '.repeat(indent);
  while (rest.length > width) {
    let cut = rest.lastIndexOf(' ', width);
    if (cut <= indent) cut = width; // one long word: hard break
    out.push(rest.slice(0, cut).trimEnd());
    rest = pad + rest.slice(cut).trimStart();
  }
  out.push(rest);
  return out;
}

/** Prints text (which may hold several lines) with every line wrapped to 80 columns. */
function say(text: string, indent = 2): void {
  process.stdout.write(`${text.split('\n').flatMap((l) => wrap(l, WIDTH, indent)).join('\n')}\n`);
}

main().then(() => {
  if (interrupts > 0) process.exitCode = 130;
}, (err: unknown) => {
  screen.end();
  const e = err as { stack?: unknown };
  // Stack lines are wrapped like the rest: every line the demo prints fits in 80 columns.
  process.stderr.write(`${String(typeof e?.stack === 'string' ? e.stack : err).split('\n').flatMap((l) => wrap(l, WIDTH, 4)).join('\n')}\n`);
  process.exitCode = interrupts > 0 ? 130 : 1;
});
