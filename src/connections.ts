// What the pool remembers about each driver connection, for both drivers: the error it saw while
// leased (one shared listener, no allocation per query) and the access mode of its session.

/** The slice of a driver connection used here: an event emitter. */
export interface Emitter {
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeListener(event: 'error', listener: (err: Error) => void): unknown;
}

export class ConnectionStates<C extends Emitter> {
  private readonly leased = new WeakSet<C>();
  private readonly errors = new WeakMap<C, Error>();
  private readonly readOnly = new WeakSet<C>();
  /** Read-only sessions a user's statements may have changed: the mode is set again on next use. */
  private readonly unknownMode = new WeakSet<C>();
  /** Connections that have run a statement for the core already. */
  private readonly used = new WeakSet<C>();
  private readonly onError: (this: C, err: Error) => void;

  constructor() {
    const errors = this.errors;
    this.onError = function (this: C, err: Error) {
      if (!errors.has(this)) errors.set(this, err);
    };
  }

  /**
   * A lease begins: a connection error during it is kept (and never an uncaught 'error' event,
   * which pg and mysql2 raise on a checked-out connection nobody listens to).
   */
  leaseBegins(conn: C): void {
    this.leased.add(conn);
    conn.on('error', this.onError);
  }

  /** A lease ends: detaches the listener; returns the first error it saw, if any. */
  leaseEnds(conn: C): Error | undefined {
    if (!this.leased.delete(conn)) return undefined;
    conn.removeListener('error', this.onError);
    const err = this.errors.get(conn);
    if (err !== undefined) this.errors.delete(conn);
    return err;
  }

  /** True when the session is known to be in the wanted access mode (no statement needed). */
  modeIs(conn: C, readOnly: boolean): boolean {
    return this.readOnly.has(conn) === readOnly && !this.unknownMode.has(conn);
  }

  /** The session was just set read-only or read-write. */
  modeSet(conn: C, readOnly: boolean): void {
    if (readOnly) this.readOnly.add(conn);
    else this.readOnly.delete(conn);
    this.unknownMode.delete(conn);
  }

  /**
   * Call when statements the pool did not choose ran on a read-only session (a user's lease):
   * `DISCARD ALL`, `RESET ALL`, `SET SESSION TRANSACTION READ WRITE` or `changeUser` may have made
   * it writable. Its next use sets the mode again (one statement); read-write sessions pay nothing.
   */
  forgetMode(conn: C): void {
    if (this.readOnly.has(conn)) this.unknownMode.add(conn);
  }

  /** The connection is being destroyed. */
  /**
   * True the first time a connection runs a statement for the core: a new server session answers
   * its first statement slowly (caches warm up), which says nothing about the host's load.
   */
  firstUse(conn: C): boolean {
    if (this.used.has(conn)) return false;
    this.used.add(conn);
    return true;
  }

  forget(conn: C): void {
    this.readOnly.delete(conn);
    this.unknownMode.delete(conn);
  }
}
