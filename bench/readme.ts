// Copies the committed benchmark tables into the README's Performance section (between markers),
// so the README always shows the figures of the last `npm run bench`.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR } from './lib.js';

const ORDER = ['sim-balls-into-bins', 'sim-heterogeneous', 'sim-many-processes', 'sim-staleness', 'pg-overhead', 'pg-pick-cost',
  'pg-slow-replica', 'pg-failing-replica', 'pg-weights', 'mysql-overhead', 'mysql-slow-replica'];

export function updateReadme(): void {
  const readme = join(RESULTS_DIR, '..', '..', 'README.md');
  const text = readFileSync(readme, 'utf8');
  const start = '<!-- perf:start -->';
  const end = '<!-- perf:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  const parts = ORDER.filter((n) => existsSync(join(RESULTS_DIR, `${n}.md`))).map((n) => {
    const md = readFileSync(join(RESULTS_DIR, `${n}.md`), 'utf8').trim().replace(/^### /, '#### ');
    return existsSync(join(RESULTS_DIR, `${n}.svg`)) ? `${md}\n\n![${n}](bench/results/${n}.svg)` : md;
  });
  writeFileSync(readme, `${text.slice(0, a + start.length)}\n${parts.join('\n\n')}\n${text.slice(b)}`);
  console.log('README Performance section updated from bench/results/.');
}
