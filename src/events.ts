// Typed events of the pool faces: each face lists its driver's events (with the host appended)
// plus the host events every face emits, and gets on/once/off overloads checked by the compiler.

import type { EventEmitter } from 'node:events';
import type { HostInfo, HostStats } from './host.js';
import type { RoleMismatch } from './pool.js';

/** Events every multi-host pool emits, with their listener arguments. */
export interface HostEvents {
  /** A host passed its checks (again) and serves. */
  hostUp: [host: HostStats];
  /** A host was taken out of rotation after errors; it is probed and comes back by itself. */
  hostEjected: [host: HostStats];
  /** A host failed its health checks. */
  hostDown: [host: HostStats];
  /** The primary changed (failover, switchover); undefined when there is none. */
  primaryChanged: [now: HostInfo | undefined, before: HostInfo | undefined];
  /** A host reports another role than configured, or a replica is writable. */
  roleMismatch: [mismatch: RoleMismatch];
  /** A host joined (`addHost`, `setHosts`, discovery); it serves once its first check passed. */
  hostAdded: [host: HostStats];
  /** A removed host finished draining and its connections are closed. */
  hostRemoved: [host: HostStats];
  /** A discovery run failed or found no host; the pool keeps the hosts it has. */
  discoveryError: [err: Error];
}

type Listener<A extends unknown[]> = (...args: A) => void;

/** EventEmitter with the listener methods typed by an event map `E` (event name to argument tuple). */
export interface TypedEmitter<E extends { [K in keyof E]: unknown[] }> extends Omit<EventEmitter,
  'on' | 'once' | 'off' | 'addListener' | 'removeListener' | 'prependListener' | 'prependOnceListener' | 'emit' | 'removeAllListeners' | 'setMaxListeners'> {
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this;
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): this;
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this;
  addListener<K extends keyof E>(event: K, listener: Listener<E[K]>): this;
  removeListener<K extends keyof E>(event: K, listener: Listener<E[K]>): this;
  prependListener<K extends keyof E>(event: K, listener: Listener<E[K]>): this;
  prependOnceListener<K extends keyof E>(event: K, listener: Listener<E[K]>): this;
  emit<K extends keyof E>(event: K, ...args: E[K]): boolean;
  removeAllListeners(event?: keyof E): this;
  setMaxListeners(n: number): this;
}
