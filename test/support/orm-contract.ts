// The contract every ORM integration must meet, for both faces: reads on replicas, writes on the
// primary (by server port), a transaction entirely on the primary, rollback on error.

import { expect } from 'vitest';

export interface OrmProbe {
  readPort(): Promise<number>;
  /** Performs a write and returns the port of the server that took it. */
  writePort(name: string): Promise<number>;
  /** Runs a transaction and returns the ports its statements ran on. */
  transactionPorts(name: string): Promise<number[]>;
  /** Writes `name` in a transaction that then fails. */
  failingTransaction(name: string): Promise<unknown>;
}

export async function ormContract(o: OrmProbe, ports: { primary: number; replicas: readonly number[] }, countOnPrimary: (name: string) => Promise<number>): Promise<void> {
  const reads = await Promise.all(Array.from({ length: 12 }, () => o.readPort()));
  expect(reads.every((p) => ports.replicas.includes(p))).toBe(true);
  expect(await o.writePort(`w-${Math.random()}`)).toBe(ports.primary);
  const txPorts = await o.transactionPorts(`tx-${Math.random()}`);
  expect(txPorts.length).toBeGreaterThan(1);
  expect(new Set(txPorts)).toEqual(new Set([ports.primary]));
  const name = `rollback-${Math.random()}`;
  await expect(o.failingTransaction(name)).rejects.toThrow();
  expect(await countOnPrimary(name)).toBe(0);
}
