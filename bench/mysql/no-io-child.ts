// A side's process of the mysql no-I/O benchmark (bench/mysql/no-io.ts). argv: mode of side a, mode of side b, side.
import { runMysqlNoIoChild } from './no-io.js';

await runMysqlNoIoChild(process.argv.slice(2));
