// The package as users get it: `npm pack`, installed into fresh ESM, CommonJS and TypeScript
// (nodenext, bundler, commonjs) projects, each running statements routed to a replica of a real
// PostgreSQL and a real MariaDB cluster. Also publint --strict and arethetypeswrong on the tarball,
// and telemetry through an application's older @opentelemetry/api (a peer, never nested).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { startMyCluster, type MyCluster } from '../support/mysql-cluster.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const version = (name: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

let work: string;
let tarball: string;
let pg: PgCluster | undefined;
let my: MyCluster | undefined;
let env: NodeJS.ProcessEnv;

/** Runs a command; rejects with its output (stdout and stderr) when it exits non-zero. */
function sh(cmd: string, args: readonly string[], cwd: string, timeout = 240_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { cwd, env, timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolvePromise(`${stdout}${stderr}`);
    });
  });
}

function write(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

const npmInstall = (dir: string, packages: readonly string[]) =>
  sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...packages], dir);

/** The body every project runs: one read routed to a replica on each face, checked by the server itself. */
const BODY = `
  const pool = new Pool({ primary: process.env.PG_PRIMARY, replicas: [process.env.PG_REPLICA] });
  const res = await pool.query('SELECT pg_is_in_recovery() AS standby, inet_server_port() AS port');
  await pool.end();
  const myPool = createPool({ primary: process.env.MY_PRIMARY, replicas: [process.env.MY_REPLICA] });
  const [rows] = await myPool.query('SELECT @@port AS port');
  await myPool.end();
  console.log(JSON.stringify({ pgStandby: res.rows[0].standby, pgPort: res.rows[0].port, myPort: rows[0].port }));
`;

/** The same in TypeScript, with checks the compiler must accept and reject (typed events, routed query configs). */
const TS_BODY = `
  const config: PoolConfig = { primary: process.env['PG_PRIMARY']!, replicas: [process.env['PG_REPLICA']!], max: 4 };
  const pool = new Pool(config);
  pool.on('hostEjected', (host) => { const name: string = host.name; void name; });
  pool.on('primaryChanged', (now) => { const role: string | undefined = now?.role; void role; });
  // @ts-expect-error events are typed: a host's stats have no such field
  pool.on('hostEjected', (host) => host.anything);
  const res = await pool.query<{ standby: boolean; port: number }>({ text: 'SELECT pg_is_in_recovery() AS standby, inet_server_port() AS port', role: 'replica' });
  const standby: boolean = res.rows[0]!.standby;
  await pool.end();
  const myPool = createPool({ primary: process.env['MY_PRIMARY']!, replicas: [process.env['MY_REPLICA']!] });
  const [rows] = await myPool.query<{ port: number }[]>('SELECT @@port AS port');
  await myPool.end();
  console.log(JSON.stringify({ pgStandby: standby, pgPort: res.rows[0]!.port, myPort: rows[0]!.port }));
`;

const TS_IMPORTS = `import { Pool, type PoolConfig } from 'p2c-pool/pg';\nimport { createPool } from 'p2c-pool/mysql/promise';\n`;
const main = (body: string) => `async function main(): Promise<void> {${body}}\nmain().catch((err) => { console.error(err); process.exit(1); });\n`;
const tsconfig = (options: Record<string, unknown>) => JSON.stringify({
  compilerOptions: { strict: true, skipLibCheck: false, target: 'ES2022', outDir: 'out', types: ['node'], ...options },
  include: ['index.ts'],
}, null, 2);

beforeAll(async () => {
  env = { ...process.env, npm_config_update_notifier: 'false' };
  work = mkdtempSync(join(tmpdir(), 'p2c-install-'));
  try {
    [pg, my] = await Promise.all([startPgCluster({ replicas: 1 }), startMyCluster({ replicas: 1 })]);
  } catch (err) {
    throw new Error(`This test needs PostgreSQL and MariaDB servers and could not start them: ${(err as Error).message}`);
  }
  env['PG_PRIMARY'] = pg.primary.url;
  env['PG_REPLICA'] = pg.replicas[0]!.url;
  env['MY_PRIMARY'] = my.primary.url;
  env['MY_REPLICA'] = my.replicas[0]!.url;
  // prepack builds dist/esm and dist/cjs from a clean state, as on a fresh clone.
  await sh('npm', ['pack', '--pack-destination', work, '--loglevel=error'], ROOT);
  tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
}, 600_000);

afterAll(async () => {
  await pg?.stop();
  await my?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('passes publint --strict and arethetypeswrong (node10, node16 from ESM and CJS, bundler)', async () => {
    const publint = await sh(join(ROOT, 'node_modules', '.bin', 'publint'), ['--strict', tarball], ROOT);
    expect(publint).toContain('All good!');
    const attw = await sh(join(ROOT, 'node_modules', '.bin', 'attw'), [tarball, '--format', 'json'], ROOT);
    const report = JSON.parse(attw) as { analysis: { problems: unknown[] } };
    expect(report.analysis.problems).toEqual([]);
  });

  it('ships the built code of both formats, the sources its maps point at, and no tests', () => {
    const listing = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const f of ['package/dist/esm/adapters/pg/index.js', 'package/dist/cjs/adapters/pg/index.js', 'package/dist/cjs/package.json',
      'package/dist/esm/adapters/mysql/promise.d.ts', 'package/adapters/pg/pool.ts', 'package/src/optional.cjs', 'package/LICENSE']) {
      expect(listing).toContain(f);
    }
    expect(listing.filter((f) => f.includes('/test/') || f.includes('/bench/'))).toEqual([]);
  });

  describe('installed into fresh projects (a read on each face goes to the replica)', () => {
    let plain: string;
    beforeAll(async () => {
      // One node_modules for the projects below it, without @opentelemetry/api: declarations must compile without it.
      plain = join(work, 'plain');
      write(plain, { 'package.json': JSON.stringify({ name: 'plain', private: true }) });
      await npmInstall(plain, [tarball, `pg@${version('pg')}`, `mysql2@${version('mysql2')}`, `typescript@${version('typescript')}`, `@types/node@${version('@types/node')}`]);
    }, 600_000);

    const expectReplicaReads = (out: string) => {
      const result = JSON.parse(out.trim().split('\n').at(-1)!) as { pgStandby: boolean; pgPort: number; myPort: number };
      expect(result).toEqual({ pgStandby: true, pgPort: pg!.replicas[0]!.port, myPort: my!.replicas[0]!.port });
    };

    it('ESM (import)', async () => {
      const dir = join(plain, 'esm');
      write(dir, {
        'package.json': JSON.stringify({ type: 'module' }),
        'index.js': `import { Pool } from 'p2c-pool/pg';\nimport { createPool } from 'p2c-pool/mysql/promise';\n${BODY.replace(/^ {2}/gm, '')}`,
      });
      expectReplicaReads(await sh('node', ['index.js'], dir));
    });

    it('CommonJS (require)', async () => {
      const dir = join(plain, 'cjs');
      write(dir, {
        'package.json': JSON.stringify({ type: 'commonjs' }),
        'index.js': `const { Pool } = require('p2c-pool/pg');\nconst { createPool } = require('p2c-pool/mysql/promise');\nif (typeof require('p2c-pool').PoolError !== 'function') throw new Error('core entry');\nif (typeof require('p2c-pool/mysql').createPool !== 'function') throw new Error('mysql entry');\n(async () => {${BODY}})().catch((err) => { console.error(err); process.exit(1); });\n`,
      });
      expectReplicaReads(await sh('node', ['index.js'], dir));
    });

    for (const [name, type, options] of [
      ['TypeScript module nodenext', 'module', { module: 'nodenext', moduleResolution: 'nodenext' }],
      ['TypeScript moduleResolution bundler', 'module', { module: 'esnext', moduleResolution: 'bundler' }],
      ['TypeScript module commonjs (NestJS-style)', 'commonjs', { module: 'commonjs', esModuleInterop: true }],
    ] as const) {
      it(`${name}: compiles (strict, skipLibCheck off) and runs`, async () => {
        const dir = join(plain, name.replace(/\W+/g, '-'));
        write(dir, {
          'package.json': JSON.stringify({ type }),
          'tsconfig.json': tsconfig(options),
          'index.ts': `${TS_IMPORTS}${main(TS_BODY)}`,
        });
        await sh(join(plain, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], dir);
        expectReplicaReads(await sh('node', ['out/index.js'], dir));
      });
    }
  });

  it("telemetry: true uses the application's @opentelemetry/api (1.4.1 here), never a nested copy", async () => {
    const dir = join(work, 'otel');
    write(dir, {
      'package.json': JSON.stringify({ name: 'otel', private: true, type: 'module' }),
      'index.js': `
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Pool } from 'p2c-pool/pg';
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider();
provider.addSpanProcessor(new SimpleSpanProcessor(exporter));
provider.register();
const pool = new Pool({ primary: process.env.PG_PRIMARY, replicas: [process.env.PG_REPLICA], telemetry: true });
await pool.query('SELECT 1');
await pool.end();
console.log(JSON.stringify({ spans: exporter.getFinishedSpans().map((s) => s.name) }));
`,
    });
    await npmInstall(dir, [tarball, `pg@${version('pg')}`, '@opentelemetry/api@1.4.1', '@opentelemetry/sdk-trace-base@1.13.0']);
    expect(existsSync(join(dir, 'node_modules', 'p2c-pool', 'node_modules', '@opentelemetry'))).toBe(false);
    const out = JSON.parse((await sh('node', ['index.js'], dir)).trim().split('\n').at(-1)!) as { spans: string[] };
    expect(out.spans).toContain('SELECT');
  });

  it('telemetry: true without @opentelemetry/api installed is a ConfigError saying what to install', async () => {
    const dir = join(work, 'plain', 'no-otel');
    write(dir, {
      'package.json': JSON.stringify({ type: 'commonjs' }),
      'index.js': `const { Pool, ConfigError } = require('p2c-pool/pg');
try { new Pool({ primary: process.env.PG_PRIMARY, telemetry: true }); console.log('constructed'); }
catch (err) { console.log(JSON.stringify({ configError: err instanceof ConfigError, message: err.message })); }
`,
    });
    const out = JSON.parse((await sh('node', ['index.js'], dir)).trim()) as { configError: boolean; message: string };
    expect(out).toEqual({ configError: true, message: expect.stringContaining('npm install @opentelemetry/api') });
  });
});
