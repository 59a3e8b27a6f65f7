// Choosing the overhead benchmark's rows (P2C_OVERHEAD_ROWS) and where its processes run.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { OVERHEAD_ROWS, selectRows } from '../../bench/overhead-rows.js';
import { pinnedCpus } from '../../bench/slices.js';

describe('overhead rows', () => {
  it('all rows by default; the named ones in the order named, repeats kept', () => {
    const rows = OVERHEAD_ROWS.pg();
    expect(selectRows(rows, []).map((r) => r.key)).toEqual(rows.map((r) => r.key));
    expect(selectRows(rows, ['single', 'noise', 'single']).map((r) => r.key)).toEqual(['single', 'noise', 'single']);
  });

  it('an unknown row name fails with the names there are', () => {
    expect(() => selectRows(OVERHEAD_ROWS.mysql(), ['nosuch'])).toThrow(/no row "nosuch" \(rows: noise, calibration, single/);
  });
});

describe('pinnedCpus', () => {
  const saved = { client: process.env['P2C_BENCH_PIN_CLIENT'], server: process.env['P2C_BENCH_PIN_SERVER'] };
  afterEach(() => {
    for (const [k, v] of [['P2C_BENCH_PIN_CLIENT', saved.client], ['P2C_BENCH_PIN_SERVER', saved.server]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('an empty setting turns pinning off; a CPU list is taken as given', () => {
    process.env['P2C_BENCH_PIN_CLIENT'] = '';
    process.env['P2C_BENCH_PIN_SERVER'] = '1,3';
    expect(pinnedCpus('client')).toBeUndefined();
    expect(pinnedCpus('server')).toBe('1,3');
  });

  it('by default, on a machine with taskset and two CPUs or more: sides on CPU 0, servers on CPU 1; else none', () => {
    delete process.env['P2C_BENCH_PIN_CLIENT'];
    delete process.env['P2C_BENCH_PIN_SERVER'];
    const can = cpus().length >= 2 && spawnSync('taskset', ['-p', String(process.pid)]).status === 0;
    expect([pinnedCpus('client'), pinnedCpus('server')]).toEqual(can ? ['0', '1'] : [undefined, undefined]);
  });
});
