// What the pool remembers about each driver connection, for both drivers: the error it saw while
// leased (one listener per connection for its lifetime) and the access mode of its session.

/** The slice of a driver connection used here: an event emitter. */
export interface Emitter {
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeListener(event: 'error', listener: (err: Error) => void): unknown;
}

/** One connection's record, kept on the connection itself (a property lookup, not a WeakMap's, on every lease). */
interface ConnectionState {
  leased: boolean;
  /** The first error seen during the current lease. */
  error: Error | undefined;
  readOnly: boolean;
  /** A read-only session a user's statements may have changed: the mode is set again on next use. */
  unknownMode: boolean;
  /** Has run a statement for the core already. */
  used: boolean;
  /** What the driver's pool gave to release this checkout (the faces may replace `release`). */
  release: ((err?: Error | boolean) => void) | undefined;
}

const STATE = Symbol('p2c-pool connection state');
type Stated = { [STATE]?: ConnectionState };

/** Records an error on a leased connection; between leases the driver's pool has its own listener. */
function onError(this: Stated, err: Error): void {
  const s = this[STATE];
  if (s !== undefined && s.leased && s.error === undefined) s.error = err;
}

export class ConnectionStates<C extends Emitter> {
  /** The connection's record; the first call attaches the error listener, for the connection's lifetime. */
  private state(conn: C): ConnectionState {
    const c = conn as C & Stated;
    let s = c[STATE];
    if (s === undefined) {
      s = { leased: false, error: undefined, readOnly: false, unknownMode: false, used: false, release: undefined };
      c[STATE] = s;
      // pg and mysql2 raise an error on a checked-out connection nobody listens to as an uncaught
      // 'error' event: this listener makes that impossible, during leases and after a destroy.
      conn.on('error', onError as (err: Error) => void);
    }
    return s;
  }

  /** A lease begins: a connection error during it is kept (see leaseEnds); `release` is the driver's own. */
  leaseBegins(conn: C, release?: (err?: Error | boolean) => void): void {
    const s = this.state(conn);
    s.leased = true;
    s.error = undefined;
    s.release = release;
  }

  /** A lease ends: returns the first error seen during it, if any. */
  leaseEnds(conn: C): Error | undefined {
    const s = (conn as C & Stated)[STATE];
    if (s === undefined || !s.leased) return undefined;
    s.leased = false;
    const err = s.error;
    s.error = undefined;
    return err;
  }

  /** The driver's release stored by leaseBegins, taken once (undefined when the lease is not ours). */
  takeRelease(conn: C): ((err?: Error | boolean) => void) | undefined {
    const s = (conn as C & Stated)[STATE];
    const release = s?.release;
    if (s !== undefined) s.release = undefined;
    return release;
  }

  /** True when the session is known to be in the wanted access mode (no statement needed). */
  modeIs(conn: C, readOnly: boolean): boolean {
    const s = this.state(conn);
    return s.readOnly === readOnly && !s.unknownMode;
  }

  /** The session was just set read-only or read-write. */
  modeSet(conn: C, readOnly: boolean): void {
    const s = this.state(conn);
    s.readOnly = readOnly;
    s.unknownMode = false;
  }

  /**
   * Call when statements the pool did not choose ran on a read-only session (a user's lease):
   * `DISCARD ALL`, `RESET ALL`, `SET SESSION TRANSACTION READ WRITE` or `changeUser` may have made
   * it writable. Its next use sets the mode again (one statement); read-write sessions pay nothing.
   */
  forgetMode(conn: C): void {
    const s = (conn as C & Stated)[STATE];
    if (s !== undefined && s.readOnly) s.unknownMode = true;
  }

  /**
   * True the first time a connection runs a statement for the core: a new server session answers
   * its first statement slowly (caches warm up), which says nothing about the host's load.
   */
  firstUse(conn: C): boolean {
    const s = this.state(conn);
    if (s.used) return false;
    s.used = true;
    return true;
  }

  /** The connection is being destroyed: its session's mode is no longer known. */
  forget(conn: C): void {
    const s = (conn as C & Stated)[STATE];
    if (s !== undefined) {
      s.readOnly = false;
      s.unknownMode = false;
    }
  }
}
