// Redraws every chart in bench/results/ from the committed JSON, without running a benchmark, then
// refreshes docs/benchmarks.md:
//   npx tsc -p tsconfig.json && node dist/bench/charts.js
// The benchmarks draw through the same functions after writing their JSON (writeResult), so a run
// and a redraw give the same SVG. A result not listed here has no chart; its stale .svg is removed.

import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { drawChart, RESULTS_DIR } from './lib.js';
import { slowReplicaChart, tailShareChart } from './pg/charts.js';
import { updateBenchmarksDoc } from './readme.js';
import { ballsChart, heterogeneousChart, manyProcessesChart, stalenessChart } from './sim/charts.js';

export const CHARTS: Readonly<Record<string, (data: never) => string>> = {
  'sim-balls-into-bins': ballsChart,
  'sim-heterogeneous': heterogeneousChart,
  'sim-many-processes': manyProcessesChart,
  'sim-staleness': stalenessChart,
  'pg-slow-replica': slowReplicaChart,
  'pg-tail': tailShareChart,
};

for (const [name, chart] of Object.entries(CHARTS)) {
  if (!existsSync(join(RESULTS_DIR, `${name}.json`))) { console.log(`skipped ${name}: no ${name}.json`); continue; }
  drawChart(name, chart);
  console.log(`drew bench/results/${name}.svg`);
}
for (const file of readdirSync(RESULTS_DIR).filter((f) => f.endsWith('.svg') && !(f.slice(0, -4) in CHARTS))) {
  rmSync(join(RESULTS_DIR, file));
  console.log(`removed bench/results/${file}: no chart draws it`);
}
updateBenchmarksDoc();
