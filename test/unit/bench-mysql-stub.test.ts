// The mysql no-I/O benchmark's stub server (bench/mysql/no-io.ts): every configuration it measures
// gets real answers through it, so that the benchmark compares pools doing the same work.
import { afterEach, describe, expect, it } from 'vitest';
import { MYSQL_NO_IO_CONFIGS, stubStream } from '../../bench/mysql/no-io.js';
import { createPool } from '../../adapters/mysql/index.js';

describe('mysql no-I/O stub', () => {
  const open: { end(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((p) => p.end()));
  });

  for (const [mode, config] of Object.entries(MYSQL_NO_IO_CONFIGS)) {
    it(`${mode}: SELECT 1 answers one row, 200 times over 32 concurrent callers`, async () => {
      const pool = config.make();
      open.push(pool);
      const answers = await Promise.all(Array.from({ length: 200 }, () => pool.query('SELECT 1')));
      for (const rows of answers) expect(rows).toEqual([{ 1: 1 }]);
    });
  }

  it('the health probe takes the stub primary for the primary and the stub replicas for replicas; reads go to the replicas', async () => {
    const host = (name: string) => ({ host: name, user: 'u', database: 'd', stream: stubStream });
    const pool = createPool({ primary: host('primary'), replicas: [host('r1'), host('r2')], connectionLimit: 4 }).promise();
    open.push(pool);
    for (let i = 0; i < 20; i++) await pool.query('SELECT 1');
    const stats = (pool as unknown as { pool: { stats(): { hosts: readonly { name: string; role: string; state: string; queries: number }[] } } }).pool.stats();
    const byName = Object.fromEntries(stats.hosts.map((h) => [h.name, h]));
    expect(Object.values(byName).map((h) => [h.role, h.state])).toEqual([['primary', 'up'], ['replica', 'up'], ['replica', 'up']]);
    expect(Object.values(byName)[0]!.queries).toBe(0);
    expect(Object.values(byName)[1]!.queries + Object.values(byName)[2]!.queries).toBe(20);
  });
});
