// Hedged reads (Dean & Barroso, "The Tail at Scale", CACM 2013): a read not answered after a delay
// is also sent to another replica; the first answer wins and the other statement is cancelled.
// This module holds the policy (when, how often) and the race of one read; the executor runs them.
// Pure: no clock, no I/O.

import type { HedgeOptions } from './config.js';

/** Hedging counters, in `pool.stats().hedges`. */
export interface HedgeStats {
  /** Second requests sent. */
  sent: number;
  /** Reads answered by the second request. */
  won: number;
  /** Cancel requests sent for the losing statement. */
  cancelled: number;
  /** Cancel requests that failed or timed out (their connection is destroyed, not reused). */
  cancelFailed: number;
  /** Hedges not sent because the extra-load budget was spent. */
  overBudget: number;
}

export const emptyHedgeStats = (): HedgeStats => ({ sent: 0, won: 0, cancelled: 0, cancelFailed: 0, overBudget: 0 });

const WINDOW = 512;
const RECOMPUTE_EVERY = 64;
const MIN_SAMPLES = 64;
/** Most hedges that may be sent in a burst once the budget has filled up. */
const BURST = 40;
/**
 * Tokens only a read still unanswered after twice its delay may spend (see Executor.armHedge): a
 * read at its first delay hedges only from a nearly full budget, so the many reads that noise
 * pushes just past the delay do not spend what a stall's stragglers need.
 */
const RESERVE = BURST - 2;

/**
 * When to hedge: after a fixed delay or the 95th percentile of the last 512 replica reads, and only
 * while the token budget allows: every read adds `maxExtraLoad` of a token, every hedge spends one.
 */
export class HedgePolicy {
  private tokens = 1;
  private readonly window = new Float64Array(WINDOW);
  /** Where the percentile is selected, so that `window` keeps its order (no allocation per recompute). */
  private readonly scratch = new Float64Array(WINDOW);
  private count = 0;
  private next = 0;
  private p95 = NaN;

  constructor(readonly options: Required<HedgeOptions>) {}

  /** A hedgeable read starts: its delay before a hedge (ms), or undefined while p95 is not known yet. */
  delayFor(): number | undefined {
    this.tokens = Math.min(BURST, this.tokens + this.options.maxExtraLoad);
    const after = this.options.afterMillis;
    if (after !== 'p95') return after;
    return Number.isNaN(this.p95) ? undefined : this.p95;
  }

  /** Spends a token for one hedge; false when the budget is spent (`keepReserve`: below the reserve). */
  take(keepReserve = false): boolean {
    if (this.tokens < (keepReserve ? 1 + RESERVE : 1)) return false;
    this.tokens -= 1;
    return true;
  }

  /** A replica read's response time (ms), for the 'p95' delay. */
  observe(ms: number): void {
    if (this.options.afterMillis !== 'p95') return;
    this.window[this.next] = ms;
    this.next = (this.next + 1) % WINDOW;
    this.count++;
    if (this.count >= MIN_SAMPLES && this.count % RECOMPUTE_EVERY === 0) {
      // Selected, not sorted: a sort of 512 numbers every 64 reads cost ~330 ns per read here.
      const n = Math.min(this.count, WINDOW);
      const values = this.scratch;
      values.set(n === WINDOW ? this.window : this.window.subarray(0, n));
      this.p95 = select(values, n, Math.min(n - 1, Math.ceil(0.95 * n) - 1));
    }
  }

  /** The current 'p95' delay, NaN until known (for tests and stats). */
  get percentile95(): number {
    return this.p95;
  }
}

/**
 * The k-th smallest of the first `n` values (0-based), reordering them (Hoare's selection with a
 * middle pivot: linear on average).
 */
export function select(values: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i] = values[j]!;
        values[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return values[k]!;
  }
  return values[k]!;
}

/** What `finish` returns for a success: one constant, as nearly every race ends so. */
const DELIVER_SUCCESS: { readonly deliver: true; readonly err: undefined } = Object.freeze({ deliver: true, err: undefined });

/**
 * One attempt of a raced read: where its statement runs while it runs, and its cancel. Attempt 0
 * is the race record itself (see HedgeRace); only a hedge that is sent allocates one of its own.
 */
export class Attempt<H, C> {
  /** The race this attempt belongs to (the record itself for attempt 0). */
  readonly race: HedgeRace<H, C>;
  /** True while the attempt's statement runs (between the executor's send and its completion). */
  running = false;
  host: H | undefined;
  conn: C | undefined;
  /**
   * The executor's completion of the running statement; called with ABANDONED it gives the
   * statement up (its connection destroyed, its attempt ended).
   */
  complete: ((err: Error) => void) | undefined;
  /** Bounds the wait for the statement once its cancel was taken. */
  abortTimer: ReturnType<typeof setTimeout> | undefined;
  cancel: Promise<void> | undefined;

  constructor(readonly index: 0 | 1, race?: HedgeRace<H, C>) {
    this.race = race ?? (this as unknown as HedgeRace<H, C>);
  }

  /** The statement of this attempt is sent on `conn`: its earlier run (a retry's first try), if any, left nothing. */
  start(host: H, conn: C, complete: (err: Error) => void): void {
    this.running = true;
    this.host = host;
    this.conn = conn;
    this.complete = complete;
    this.abortTimer = undefined;
    this.cancel = undefined;
  }
}

/** What a losing statement that outlived its cancel is completed with (see Attempt.complete). */
export const ABANDONED: Error = new Error('hedged read abandoned after its cancel');

/**
 * The race of one read: attempt 0 (the original, with its own retry) and attempt 1 (the hedge).
 * A success settles it at once; an error waits for the other attempt while that one still runs,
 * and when both fail the first error is the caller's. The record is also attempt 0, so a raced
 * read that is not hedged allocates this one object for the race.
 */
export class HedgeRace<H, C> extends Attempt<H, C> {
  /** The caller's callback, called once by whichever attempt settles the race. */
  constructor(readonly deliver: (err: Error | undefined, value?: unknown) => void) {
    super(0);
  }
  settled = false;
  launched = false;
  /** The hedge delay of this read (ms). */
  delay = 0;
  /** The timer of a later try to start the hedge (the first waits in a DueList), cleared once the race is settled. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** True once a hedge was scheduled for this race. */
  armed = false;
  /** DueList links: when the first try is due (clock ms), what it runs, and its neighbours. */
  due = 0;
  /** What the hedge repeats, where attempt 0 runs and its span (set when armed; the executor's). */
  originWork: unknown;
  originHost: H | undefined;
  originSpan: unknown;
  prev: HedgeRace<H, C> | undefined;
  next: HedgeRace<H, C> | undefined;
  queued = false;
  /** Bounds the wait for the other attempt after one failed. */
  waitTimer: ReturnType<typeof setTimeout> | undefined;
  /** Attempt 1, once the hedge was sent. */
  hedge: Attempt<H, C> | undefined;

  /** Attempt `i` of this race (undefined: the hedge was not sent). */
  attempt(i: 0 | 1): Attempt<H, C> | undefined {
    return i === 0 ? this : this.hedge;
  }

  /** Whether attempt 0 / 1 has finished (two fields, not an array: one allocation less per read). */
  private finished0 = false;
  private finished1 = false;
  private firstError: Error | undefined;

  /**
   * Settles attempt `i`: returns what the caller gets now (`deliver`), or undefined to wait for the
   * other attempt. `final`: an error not worth waiting for (or the wait ran out).
   */
  finish(i: 0 | 1, err: Error | undefined, final = false): { readonly deliver: true; readonly err: Error | undefined } | undefined {
    if (i === 0) this.finished0 = true;
    else this.finished1 = true;
    if (this.settled) return undefined;
    if (err !== undefined) {
      this.firstError ??= err;
      const other = i === 0 ? 1 : 0;
      if (!final && this.launched && !(other === 0 ? this.finished0 : this.finished1)) return undefined;
      this.settled = true;
      return { deliver: true, err: this.firstError };
    }
    this.settled = true;
    return DELIVER_SUCCESS;
  }
}

/**
 * Races waiting for their first hedge try, in order of due time: one timer for the executor (for the
 * earliest) instead of one per read, and a settled race leaves the list at once. Due times arrive
 * almost in order (start + delay), so an insertion walks back from the tail a step or two at most.
 */
export class DueList<H, C> {
  head: HedgeRace<H, C> | undefined;
  private tail: HedgeRace<H, C> | undefined;

  insert(race: HedgeRace<H, C>): void {
    let after = this.tail;
    while (after !== undefined && after.due > race.due) after = after.prev;
    race.prev = after;
    race.next = after === undefined ? this.head : after.next;
    if (race.next !== undefined) race.next.prev = race;
    else this.tail = race;
    if (after !== undefined) after.next = race;
    else this.head = race;
    race.queued = true;
  }

  remove(race: HedgeRace<H, C>): void {
    if (!race.queued) return;
    if (race.prev !== undefined) race.prev.next = race.next;
    else this.head = race.next;
    if (race.next !== undefined) race.next.prev = race.prev;
    else this.tail = race.prev;
    race.prev = undefined;
    race.next = undefined;
    race.queued = false;
  }
}
