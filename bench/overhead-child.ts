// One run of an overhead row (bench/overhead.ts) in a process of its own: both sides, in turns
// (bench/slices.ts). argv: driver, row key, URLs as JSON, workers, slice pairs, slice ms.

import { serveRow } from './slices.js';
import { OVERHEAD_ROWS, type Driver, type Urls } from './overhead-rows.js';

const [driver, key, urlsJson, workers, pairs, sliceMillis] = process.argv.slice(2) as [Driver, string, string, string, string, string];
const spec = OVERHEAD_ROWS[driver]().find((r) => r.key === key);
if (!spec) throw new Error(`no overhead row ${driver}/${key}`);
const urls = JSON.parse(urlsJson) as Urls;
await serveRow(() => ({ a: spec.make('a', urls, Number(workers)), b: spec.make('b', urls, Number(workers)) }), Number(workers), Number(pairs), Number(sliceMillis));
