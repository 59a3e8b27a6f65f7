// Runs statements across the cluster: choose a host, lease a connection, run, measure, and on
// failure retry a read elsewhere or re-run a read-only rejection on the primary. Driver-free.

import { NoPrimaryError, PoolOverloadedError } from './errors.js';
import type { Host } from './host.js';
import type { Outcome } from './metrics.js';
import type { HealthMonitor } from './monitor.js';
import type { Cluster } from './pool.js';
import type { RoleRequest, StatementKind } from './routing.js';
import type { Callback, Driver } from './driver.js';
import type { Consistency } from './config.js';
import type { QueryTrace, Telemetry } from './telemetry.js';
import type { SpanContext } from '@opentelemetry/api';

/** One statement to run somewhere in the cluster. */
export interface Work<C, R> {
  readonly kind: StatementKind;
  /** Statement text, for telemetry only. */
  readonly text?: string | undefined;
  readonly role?: RoleRequest | undefined;
  /** Read-your-writes token: a replica serving this read must have applied it. */
  readonly after?: string | undefined;
  /** False for statements that must never run twice (cursors, streams); reads are retriable by default. */
  readonly retriable?: boolean;
  /** False when the run time is not the server's (streams consumed by the caller). */
  readonly measure?: boolean;
  /** Runs the statement on `conn`; calls back exactly once. */
  run(conn: C, callback: Callback<R>): void;
}

export interface ExecutorOptions<P> {
  readonly retryReads: boolean;
  readonly consistency: Consistency;
  readonly maxWaitingClients: number | undefined;
  /** Turns a host-level failure into the error the caller sees. */
  wrap(host: Host<P>, err: Error): Error;
  /** Present only when the `telemetry` option is set. */
  readonly telemetry?: Telemetry | undefined;
}

/** A leased connection: the adapter calls `end` exactly once, when the user releases it. */
export interface Lease<P, C> {
  readonly host: Host<P>;
  readonly conn: C;
  end(err?: Error | boolean): void;
}

export class Executor<P, C> {
  /** Resolves once roles are known (discovery); undefined when nothing is pending. */
  ready: Promise<void> | undefined;
  private pendingPosition: Promise<void> | undefined;

  constructor(
    readonly cluster: Cluster<P>,
    private readonly driver: Driver<P, C>,
    private readonly options: ExecutorOptions<P>,
    private readonly monitor?: HealthMonitor<P>,
  ) {}

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
    this.whenReady(() => this.dispatch(work, done, 0, undefined, undefined));
  }

  /** Leases a connection on the primary (or a replica for role 'replica'); statements on it stay there. */
  lease(role: RoleRequest, callback: Callback<Lease<P, C>>): void {
    try {
      this.cluster.assertOpen();
    } catch (err) {
      setImmediate(() => callback(err as Error));
      return;
    }
    this.whenReady(() => {
      const host = this.choose(role === 'replica' ? 'read' : 'write', role, undefined, callback);
      if (!host) return;
      host.begin();
      const endSpan = this.options.telemetry?.startLease(host as Host<unknown>);
      this.driver.acquire(host.driver, (err, conn) => {
        if (err || conn === undefined) {
          this.finishFailed(host, err, false);
          const wrapped = this.options.wrap(host, err ?? new Error('no connection'));
          endSpan?.(wrapped);
          return callback(wrapped);
        }
        let open = true;
        callback(undefined, {
          host,
          conn,
          end: (releaseErr) => {
            if (!open) return;
            open = false;
            const failed = releaseErr instanceof Error && this.driver.isHostError(releaseErr);
            endSpan?.(releaseErr instanceof Error ? releaseErr : undefined);
            this.cluster.finish(host, failed ? 'host-error' : 'ok', undefined, false);
            if (failed) this.onHostError(host);
            // Read-your-writes: a primary lease may have written; later reads wait for its position.
            else if (this.options.consistency === 'read-your-writes' && host.role === 'primary') this.fetchPosition(host);
          },
        });
      });
    });
  }

  /** The write position of this pool's last write (read-your-writes), as a token. */
  lastWriteToken(): string | undefined {
    return this.cluster.lastWritePosition;
  }

  private whenReady(fn: () => void): void {
    const wait = this.ready ?? this.pendingPosition;
    if (wait === undefined) return fn();
    wait.then(fn, fn);
  }

  /** Chooses a host or reports why not; `failure` is what a retry reports when no other host exists. */
  private choose(kind: StatementKind, role: RoleRequest | undefined, exclude: Host<P> | undefined, done: Callback<never>, failure?: Error): Host<P> | undefined {
    let host: Host<P>;
    try {
      host = this.cluster.choose(kind, role, { exclude });
    } catch (err) {
      if (err instanceof NoPrimaryError) void this.monitor?.requestDiscovery();
      done(failure ?? (err as Error));
      return undefined;
    }
    const max = this.options.maxWaitingClients;
    if (max !== undefined && this.driver.waiting(host.driver) >= max) {
      done(new PoolOverloadedError(`Host ${host.name} has ${this.driver.waiting(host.driver)} requests waiting for a connection (maxWaitingClients ${max})`));
      return undefined;
    }
    return host;
  }

  private dispatch<R>(work: Work<C, R>, done: Callback<R>, attempt: number, exclude: Host<P> | undefined, failure: Error | undefined, retryOf?: SpanContext): void {
    const host = this.choose(work.kind, work.role, exclude, done, failure);
    if (!host) return;
    host.begin();
    const span = this.trace(work, host, retryOf);
    // Every path below ends the span once, with the error the caller gets (or none).
    const finish: Callback<R> = span === undefined ? done : (err, value) => {
      span.end(err);
      done(err, value);
    };
    this.driver.acquire(host.driver, (err, conn) => {
      if (err || conn === undefined) {
        const hostError = this.finishFailed(host, err, true);
        const wrapped = this.options.wrap(host, err ?? new Error('no connection'));
        // Nothing was sent, so a read may go elsewhere whatever host this was.
        if (hostError && this.mayRetry(work, attempt)) return this.retry(work, done, attempt, host, wrapped, span);
        return finish(wrapped);
      }
      const needs = host.role === 'replica' && work.kind === 'read' ? this.requiredPosition(work) : undefined;
      if (needs !== undefined && !(host.position !== undefined && this.driver.positionReached(host.position, needs) === true)) {
        return this.checkFreshness(host, conn, work, done, needs, attempt, span);
      }
      this.execute(host, conn, work, done, attempt, span);
    });
  }

  /** Starts the telemetry span of one attempt, when telemetry is on. */
  private trace(work: Work<C, unknown>, host: Host<P>, retryOf: SpanContext | undefined): QueryTrace | undefined {
    const t = this.options.telemetry;
    if (t === undefined) return undefined;
    const now = this.cluster.now();
    const candidates = host.role === 'replica' ? this.cluster.readCandidates().length : 1;
    return t.startQuery(host as Host<unknown>, work.text, candidates, host.cost(now, host.metrics.latencyMs(now) ?? 1), retryOf);
  }

  /** Ends the failed attempt's span and dispatches the one retry, linked to it. */
  private retry<R>(work: Work<C, R>, done: Callback<R>, attempt: number, host: Host<P>, failure: Error, span: QueryTrace | undefined): void {
    span?.end(failure);
    this.dispatch(work, done, attempt + 1, host, failure, span?.spanContext);
  }

  private requiredPosition(work: Work<C, unknown>): string | undefined {
    return work.after ?? (this.options.consistency === 'read-your-writes' ? this.cluster.lastWritePosition : undefined);
  }

  /** Read-your-writes: asks the replica whether it applied `needs`; if not, the read goes to the primary. */
  private checkFreshness<R>(host: Host<P>, conn: C, work: Work<C, R>, done: Callback<R>, needs: string, attempt: number, span: QueryTrace | undefined): void {
    this.driver.hasApplied(conn, needs, (err, applied) => {
      if (err) {
        this.driver.release(conn, err);
        const hostError = this.finishFailed(host, err, true);
        const wrapped = this.options.wrap(host, err);
        if (hostError && this.mayRetry(work, attempt)) return this.retry(work, done, attempt, host, wrapped, span);
        span?.end(wrapped);
        return done(wrapped);
      }
      if (applied) {
        host.position = host.position === undefined ? needs : this.driver.mergePosition(host.position, needs);
        return this.execute(host, conn, work, done, attempt, span);
      }
      this.driver.release(conn);
      this.cluster.finish(host, 'ok', undefined, false);
      span?.end();
      this.dispatch({ ...work, role: 'primary' }, done, attempt, undefined, undefined);
    });
  }

  private execute<R>(host: Host<P>, conn: C, work: Work<C, R>, userDone: Callback<R>, attempt: number, span: QueryTrace | undefined): void {
    const start = this.cluster.now();
    let finished = false;
    let spanOpen = span !== undefined;
    const endSpan = (err?: Error) => {
      if (spanOpen) {
        spanOpen = false;
        span!.end(err);
      }
    };
    const done: Callback<R> = (err, value) => {
      endSpan(err);
      userDone(err, value);
    };
    const complete: Callback<R> = (err, result) => {
      if (finished) return;
      finished = true;
      const elapsed = work.measure === false ? undefined : this.cluster.now() - start;
      if (!err && this.options.consistency === 'read-your-writes' && host.role === 'primary' && work.kind === 'write') {
        return this.driver.writePosition(conn, (posErr, position) => {
          this.driver.release(conn, posErr);
          if (!posErr && position) this.notePosition(position);
          this.cluster.finish(host, 'ok', elapsed);
          done(undefined, result);
        });
      }
      // A connection that saw an error is destroyed rather than reused, as pg-pool does.
      this.driver.release(conn, err);
      const outcome: Outcome = !err ? 'ok' : this.driver.isHostError(err) ? 'host-error' : 'sql-error';
      this.cluster.finish(host, outcome, outcome === 'host-error' ? undefined : elapsed);
      if (!err) return done(undefined, result);
      if (outcome === 'host-error') {
        this.onHostError(host);
        // A replica is read-only: re-running a read that failed there cannot repeat a side effect.
        if (host.role === 'replica' && this.mayRetry(work, attempt)) {
          spanOpen = false;
          return this.retry(work, userDone, attempt, host, this.options.wrap(host, err), span);
        }
      }
      if (host.role === 'replica' && work.role !== 'replica' && attempt < 2 && this.driver.isReadOnlyError(err)) {
        endSpan(err);
        return this.dispatch({ ...work, role: 'primary' }, userDone, 2, undefined, undefined, span?.spanContext);
      }
      done(this.options.wrap(host, err));
    };
    try {
      work.run(conn, complete);
    } catch (err) {
      complete(err as Error);
    }
  }

  /** Ends a failed acquisition; returns whether the host is to blame. */
  private finishFailed(host: Host<P>, err: unknown, isQuery: boolean): boolean {
    const hostError = this.driver.isHostError(err);
    this.cluster.finish(host, hostError ? 'host-error' : 'sql-error', undefined, isQuery);
    if (hostError) this.onHostError(host);
    return hostError;
  }

  private mayRetry(work: Work<C, unknown>, attempt: number): boolean {
    return this.options.retryReads && attempt === 0 && work.kind === 'read' && work.retriable !== false;
  }

  /** A failing primary may have been replaced: look for the current one. */
  private onHostError(host: Host<P>): void {
    if (host.role === 'primary') void this.monitor?.requestDiscovery();
  }

  private fetchPosition(host: Host<P>): void {
    const pending = this.driver.currentPosition(host.driver)
      .then((position) => { if (position) this.notePosition(position); }, () => {})
      .finally(() => {
        if (this.pendingPosition === pending) this.pendingPosition = undefined;
      });
    this.pendingPosition = pending;
  }

  private notePosition(position: string): void {
    this.cluster.lastWritePosition = this.driver.mergePosition(this.cluster.lastWritePosition, position);
  }
}
