// npm run bench: the simulator, then the real-cluster benchmarks (P2C_BENCH=sim|pg|mysql to pick one).

import { runSimulator } from './sim/index.js';

const which = process.env['P2C_BENCH'] ?? 'all';
if (which === 'all' || which === 'sim') runSimulator();
if (which === 'all' || which === 'pg') await (await import('./pg/index.js')).runPgBench();
if (which === 'all' || which === 'mysql') await (await import('./mysql/index.js')).runMysqlBench();
(await import('./readme.js')).updateBenchmarksDoc();
