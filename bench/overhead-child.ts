// One side of an overhead row (bench/overhead.ts), in a process of its own: builds the pool and
// runs slices when told (bench/slices.ts). argv: driver, row key, URLs as JSON, workers, side (a|b).

import { serveSlices } from './slices.js';
import { mixedStart, OVERHEAD_ROWS, type Driver, type Urls } from './overhead-rows.js';

const [driver, key, urlsJson, workersText, side] = process.argv.slice(2) as [Driver, string, string, string, 'a' | 'b'];
const spec = OVERHEAD_ROWS[driver]().find((r) => r.key === key);
if (!spec) throw new Error(`no overhead row ${driver}/${key}`);
const workers = Number(workersText);
const urls = JSON.parse(urlsJson) as Urls;
await mixedStart(driver, urls);
await serveSlices(spec.make(side, urls, workers), workers, 1500);
