// Copies the committed benchmark tables and charts into docs/benchmarks.md (between the perf
// markers), so that page always shows the figures of the last `npm run bench`.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RESULTS_DIR } from './lib.js';

const ORDER = ['sim-balls-into-bins', 'sim-heterogeneous', 'sim-many-processes', 'sim-staleness', 'pg-overhead', 'pg-readonly-sessions', 'pg-pick-cost', 'pg-classify-cost', 'pg-no-io',
  'pg-tail', 'pg-slow-replica', 'pg-failing-replica', 'pg-weights', 'mysql-overhead', 'mysql-no-io', 'mysql-readonly-sessions', 'mysql-tail', 'mysql-slow-replica'];
const GROUPS: Record<string, string> = { sim: 'Simulator', pg: 'PostgreSQL', mysql: 'MySQL (MariaDB)' };

export const BENCHMARKS_DOC = join(RESULTS_DIR, '..', '..', 'docs', 'benchmarks.md');
const START = '<!-- perf:start -->';
const END = '<!-- perf:end -->';

const INTRO = `# Benchmarks

Figures of the last benchmark run: a seeded simulator that drives the library's real pickers, then
real PostgreSQL and MariaDB clusters (a primary and two replicas, slowed or failed through a
proxy). Timings come from a 2-core machine and vary from run to run; ratios measured side by side
in one run are the figures to compare.

How to run: \`npm run bench\` (\`P2C_BENCH=sim|pg|mysql npm run bench\` for one part). It rewrites
\`bench/results/\` and the section between the markers below. To redraw the charts from the
committed JSON without running a benchmark: \`npx tsc -p tsconfig.json && node dist/bench/charts.js\`.
`;

export function updateBenchmarksDoc(): void {
  mkdirSync(dirname(BENCHMARKS_DOC), { recursive: true });
  let text = existsSync(BENCHMARKS_DOC) ? readFileSync(BENCHMARKS_DOC, 'utf8') : INTRO;
  if (!text.includes(START) || text.indexOf(END) < text.indexOf(START)) text = `${text.trimEnd()}\n\n${START}\n${END}\n`;
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  let group = '';
  const parts = ORDER.filter((n) => existsSync(join(RESULTS_DIR, `${n}.md`))).map((n) => {
    const md = readFileSync(join(RESULTS_DIR, `${n}.md`), 'utf8').trim();
    const g = GROUPS[n.split('-')[0]!] ?? '';
    const heading = g !== group ? `## ${(group = g)}\n\n` : '';
    return heading + (existsSync(join(RESULTS_DIR, `${n}.svg`)) ? `${md}\n\n![${n}](../bench/results/${n}.svg)` : md);
  });
  writeFileSync(BENCHMARKS_DOC, `${text.slice(0, a + START.length)}\n${parts.join('\n\n')}\n${text.slice(b)}`);
  console.log('docs/benchmarks.md updated from bench/results/.');
}
