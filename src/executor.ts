// Runs statements across the cluster: choose a host, lease a connection, run, measure, and on
// failure retry a read elsewhere or re-run a read-only rejection on the primary. Driver-free.

import { ForeignTransactionError, hostFailure, markError, p2cCodeOf, NoPrimaryError, PoolOverloadedError } from './errors.js';
import type { Host } from './host.js';
import type { HealthMonitor } from './monitor.js';
import type { Cluster } from './pool.js';
import { sessionEffect, type RoleRequest, type StatementKind } from './routing.js';
import type { Callback, Driver, ErrorKind } from './driver.js';
import type { Consistency } from './config.js';
import { UNTRACED, type QueryTrace, type Telemetry } from './telemetry.js';
import type { SpanContext } from '@opentelemetry/api';
import { ABANDONED, Attempt, DueList, HedgePolicy, HedgeRace } from './hedge.js';
import type { HedgeOptions } from './config.js';

/** One statement to run somewhere in the cluster. */
export interface Work<C, R> {
  readonly kind: StatementKind;
  /** Statement text, for telemetry only. */
  readonly text?: string | undefined;
  readonly role?: RoleRequest | undefined;
  /** Read-your-writes token: a replica serving this read must have applied it. */
  readonly after?: string | undefined;
  /** False for statements that must never run twice (cursors, streams); reads are retriable by default. */
  readonly retriable?: boolean | undefined;
  /** False when the run time is not the server's (streams consumed by the caller). */
  readonly measure?: boolean | undefined;
  /** Asked after a run: true when the statement may have left a transaction open, so its connection is destroyed, never pooled. */
  readonly leftTransaction?: (() => boolean) | undefined;
  /** Asked after a successful run: whether the connection is known to be inside a transaction now (undefined: not known). */
  readonly inTransaction?: (() => boolean | undefined) | undefined;
  /** Runs the statement on `conn`; calls back exactly once. */
  run(conn: C, callback: Callback<R>): void;
  /** Set by the executor once a connect that timed out on a healthy host was tried again. */
  readonly connectRetried?: boolean | undefined;
  /** Set by the executor on a raced (hedged) read: which attempt this is (its `race` and `index`). */
  readonly hedge?: Attempt<unknown, C> | undefined;
}

export interface ExecutorOptions<P> {
  readonly retryReads: boolean;
  readonly consistency: Consistency;
  readonly maxWaitingClients: number | undefined;
  /** Replica connections are read-only sessions (default true in the multi-host form). */
  readonly readOnlyReplicas: boolean;
  /** Bound of every internal wait (write positions, freshness checks). */
  readonly internalTimeoutMillis: number;
  /** Turns a host-level failure into the error the caller sees. */
  wrap(host: Host<P>, err: Error): Error;
  /** Present only when the `telemetry` option is set. */
  readonly telemetry?: Telemetry | undefined;
  /** Hedged reads, when the `hedge` option is set. */
  readonly hedge?: Required<HedgeOptions> | undefined;
}

/** A leased connection: the face calls `end` exactly once, when the user releases it. */
export interface Lease<P, C> {
  readonly host: Host<P>;
  readonly conn: C;
  /** Ends the lease and gives the connection back (destroys it with an error or `true`). */
  end(err?: Error | boolean): void;
}

/** The host of each connection leased out now (routing clients check theirs before each statement). */
const leasedHosts = new WeakMap<object, { readonly host: Host<unknown>; readonly cluster: Cluster<unknown> }>();

/**
 * Why a leased primary connection may no longer be used, or undefined: its host was demoted or is
 * out of service since the lease began. A routing client pinned to it (for a transaction or
 * session state) fails its next statement rather than write to a former primary.
 */
export function pinnedPrimaryLost(conn: object): Error | undefined {
  const leased = leasedHosts.get(conn);
  if (leased === undefined || leased.cluster.primary === leased.host) return undefined;
  const { host } = leased;
  return new NoPrimaryError(`The primary ${host.name} this client is pinned to no longer serves writes (${host.role}/${host.state}); its transaction or session state is lost`);
}

/** Tries of one read to get a hedge within the budget: at 1, 1.5, 2.25 ... (1.5^10 = 58) times the delay. */
const HEDGE_TRIES = 10;
/** The longest delay a Node timer takes (larger ones fire at once). */
const MAX_TIMER_MILLIS = 2 ** 31 - 1;

const noSpan = (): void => {};

/**
 * Attempt 0 of a raced read: a copy of `work` as one literal of a fixed shape (a spread makes
 * objects of many shapes, and every access to them on the hot path slow).
 */
function withHedge<C, R>(work: Work<C, R>, race: HedgeRace<unknown, C>): Work<C, R> {
  return {
    kind: work.kind, text: work.text, role: work.role, after: work.after, retriable: work.retriable, measure: work.measure,
    leftTransaction: work.leftTransaction, inTransaction: work.inTransaction, run: work.run, connectRetried: work.connectRetried,
    hedge: race,
  };
}

/** Position of a write whose position could not be learnt: no replica may serve the next reads. */
const UNKNOWN = Symbol('unknown position');

export class Executor<P, C> {
  /** Resolves once roles are known (discovery); undefined when nothing is pending. */
  ready: Promise<void> | undefined;
  private pendingPosition: Promise<void> | undefined;
  /** Read-your-writes: since when (clock ms) the last write's position is unknown. */
  private unknownSince: number | undefined;
  private readonly hedgePolicy: HedgePolicy | undefined;

  constructor(
    readonly cluster: Cluster<P>,
    private readonly driver: Driver<P, C>,
    private readonly options: ExecutorOptions<P>,
    private readonly monitor?: HealthMonitor<P>,
  ) {
    this.hedgePolicy = options.hedge === undefined || driver.cancel === undefined ? undefined : new HedgePolicy(options.hedge);
    if (monitor) {
      // A check of the primary that began after a lost position covers every write before it.
      monitor.onPrimaryPosition = (position, startedAt) => {
        if (this.unknownSince !== undefined && startedAt > this.unknownSince) {
          this.unknownSince = undefined;
          this.notePosition(position);
        }
      };
    }
  }

  /** Runs `work` on the right host and calls `done` once with its result or error. */
  run<R>(work: Work<C, R>, done: Callback<R>): void {
    try {
      this.cluster.assertOpen();
    } catch (err) {
      setImmediate(() => done(err as Error));
      return;
    }
    if (work.after !== undefined) {
      // A token from a user (e.g. a session cookie) is checked and normalised by the driver.
      const after = this.driver.parsePosition(work.after);
      if (after === undefined) {
        setImmediate(() => done(new TypeError('`after` must be a token returned by pool.lastWriteToken()')));
        return;
      }
      work = { ...work, after };
    }
    if (this.hedgePolicy !== undefined && work.kind === 'read' && work.retriable !== false && work.role !== 'primary') {
      const race = new HedgeRace<unknown, C>(done as Callback<unknown>);
      const raced = withHedge(work, race);
      const settle = this.settleRace(race, 0) as Callback<R>;
      if (this.ready === undefined && this.pendingPosition === undefined) return this.dispatch(raced, settle, 0, undefined, undefined);
      this.whenReady(() => this.dispatch(raced, settle, 0, undefined, undefined));
      return;
    }
    // The common case, nothing to wait for, allocates no closure.
    if (this.ready === undefined && this.pendingPosition === undefined) return this.dispatch(work, done, 0, undefined, undefined);
    this.whenReady(() => this.dispatch(work, done, 0, undefined, undefined));
  }

  /** The callback of attempt `i` of a raced read: the first answer goes to `done`, the other attempt is cancelled. */
  private settleRace(race: HedgeRace<unknown, C>, i: 0 | 1): Callback<unknown> {
    return (maybeErr, value) => {
      const err = maybeErr ?? undefined;
      // The server rejected the statement: the other replica would too, so nothing to wait for;
      // except a hedge refused by its read-only session: the statement writes, and the original,
      // refused alike, goes on to the primary (see leaveRace), whose answer is the caller's.
      const final = err !== undefined && this.driver.errorKind(err, false) === 'statement' && !(i === 1 && this.driver.isReadOnlyError(err));
      const outcome = race.finish(i, err, final);
      if (outcome === undefined) {
        // This attempt failed while the other runs: wait for it, but not beyond the internal bound.
        if (!race.settled && race.waitTimer === undefined) {
          race.waitTimer = setTimeout(() => {
            const forced = race.finish(i, err, true);
            if (forced !== undefined) this.endRace(race, i, forced.err, undefined);
          }, this.options.internalTimeoutMillis);
          race.waitTimer.unref();
        }
        return;
      }
      this.endRace(race, i, outcome.err, value);
    };
  }

  /** Delivers a settled race's outcome (from attempt `i`) and cancels the other attempt. */
  private endRace(race: HedgeRace<unknown, C>, i: 0 | 1, err: Error | undefined, value: unknown): void {
    if (i === 1 && err === undefined) this.cluster.hedges.won++;
    this.closeRace(race, i === 0 ? 1 : 0);
    race.deliver(err, err === undefined ? value : undefined);
  }

  /**
   * Attempt 0 of a raced read was refused as a write (a read-only session) and runs again on the
   * primary: a write is never raced, so it leaves the race, which ends here without an answer (a
   * hedge running is cancelled, none is started later; a replica's refusal of the same statement
   * must not answer the caller while the write runs). Returns the work and callback of the write,
   * or undefined when the race was already answered.
   */
  private leaveRace<R>(work: Work<C, R>, done: Callback<R>): { work: Work<C, R>; done: Callback<R> } | undefined {
    const slot = work.hedge;
    if (slot === undefined) return { work, done };
    const race = slot.race;
    if (race.settled) return undefined;
    race.settled = true;
    this.closeRace(race, 1);
    return { work: { ...work, hedge: undefined }, done: race.deliver as Callback<R> };
  }

  /** Ends a race: out of the due list, its timers cleared, and attempt `loser` cancelled if it still runs one hedge delay from now. */
  private closeRace(race: HedgeRace<unknown, C>, loser: 0 | 1): void {
    this.dueHedges.remove(race);
    clearTimeout(race.timer);
    clearTimeout(race.waitTimer);
    const other = race.attempt(loser);
    if (other?.running === true) {
      // Cancelled only if it is still running one hedge delay from now: most losers (a read that
      // noise pushed past the delay, a hedge that lost by a hair) end within it, and each cancel
      // costs the server a connection of its own (a process fork on PostgreSQL), which on a small
      // machine delays every other query more than the loser would have.
      const conn = other.conn;
      const timer = setTimeout(() => { if (other.running && other.conn === conn) this.cancel(other); }, Math.max(1, race.delay));
      timer.unref();
    }
  }

  /** Sends the cancel of a raced read's losing statement, once. */
  private cancel(attempt: Attempt<unknown, C>): void {
    if (attempt.cancel !== undefined) return;
    this.cluster.hedges.cancelled++;
    const bound = this.options.internalTimeoutMillis;
    // A losing statement that outlives its cancel (or whose cancel failed) is abandoned: its
    // connection destroyed, so neither the caller's end() nor the host's load waits for it.
    const abandon = attempt.complete!;
    const cancel = this.driver.cancel!((attempt.host as Host<P>).driver, attempt.conn as C, bound);
    attempt.cancel = cancel;
    cancel.then(() => {
      // Taken: the statement ends now, unless the host stopped answering.
      attempt.abortTimer = setTimeout(() => abandon(ABANDONED), bound);
      attempt.abortTimer.unref();
    }, () => {
      this.cluster.hedges.cancelFailed++;
      abandon(ABANDONED);
    });
  }

  /**
   * Starts the hedge of attempt 0 of a raced read when it is not answered after the policy's delay:
   * the same read on another replica, never retried, within the extra-load budget.
   */
  private armHedge<R>(work: Work<C, R>, host: Host<P>, span: QueryTrace | undefined): void {
    const slot = work.hedge;
    const policy = this.hedgePolicy;
    if (slot === undefined || slot.race.armed || slot.race.launched || policy === undefined || host.role !== 'replica') return;
    const delay = policy.delayFor();
    if (delay === undefined) return;
    const race = slot.race;
    race.delay = delay;
    race.armed = true;
    race.originWork = work;
    race.originHost = host;
    race.originSpan = span;
    // The first try of every hedged read waits in the shared list, not on a timer of its own.
    race.due = this.cluster.now() + delay;
    this.dueHedges.insert(race as HedgeRace<unknown, C>);
    this.scheduleHedges();
  }

  /**
   * One try to start the hedge of a race whose delay has passed. The first try may not spend the
   * budget's reserve: at the delay, reads slowed by ordinary noise compete with real stragglers.
   * Refused, the read tries again at 1.5, 2.25, 3.4... times the delay, when mostly stragglers are
   * left, and may then spend the reserve.
   */
  private tryHedge(race: HedgeRace<unknown, C>, tries: number, wait: number): void {
    const work = race.originWork as Work<C, unknown> | undefined;
    const host = race.originHost as Host<P> | undefined;
    const policy = this.hedgePolicy;
    if (work === undefined || host === undefined || policy === undefined || race.settled || race.launched || this.cluster.ending) return;
    const again = () => {
      if (tries >= HEDGE_TRIES) return;
      const next = Math.min(MAX_TIMER_MILLIS, Math.max(1, wait) * 1.5);
      race.timer = setTimeout(() => this.tryHedge(race, tries + 1, next), next);
      race.timer.unref();
    };
    // A hedge starts at once or not at all: only on a replica with an idle connection or room
    // for a new one. Waiting in a pool's queue defeats it, and a loser still waiting there when
    // the race is over cannot be cancelled (no statement runs yet), so it would hold the host.
    const others = this.cluster.readCandidates(host);
    if (others.length === 0) return;
    if (!others.some((h) => this.cluster.canStartAtOnce(h))) return again();
    if (!policy.take(tries === 0)) {
      this.cluster.hedges.overBudget++;
      return again();
    }
    race.launched = true;
    this.cluster.hedges.sent++;
    race.hedge = new Attempt<unknown, C>(1, race);
    const hedge: Work<C, unknown> = { ...work, role: 'replica', hedge: race.hedge };
    // The caller's callback is attempt 0's; the hedge reports through the same race.
    this.dispatch(hedge, this.settleRace(race, 1), 1, host, undefined, this.contextOf(race.originSpan as QueryTrace | undefined));
  }

  /** Races waiting for their first hedge try, earliest first (see DueList). */
  private readonly dueHedges = new DueList<unknown, C>();
  private hedgeTimer: ReturnType<typeof setTimeout> | undefined;
  private hedgeTimerAt = Infinity;

  /** Arms the one hedge timer for the earliest due race, unless it is armed for that time or earlier. */
  private scheduleHedges(): void {
    const head = this.dueHedges.head;
    if (head === undefined || (this.hedgeTimer !== undefined && this.hedgeTimerAt <= head.due)) return;
    clearTimeout(this.hedgeTimer);
    this.hedgeTimerAt = head.due;
    this.hedgeTimer = setTimeout(() => this.fireHedges(), Math.min(MAX_TIMER_MILLIS, Math.max(1, head.due - this.cluster.now())));
    this.hedgeTimer.unref();
  }

  /** Runs the first try of every race that is due (Node's timers have 1 ms granularity), then re-arms. */
  private fireHedges(): void {
    this.hedgeTimer = undefined;
    this.hedgeTimerAt = Infinity;
    const now = this.cluster.now();
    for (let race = this.dueHedges.head; race !== undefined && race.due <= now + 1; race = this.dueHedges.head) {
      this.dueHedges.remove(race);
      this.tryHedge(race, 0, race.delay);
    }
    this.scheduleHedges();
  }

  /** Leases a connection on the primary (or a replica for role 'replica'); statements on it stay there. */
  lease(role: RoleRequest, callback: Callback<Lease<P, C>>): void {
    try {
      this.cluster.assertOpen();
    } catch (err) {
      setImmediate(() => callback(err as Error));
      return;
    }
    this.whenReady(() => this.leaseOn(role, undefined, callback));
  }

  private leaseOn(role: RoleRequest, exclude: Host<P> | undefined, callback: Callback<Lease<P, C>>, forceReadOnly = false, connectRetried = false): void {
    const host = this.choose(role === 'replica' ? 'read' : 'write', role, exclude, callback);
    if (!host) return;
    host.begin();
    const readOnly = forceReadOnly || this.readOnly(host) || (role === 'replica' && this.options.readOnlyReplicas);
    const endSpan = this.options.telemetry?.startLease(host as Host<unknown>);
    this.driver.acquire(host.driver, readOnly, (err, conn) => {
      if (err || conn === undefined) {
        const kind = this.finishFailed(host, err);
        const wrapped = this.endedOr(this.options.wrap(host, err ?? new Error('no connection')));
        endSpan?.(wrapped);
        // Nothing was handed out: another replica may serve (also after a wait in the driver's own
        // queue timed out, which is not blamed on the host but says it is saturated).
        if (kind !== 'statement' && role === 'replica' && exclude === undefined && this.options.retryReads) return this.leaseOn(role, host, callback);
        if (this.retryConnect(host, kind, connectRetried, () => this.leaseOn(role, exclude, callback, forceReadOnly, true), () => callback(wrapped))) return;
        return callback(wrapped);
      }
      const handOut = () => {
        let open = true;
        if (typeof conn === 'object' && conn !== null && host.role === 'primary' && !readOnly) leasedHosts.set(conn, { host: host as Host<unknown>, cluster: this.cluster as Cluster<unknown> });
        callback(undefined, {
          host,
          conn,
          end: (releaseErr) => {
            if (!open) return;
            open = false;
            if (typeof conn === 'object' && conn !== null) leasedHosts.delete(conn);
            const failed = releaseErr instanceof Error && this.driver.errorKind(releaseErr, false) === 'host';
            this.driver.release(conn, releaseErr);
            endSpan?.(releaseErr instanceof Error ? releaseErr : undefined);
            this.cluster.finish(host, failed ? 'host-error' : 'ok', undefined, false);
            if (failed) this.onHostError(host, releaseErr);
            // Read-your-writes: a writable primary lease may have written (also when it ended with an
            // error: its writes before the error stand); later reads wait for its position.
            if (this.options.consistency === 'read-your-writes' && host.role === 'primary' && !readOnly) this.fetchPosition(host);
          },
        });
      };
      // Read-your-writes holds for replica clients too: a replica that has not applied the last
      // write is not handed out; the primary is, as a read-only session.
      let needs = role === 'replica' && host.role === 'replica' ? this.requiredPosition(undefined) : undefined;
      // As for reads: while no primary is up, an unknown position cannot be newer than the replicas.
      if (needs === UNKNOWN && this.cluster.primary === undefined) needs = undefined;
      if (needs === undefined || this.knownApplied(host, needs)) return handOut();
      const fallBack = () => {
        this.driver.release(conn);
        this.cluster.finish(host, 'client', undefined, false);
        endSpan?.();
        this.leaseOn('primary', undefined, callback, true);
      };
      if (needs === UNKNOWN) return fallBack();
      this.driver.hasApplied(conn, needs, this.options.internalTimeoutMillis, (checkErr, applied) => {
        if (checkErr) {
          this.driver.release(conn, checkErr);
          const kind = this.classify(host, checkErr);
          this.cluster.finish(host, kind === 'host' ? 'host-error' : 'client', undefined, false);
          endSpan?.(checkErr);
          return this.leaseOn('primary', undefined, callback, true);
        }
        if (!applied) return fallBack();
        this.noteApplied(host, needs);
        handOut();
      });
    });
  }

  /** The write position of this pool's last write (read-your-writes), as a token. */
  lastWriteToken(): string | undefined {
    return this.cluster.lastWritePosition;
  }

  private readOnly(host: Host<P>): boolean {
    return this.options.readOnlyReplicas && host.role === 'replica';
  }

  /**
   * The session a statement runs in: read-only on replicas; under read-your-writes also for reads
   * on the primary, so that a read which writes (a function the classifier cannot see into) is
   * refused there, re-run as a write and its position recorded, while real reads never move the
   * position that later reads must wait for.
   */
  private sessionReadOnly(host: Host<P>, work: Work<C, unknown>): boolean {
    if (this.readOnly(host)) return true;
    return this.options.readOnlyReplicas && this.options.consistency === 'read-your-writes' && host.role === 'primary' && work.kind === 'read';
  }

  private whenReady(fn: () => void): void {
    const wait = this.ready ?? this.pendingPosition;
    if (wait === undefined) return fn();
    // Whatever was awaited may have started another wait (a lost position starts a check).
    const again = () => this.whenReady(fn);
    wait.then(again, again);
  }

  /** Chooses a host or reports why not; `failure` is what a retry reports when no other host exists. */
  private choose(kind: StatementKind, role: RoleRequest | undefined, exclude: Host<P> | undefined, done: Callback<never>, failure?: Error, idleOnly = false): Host<P> | undefined {
    let host: Host<P>;
    try {
      // No options object for the common case (the cluster's fast path takes none).
      host = this.cluster.choose(kind, role, exclude === undefined && !idleOnly ? undefined : { exclude, idleOnly });
    } catch (err) {
      if (err instanceof NoPrimaryError) void this.monitor?.requestDiscovery();
      // Never synchronously: a caller retrying in a loop must let timers (and health checks) run.
      setImmediate(() => done(failure ?? (err as Error)));
      return undefined;
    }
    const max = this.options.maxWaitingClients;
    if (max !== undefined) {
      const counts = this.cluster.driverCounts(host);
      // Only a request that would have to wait is refused: maxWaitingClients 0 means "never queue".
      const wouldWait = counts.idle === 0 && counts.total >= host.capacity;
      if (wouldWait && counts.waiting >= max) {
        const err = new PoolOverloadedError(`Host ${host.name} has ${counts.waiting} requests waiting for a connection (maxWaitingClients ${max})`);
        setImmediate(() => done(err));
        return undefined;
      }
    }
    return host;
  }

  private dispatch<R>(work: Work<C, R>, done: Callback<R>, attempt: number, exclude: Host<P> | undefined, failure: Error | undefined, retryOf?: SpanContext): void {
    // Read-your-writes after a write whose position is unknown: only the primary is known fresh
    // (while none is up, replicas serve: the write cannot be anywhere newer than on them).
    if (work.kind === 'read' && work.role === undefined && this.requiredPosition(work) === UNKNOWN && this.cluster.primary !== undefined) work = { ...work, role: 'primary' };
    const host = this.choose(work.kind, work.role, exclude, done, failure, work.hedge?.index === 1);
    if (!host) return;
    host.begin();
    const span = this.trace(work, host, retryOf);
    // From here the read counts as unanswered, also while it waits for a connection.
    if (work.hedge?.index === 0) this.armHedge(work, host, span);
    // Every path below ends the span once, with the error the caller gets (or none).
    const finish: Callback<R> = span === undefined ? done : (err, value) => {
      span.end(err);
      done(err, value);
    };
    const readOnly = this.sessionReadOnly(host, work);
    this.driver.acquire(host.driver, readOnly, (err, conn) => {
      if (err || conn === undefined) {
        const kind = this.finishFailed(host, err);
        const wrapped = this.endedOr(this.options.wrap(host, err ?? new Error('no connection')));
        // Nothing was sent, so a read may go elsewhere whatever host this was, also when its wait in
        // the driver's own queue timed out (not blamed on the host, but the host is saturated).
        if (kind !== 'statement' && this.mayRetry(work, attempt)) return this.retry(work, done, attempt, host, wrapped, span);
        if (work.hedge === undefined && this.retryConnect(host, kind, work.connectRetried === true, () => {
          span?.end(wrapped);
          this.dispatch({ ...work, connectRetried: true }, done, attempt, exclude, failure, this.contextOf(span));
        }, () => finish(wrapped))) return;
        return finish(wrapped);
      }
      let needs = host.role === 'replica' && work.kind === 'read' ? this.requiredPosition(work) : undefined;
      if (needs === UNKNOWN && this.cluster.primary === undefined) needs = undefined;
      if (needs !== undefined && !this.knownApplied(host, needs)) {
        return this.checkFreshness(host, conn, work, done, needs, attempt, span);
      }
      this.execute(host, conn, work, done, attempt, span, readOnly);
    });
  }

  /** Starts the telemetry span of one attempt, when telemetry is on. */
  private trace(work: Work<C, unknown>, host: Host<P>, retryOf: SpanContext | undefined): QueryTrace | undefined {
    const t = this.options.telemetry;
    if (t === undefined || !t.active()) return undefined;
    const now = this.cluster.now();
    const candidates = host.role === 'replica' ? this.cluster.readCandidates().length : 1;
    return t.startQuery(host as Host<unknown>, work.text, candidates, host.cost(now, host.metrics.latencyMs(now) ?? 1), retryOf, work.hedge?.index === 1);
  }

  /**
   * What a retry or hedge links to: the attempt's span context, or UNTRACED for an attempt that had
   * no span while telemetry is on (no tracer SDK yet), so the retry is still marked as one.
   */
  private contextOf(span: QueryTrace | undefined): SpanContext | undefined {
    return span !== undefined ? span.spanContext : this.options.telemetry !== undefined ? UNTRACED : undefined;
  }

  /** Ends the failed attempt's span and dispatches the one retry, linked to it. */
  private retry<R>(work: Work<C, R>, done: Callback<R>, attempt: number, host: Host<P>, failure: Error, span: QueryTrace | undefined): void {
    span?.end(failure);
    this.dispatch(work, done, attempt + 1, host, failure, this.contextOf(span));
  }

  private requiredPosition(work: Work<C, unknown> | undefined): string | typeof UNKNOWN | undefined {
    if (work?.after !== undefined) return work.after;
    if (this.options.consistency !== 'read-your-writes') return undefined;
    return this.unknownSince !== undefined ? UNKNOWN : this.cluster.lastWritePosition;
  }

  private knownApplied(host: Host<P>, needs: string | typeof UNKNOWN): boolean {
    return needs !== UNKNOWN && host.position !== undefined && this.driver.positionReached(host.position, needs) === true;
  }

  private noteApplied(host: Host<P>, position: string): void {
    host.position = host.position === undefined ? position : this.driver.mergePosition(host.position, position);
  }

  /** Read-your-writes: asks the replica whether it applied `needs`; if not, the read goes to the primary. */
  private checkFreshness<R>(host: Host<P>, conn: C, work: Work<C, R>, done: Callback<R>, needs: string | typeof UNKNOWN, attempt: number, span: QueryTrace | undefined): void {
    const toPrimary = () => {
      this.driver.release(conn);
      this.cluster.finish(host, 'client', undefined, false);
      span?.end();
      this.dispatch({ ...work, role: 'primary' }, done, attempt, undefined, undefined);
    };
    if (needs === UNKNOWN) return toPrimary();
    this.driver.hasApplied(conn, needs, this.options.internalTimeoutMillis, (err, applied) => {
      if (err) {
        this.driver.release(conn, err);
        const kind = this.classify(host, err);
        this.cluster.finish(host, kind === 'host' ? 'host-error' : 'client', undefined, true);
        if (kind === 'host') this.onHostError(host, err);
        // The check is ours, not the user's statement: the read was not sent, so it may go elsewhere.
        span?.end(err);
        return this.dispatch({ ...work, role: 'primary' }, done, attempt, undefined, undefined);
      }
      if (applied) {
        this.noteApplied(host, needs);
        return this.execute(host, conn, work, done, attempt, span, this.sessionReadOnly(host, work));
      }
      toPrimary();
    });
  }

  private execute<R>(host: Host<P>, conn: C, work: Work<C, R>, userDone: Callback<R>, attempt: number, span: QueryTrace | undefined, readOnly: boolean): void {
    const slot = work.hedge;
    if (slot?.race.settled) {
      // A raced read already answered by the other attempt: this one never runs.
      this.driver.release(conn);
      this.cluster.finish(host, 'client');
      span?.end();
      return;
    }
    const start = this.cluster.now();
    // Only replicas are compared by cost, and only while there are several: other samples need no
    // discount for a busy loop (reading the loop's idle time costs about 50 ns).
    const idleAtStart = host.role === 'replica' && this.cluster.readCandidates().length > 1 ? this.cluster.loopIdle?.() : undefined;
    const warm = this.driver.firstUse?.(conn) !== true;
    let finished = false;
    let spanOpen = span !== undefined;
    // Without telemetry (no span) nothing wraps the caller's callback.
    const endSpan = span === undefined ? noSpan : (err?: Error) => {
      if (spanOpen) {
        spanOpen = false;
        span.end(err);
      }
    };
    const done: Callback<R> = span === undefined ? userDone : (err, value) => {
      endSpan(err);
      userDone(err, value);
    };
    const complete: Callback<R> = (maybeErr, result) => {
      if (finished) return;
      finished = true;
      // pg calls back with null on success.
      const err = maybeErr ?? undefined;
      const end = this.cluster.now();
      const elapsed = work.measure === false || !warm ? undefined : end - start;
      // The share of the wait this process's event loop was idle: what the sample says about the host.
      const idle = elapsed === undefined || idleAtStart === undefined || elapsed <= 0 ? 1 : (this.cluster.loopIdle!() - idleAtStart) / elapsed;
      if (slot !== undefined) {
        slot.running = false;
        const cancel = slot.cancel;
        if (cancel !== undefined) {
          clearTimeout(slot.abortTimer);
          if (err === ABANDONED) {
            // The cancel did not end it in time (or failed): the statement is given up.
            this.driver.release(conn, true);
            this.cluster.finish(host, 'client');
            return done(new Error('hedged read abandoned after its cancel'));
          }
          // Whatever the outcome, a connection whose cancel was sent is not reused before the server took it.
          return this.afterCancel(host, conn, work, cancel, err, slot.index === 0 ? elapsed : undefined, idle, () => done(err, result));
        }
      }
      if (!err && elapsed !== undefined && host.role === 'replica' && work.kind === 'read') this.hedgePolicy?.observe(elapsed);
      if (!err && this.inForeignTransaction(conn, work)) {
        this.driver.release(conn, true);
        this.cluster.finish(host, 'client');
        return done(new ForeignTransactionError(host.name));
      }
      if (!err) {
        // Read-your-writes: what ran on the primary in a writable session may have written. Reads
        // there run read-only (see sessionReadOnly), so a hidden write comes back as a write;
        // without read-only sessions every statement on the primary counts.
        if (this.options.consistency === 'read-your-writes' && host.role === 'primary' && !readOnly) {
          return this.recordWrite(host, conn, work, elapsed, idle, () => done(undefined, result));
        }
        this.driver.release(conn, work.leftTransaction?.() === true);
        this.cluster.finish(host, 'ok', elapsed, true, idle, end);
        return done(undefined, result);
      }
      // A connection that saw an error is destroyed rather than reused, as pg-pool does (mysql2
      // keeps it after SQL errors, unless the failed text may have left a transaction open).
      this.driver.release(conn, work.leftTransaction?.() === true ? true : err);
      const kind = this.classify(host, err);
      const retriable = host.role === 'replica' && this.mayRetry(work, attempt);
      if (kind === 'host') {
        this.cluster.finish(host, 'host-error');
        this.onHostError(host, err);
        // A replica is read-only: re-running a read that failed there cannot repeat a side effect.
        if (retriable) {
          spanOpen = false;
          return this.retry(work, userDone, attempt, host, this.options.wrap(host, err), span);
        }
        return done(this.options.wrap(host, err));
      }
      if (kind === 'timeout') {
        // A slow statement and a black-holed host look alike from here: the host answers for itself
        // (bounded by the check timeout). Healthy: the caller gets the driver's timeout error. Not:
        // the host is to blame, and a read that ran on a (read-only) replica goes elsewhere.
        this.cluster.finish(host, 'client');
        const verdict = this.monitor?.verify(host) ?? Promise.resolve(true);
        verdict.then((healthy) => healthy, () => true).then((healthy) => {
          if (healthy) return done(err);
          this.onHostError(host, err);
          const wrapped = this.options.wrap(host, err);
          const failure = hostFailure(host.name, wrapped);
          if (!retriable) return done(failure);
          spanOpen = false;
          this.retry(work, userDone, attempt, host, failure, span);
        });
        return;
      }
      if (kind === 'conflict' && retriable) {
        this.cluster.finish(host, 'client');
        spanOpen = false;
        return this.retry(work, userDone, attempt, host, err, span);
      }
      this.cluster.finish(host, kind === 'statement' ? 'sql-error' : 'client', kind === 'statement' ? elapsed : undefined, true, idle);
      if (readOnly && work.role !== 'replica' && work.retriable !== false && attempt < 2 && this.driver.isReadOnlyError(err)) {
        // Rejected by a read-only session (a replica's, or a read's on the primary), so it did not
        // run: re-run it once on the primary, as a write (read-your-writes records its position).
        // Not a cursor or stream: it has already reported the error to its consumer.
        endSpan(err);
        const write = this.leaveRace(work, userDone);
        if (write === undefined) return userDone(err);
        return this.dispatch({ ...write.work, kind: 'write', role: 'primary' }, write.done, 2, undefined, undefined, this.contextOf(span));
      }
      if (this.monitor !== undefined && !readOnly && host.role === 'primary' && work.role !== 'replica' && work.retriable !== false && attempt < 2 && this.driver.isReadOnlyError(err)) {
        // The primary refused a statement as read-only: either it was demoted (a switchover), and
        // the statement did not run, or the session was made read-only by the user. Roles are
        // asked again (bounded by the check timeout): demoted, it runs once on the primary there is
        // then (none yet: NoPrimaryError, as for any write without one); still the primary, the
        // caller gets the server's error.
        endSpan(err);
        void this.primaryTrouble().then(() => {
          if (host.role === 'primary' && host.state === 'up') return userDone(err);
          host.noteError(err);
          const write = this.leaveRace(work, userDone);
          if (write === undefined) return userDone(err);
          this.dispatch({ ...write.work, kind: 'write', role: 'primary' }, write.done, 2, host, undefined, this.contextOf(span));
        });
        return;
      }
      done(err);
    };
    slot?.start(host, conn, complete);
    try {
      work.run(conn, complete);
    } catch (err) {
      complete(err as Error);
    }
  }

  /**
   * True when a statement that does not open a transaction finished inside one: the connection
   * came from the pool already in a transaction someone else left open, so the statement will be
   * rolled back with it and must not be acknowledged.
   */
  private inForeignTransaction(conn: C, work: Work<C, unknown>): boolean {
    const open = work.inTransaction !== undefined ? work.inTransaction() === true : this.driver.inTransaction?.(conn) === true;
    if (!open) return false;
    return typeof work.text !== 'string' || sessionEffect(work.text, this.driver.dialect) === 'none';
  }

  /** Read-your-writes after a successful write: learn the position on the same connection, then release. */
  private recordWrite(host: Host<P>, conn: C, work: Work<C, unknown>, elapsed: number | undefined, idle: number, then: () => void): void {
    const marked = this.cluster.now();
    this.driver.writePosition(conn, this.options.internalTimeoutMillis, (posErr, position) => {
      this.driver.release(conn, posErr ?? work.leftTransaction?.() === true);
      if (!posErr && position) this.notePosition(position);
      else this.positionLost(marked);
      this.cluster.finish(host, 'ok', elapsed, true, idle);
      then();
    });
  }

  private classify(host: Host<P>, err: unknown): ErrorKind {
    const kind = this.driver.errorKind(err, false);
    // Only a replica cancels reads for recovery; elsewhere the same code is the statement's.
    return kind === 'conflict' && host.role !== 'replica' ? 'statement' : kind;
  }

  /** Ends a failed acquisition; returns whose fault it was. */
  private finishFailed(host: Host<P>, err: unknown): ErrorKind {
    const kind = this.driver.errorKind(err, true);
    this.cluster.finish(host, kind === 'host' ? 'host-error' : 'client', undefined, true);
    // A connect timeout is the host's fault only if the host also fails a check of its own.
    if (kind === 'timeout') this.verdicts.set(host, this.monitor?.verify(host).then((healthy) => healthy, () => false));
    if (kind === 'host') {
      this.onHostError(host, err);
      // The host would not give a connection: ask it at once on a connection of its own. A host
      // that refuses logins fails that check too and is ejected, even when the error penalty
      // already keeps reads away from it (so the failure count alone would never get there).
      void this.monitor?.verify(host);
    }
    return kind;
  }

  /**
   * The losing attempt of a raced read ended after its cancel was sent: by the cancel, with an
   * answer that came first, or with another error. Its connection goes back to the pool only once
   * the server took the cancel request (PostgreSQL and MariaDB ignore a cancel that reaches an idle
   * session), and is destroyed when the request failed, since it might still arrive during a later
   * statement. A cancelled original attempt ran at least `elapsed`: that lower bound is the host's
   * latency sample.
   */
  private afterCancel(host: Host<P>, conn: C, work: Work<C, unknown>, cancel: Promise<void>, err: Error | undefined, elapsed: number | undefined, idle: number, then: () => void): void {
    cancel.then(() => true, () => false).then((delivered) => {
      const cancelled = err !== undefined && this.driver.isCancelled!(err);
      const other = err !== undefined && !cancelled;
      this.driver.release(conn, !delivered || work.leftTransaction?.() === true ? true : other ? err : undefined);
      if (other) {
        const kind = this.classify(host, err);
        this.cluster.finish(host, kind === 'host' ? 'host-error' : 'client');
        if (kind === 'host') this.onHostError(host, err);
      } else {
        const sample = err === undefined || elapsed !== undefined;
        this.cluster.finish(host, sample ? 'ok' : 'client', sample ? elapsed : undefined, true, idle);
      }
      then();
    });
  }

  private mayRetry(work: Work<C, unknown>, attempt: number): boolean {
    if (work.hedge?.race.settled === true) return false;
    return this.options.retryReads && attempt === 0 && work.kind === 'read' && work.retriable !== false;
  }

  /** The answer of the check started by the last connect timeout on each host (see finishFailed). */
  private readonly verdicts = new WeakMap<Host<P>, Promise<boolean> | undefined>();

  /**
   * A connect that timed out may be this process's own doing (its event loop or machine busy past
   * the timer): nothing was sent, so once the host passes its own check one more try there is safe.
   * Calls `again` then, `fail` otherwise; false when this does not apply.
   */
  private retryConnect(host: Host<P>, kind: ErrorKind, retried: boolean, again: () => void, fail: () => void): boolean {
    const verdict = this.verdicts.get(host);
    if (kind !== 'timeout' || retried || verdict === undefined || this.cluster.ending) return false;
    void verdict.then((healthy) => (healthy && !this.cluster.ending ? again() : fail()));
    return true;
  }

  /** A request that waited for a connection while end() closed the pool gets the ended error's mark (the driver's message). */
  private endedOr(err: Error): Error {
    if (this.cluster.ending && p2cCodeOf(err) === undefined) markError(err, 'P2C_POOL_ENDED');
    return err;
  }

  /** Remembers why a host failed; a failing primary may have been replaced: look for the current one. */
  private onHostError(host: Host<P>, err: unknown): void {
    host.noteError(err);
    if (host.role === 'primary') this.primaryTrouble();
  }

  /** Set by the core: told when the primary failed or refused a write (a discovery provider asks at once). */
  onPrimaryTrouble: (() => void) | undefined;

  private primaryTrouble(): Promise<void> {
    this.onPrimaryTrouble?.();
    return this.monitor?.requestDiscovery() ?? Promise.resolve();
  }

  private fetchPosition(host: Host<P>): void {
    const marked = this.cluster.now();
    const pending: Promise<void> = this.driver.currentPosition(host.driver, this.options.internalTimeoutMillis)
      .then((position) => position, () => undefined)
      .then((position) => {
        if (this.pendingPosition === pending) this.pendingPosition = undefined;
        if (position) this.notePosition(position);
        else this.positionLost(marked);
      });
    this.pendingPosition = pending;
  }

  /**
   * The last write's position is unknown: reads go to the primary until a later check of it. The
   * check runs at once and reads wait for it (bounded by the check timeout): a primary that cannot
   * answer is ejected by it, and reads then go to the replicas instead of hanging on it.
   */
  private positionLost(at: number): void {
    if (this.options.consistency !== 'read-your-writes') return;
    this.unknownSince = Math.max(this.unknownSince ?? at, at);
    const discovery = this.monitor?.requestDiscovery();
    if (discovery === undefined) return;
    const pending = discovery.finally(() => {
      if (this.pendingPosition === pending) this.pendingPosition = undefined;
    });
    this.pendingPosition = pending;
  }

  private notePosition(position: string): void {
    this.cluster.lastWritePosition = this.driver.mergePosition(this.cluster.lastWritePosition, position);
  }
}
