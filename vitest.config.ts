import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// P2C_LOWEST: the oldest supported pg and mysql2 (installed in .lowest/ by test/lowest/run.sh)
// replace the newest, for the library and the tests alike.
const lowest = process.env['P2C_LOWEST'] === '1';
const old = (path: string) => resolve(import.meta.dirname, '.lowest', 'node_modules', path);

export default defineConfig({
  resolve: lowest
    ? {
        alias: [
          { find: /^pg$/, replacement: old('pg/lib/index.js') },
          { find: /^mysql2$/, replacement: old('mysql2/index.js') },
          { find: /^mysql2\/promise$/, replacement: old('mysql2/promise.js') },
        ],
      }
    : {},
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Files run one at a time: fault and balancing tests measure timings, and each file runs its
    // own PostgreSQL cluster on a 2-core machine.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', ['json', { outputFile: lowest ? 'test-results/vitest-lowest.json' : 'test-results/vitest.json' }]],
  },
});
