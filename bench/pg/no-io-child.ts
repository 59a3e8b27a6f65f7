// Child process of the no-I/O benchmark (bench/pg/no-io.ts): runs one configuration, prints ns/query.
import { runNoIoChild } from './no-io.js';

await runNoIoChild(process.argv[2] ?? 'plain');
