// One run of a no-I/O row (bench/pg/no-io.ts) in its own process. argv: mode of side b, slice pairs.
import { runNoIoChild } from './no-io.js';

await runNoIoChild(process.argv.slice(2));
