// Choosing a host: power of two choices (P2C) and the baselines it is compared with.
// Pure: costs come from the caller, randomness from an injected source; no clock, no I/O.
//
// P2C (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing", 2001; Azar et al. 1994):
// sampling two bins and using the less loaded one brings the maximum load of n balls in n bins from
// ~ln n / ln ln n (one random choice) down to ~ln ln n / ln 2, and, unlike always taking the global
// minimum, it does not make many independent balancers herd onto the same host on stale numbers.

/** The slice of a host the pickers look at. */
export interface Candidate {
  /** Queries or leases in flight on this host. */
  readonly inflight: number;
}

/** A source of uniform numbers in [0, 1), like Math.random. Inject a seeded one in tests. */
export type Random = () => number;

/**
 * The default random source of the pickers: mulberry32 (a small, widely used 32-bit generator)
 * seeded from Math.random, one for the process (one call target keeps the pick's call inlined).
 * Two draws per pick, each about half the cost of a Math.random call on the benchmark machine;
 * 32 bits are plenty to choose among hosts. Not for secrets.
 */
export const fastRandom: Random = mulberry32(Math.floor(Math.random() * 2 ** 32));

/** mulberry32 from `seed`: uniform numbers in [0, 1) with 32 bits each. */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Names of the built-in pickers. */
export type PickerName = 'p2c' | 'random' | 'round-robin' | 'least-connections' | 'ordered';
export const PICKER_NAMES: readonly PickerName[] = ['p2c', 'random', 'round-robin', 'least-connections', 'ordered'];

/**
 * Chooses one of `candidates` (never empty) and returns its index. `cost(i)` is the load of
 * candidate i, lower is better; only pickers that use it call it.
 */
export interface Picker {
  readonly name: PickerName;
  pick(candidates: readonly Candidate[], cost: (index: number) => number): number;
}

/** Creates a picker by name. @example createPicker('p2c', Math.random).pick(hosts, (i) => costs[i]) */
export function createPicker(name: PickerName, random: Random): Picker {
  switch (name) {
    case 'p2c':
      return new P2CPicker(random);
    case 'random':
      return { name, pick: (c) => Math.floor(random() * c.length) };
    case 'round-robin':
      return new RoundRobinPicker();
    case 'least-connections':
      return new LeastConnectionsPicker(random);
    case 'ordered':
      // The first eligible host in the order the hosts were given (libpq's load_balance_hosts=disable).
      return { name, pick: () => 0 };
  }
}

/**
 * Two distinct random indices; the cheaper wins, ties broken at random (see `better`). The steps are public so the
 * cluster's hot path can run them without a cost callback: `draw(n)` sets `a` and `b`, then
 * `better(costA, costB)` returns the winner's index.
 */
export class P2CPicker implements Picker {
  readonly name = 'p2c' as const;
  /** The indices of the last draw. */
  a = 0;
  b = 0;
  constructor(private readonly random: Random) {}

  /** Draws two distinct indices below n (n >= 2) into `a` and `b`. */
  draw(n: number): void {
    // One uniform number gives both: a from its integer part, b from the fraction left over, which
    // is uniform in [0, 1) again (32 bits leave 24 for b at 256 hosts). b is drawn from the other
    // n - 1 indices so the two are always distinct.
    const r = this.random() * n;
    const a = Math.floor(r);
    let b = Math.floor((r - a) * (n - 1));
    if (b >= a) b++;
    this.a = a;
    this.b = b;
  }

  /**
   * The index of the cheaper of the last draw, given their costs. A tie goes to `a`: the pair is an
   * ordered uniform draw, so `a` is either of the two with probability 1/2, a random tie-break
   * without another random number (a call on the tie path alone made every pick 13 ns dearer: the
   * larger function no longer inlined into the cluster's pick).
   */
  better(costA: number, costB: number): number {
    return costB < costA ? this.b : this.a;
  }

  pick(candidates: readonly Candidate[], cost: (index: number) => number): number {
    const n = candidates.length;
    if (n <= 1) return 0;
    this.draw(n);
    return this.better(cost(this.a), cost(this.b));
  }
}

/**
 * Power of d choices, the generalisation of P2C used by the simulator to compare d = 2, 3, 4:
 * d distinct random indices (partial Fisher-Yates over an index scratch), the cheapest wins.
 * Going from 2 to d choices only improves the ln ln n / ln d bound by a constant factor.
 */
export class PowerOfDPicker {
  private scratch: number[] = [];
  constructor(readonly d: number, private readonly random: Random) {}

  pick(candidates: readonly Candidate[], cost: (index: number) => number): number {
    const n = candidates.length;
    if (n <= 1) return 0;
    const k = Math.min(this.d, n);
    const idx = this.scratch;
    if (idx.length !== n) this.scratch = Array.from({ length: n }, (_, i) => i);
    let best = -1;
    let bestCost = Infinity;
    for (let j = 0; j < k; j++) {
      const r = j + Math.floor(this.random() * (n - j));
      const a = this.scratch[j]!;
      this.scratch[j] = this.scratch[r]!;
      this.scratch[r] = a;
      const i = this.scratch[j]!;
      const c = cost(i);
      if (c < bestCost || (c === bestCost && this.random() < 0.5)) {
        best = i;
        bestCost = c;
      }
    }
    return best;
  }
}

/** Cycles through the candidates in order. */
export class RoundRobinPicker implements Picker {
  readonly name = 'round-robin' as const;
  private next = 0;
  pick(candidates: readonly Candidate[]): number {
    const i = this.next % candidates.length;
    this.next = (i + 1) % Number.MAX_SAFE_INTEGER;
    return i;
  }
}

/** The candidate with the fewest in-flight queries; ties broken at random (reservoir sampling). */
export class LeastConnectionsPicker implements Picker {
  readonly name = 'least-connections' as const;
  constructor(private readonly random: Random) {}
  pick(candidates: readonly Candidate[]): number {
    let best = 0;
    let bestLoad = Infinity;
    let ties = 0;
    for (let i = 0; i < candidates.length; i++) {
      const load = candidates[i]!.inflight;
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
        ties = 1;
      } else if (load === bestLoad && this.random() * ++ties < 1) {
        best = i;
      }
    }
    return best;
  }
}

/**
 * Latency differences below about this many ms are within a Node client's own noise (event-loop
 * turns, GC, the driver's parsing) and are not worth unbalancing load for: it is added to every
 * host's latency in the cost, so that between sub-millisecond hosts load decides, while a host
 * slower by several ms is still avoided.
 */
export const LATENCY_FLOOR_MS = 1;

/**
 * The P2C cost of a host: an estimate of the response time of its next query, lower is better.
 *
 *   (latency + 1 ms) * (1 + (inflight + 1) / (capacity * weight)) * (1 + errorPenalty * errorRate)
 *
 * `latency` is the host's recent response time with the connection already in hand (plus the
 * noise floor, see LATENCY_FLOOR_MS). With `inflight` queries (and the new one) spread over
 * `capacity` connections, each waits for a share of a service time per query beside it (a
 * processor-sharing model: about 2x with `capacity` queries in flight, `(inflight + 1) / capacity`
 * x beyond), so an idle slow host is compared with a busy fast one on what each would answer in.
 * The load term also makes equal hosts spread, as P2C needs. `weight` (relative to the heaviest
 * host, in (0, 1]; slow start lowers it) scales the load a host takes: at equal latency, hosts of
 * weights 4 and 1 settle at a 4:1 split of queries in flight. The error term makes a host that
 * fails half the time cost 6x.
 */
/** The weight of the error rate in the cost (see hostCost). */
export const DEFAULT_ERROR_PENALTY = 10;

export function hostCost(latencyMs: number, inflight: number, capacity: number, errorRate: number, weight: number, errorPenalty = DEFAULT_ERROR_PENALTY): number {
  if (weight <= 0) return Infinity;
  return (latencyMs + LATENCY_FLOOR_MS) * (1 + (inflight + 1) / (capacity * weight)) * (1 + errorPenalty * errorRate);
}

/** Median of a list of numbers (mean of the middle two for even lengths); undefined when empty. */
export function median(values: readonly number[]): number | undefined {
  return sortedMedian([...values]);
}

/** `median`, sorting `values` in place (insertion sort: a few hosts, no allocation); undefined when empty. */
export function sortedMedian(values: number[]): number | undefined {
  const n = values.length;
  if (n === 0) return undefined;
  for (let i = 1; i < n; i++) {
    const v = values[i]!;
    let j = i - 1;
    while (j >= 0 && values[j]! > v) {
      values[j + 1] = values[j]!;
      j--;
    }
    values[j + 1] = v;
  }
  const mid = n >> 1;
  return n % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}
