// A side's process of the no-I/O benchmark (bench/pg/no-io.ts). argv: mode of side a, mode of side b, side (a|b).
import { runNoIoChild } from './no-io.js';

await runNoIoChild(process.argv.slice(2));
