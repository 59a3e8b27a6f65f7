// ORMs and query builders on p2c-pool/pg against a real primary + 2 replicas: reads on replicas,
// writes on the primary (by server port), a transaction entirely on the primary, rollback on error.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Kysely, PostgresDialect, sql as ksql, type Generated } from 'kysely';
import { drizzle } from 'drizzle-orm/node-postgres';
import { sql as dsql } from 'drizzle-orm';
import knexFactory from 'knex';
import { DataSource } from 'typeorm';
import { Sequelize, QueryTypes } from 'sequelize';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from '../../adapters/pg/index.js';
import { sequelizeDialectModule, typeormDriver } from '../../adapters/pg/orm.js';
import { useCluster } from '../support/vitest-cluster.js';
import { ormContract, type OrmProbe } from '../support/orm-contract.js';

const cluster = useCluster({ replicas: 2 });
let primaryPort: number;
let replicaPorts: number[];
const pools: Pool[] = [];

function pool(extra: Record<string, unknown> = {}): Pool {
  const c = cluster();
  const p = new Pool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), max: 4, healthCheckIntervalMillis: 0, ...extra });
  pools.push(p);
  return p;
}

beforeAll(async () => {
  const c = cluster();
  primaryPort = c.primary.port;
  replicaPorts = c.replicas.map((r) => r.port);
  const admin = new pg.Client(c.primary.url);
  await admin.connect();
  await admin.query('CREATE TABLE IF NOT EXISTS orm_items (id serial PRIMARY KEY, name text NOT NULL UNIQUE)');
  await admin.end();
  // Make sure the replicas have the table before any read goes there.
  const p = pool();
  const lsn = (await p.query({ text: 'SELECT pg_current_wal_lsn()::text AS l', role: 'primary' })).rows[0].l;
  for (const r of c.replicas) {
    const cl = new pg.Client(r.url);
    await cl.connect();
    for (let i = 0; i < 500 && !(await cl.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn])).rows[0].ok; i++) await new Promise((res) => setTimeout(res, 10));
    await cl.end();
  }
});

afterAll(async () => {
  for (const p of pools) if (!p.ending) await p.end();
});

function contract(o: OrmProbe): Promise<void> {
  return ormContract(o, { primary: primaryPort, replicas: replicaPorts }, async (name) => (await pools[0]!.query({ text: 'SELECT count(*)::int AS n FROM orm_items WHERE name = $1', values: [name], role: 'primary' })).rows[0].n);
}

describe('ORMs on p2c-pool/pg', () => {
  it('Kysely: PostgresDialect({ pool }) with connectRole "auto"', async () => {
    const db = new Kysely<{ orm_items: { id: Generated<number>; name: string } }>({ dialect: new PostgresDialect({ pool: pool({ connectRole: 'auto' }) }) });
    const port = ksql<{ port: number }>`SELECT inet_server_port() AS port`;
    await contract({
      readPort: async () => (await port.execute(db)).rows[0]!.port,
      writePort: async (name) => (await db.insertInto('orm_items').values({ name }).returning(ksql<number>`inet_server_port()`.as('port')).executeTakeFirstOrThrow()).port,
      transactionPorts: (name) => db.transaction().execute(async (trx) => {
        const a = (await port.execute(trx)).rows[0]!.port;
        await trx.insertInto('orm_items').values({ name }).execute();
        const b = (await trx.selectFrom('orm_items').select(ksql<number>`inet_server_port()`.as('port')).where('name', '=', name).executeTakeFirstOrThrow()).port;
        return [a, b];
      }),
      failingTransaction: (name) => db.transaction().execute(async (trx) => {
        await trx.insertInto('orm_items').values({ name }).execute();
        throw new Error('boom');
      }),
    });
    await db.destroy();
  });

  it('Drizzle: drizzle({ client: pool }), transactions included', async () => {
    const db = drizzle({ client: pool() });
    const port = async (q: { execute(s: unknown): Promise<{ rows: unknown[] }> }) => ((await q.execute(dsql`SELECT inet_server_port() AS port`)).rows[0] as { port: number }).port;
    await contract({
      readPort: () => port(db),
      writePort: async (name) => ((await db.execute(dsql`INSERT INTO orm_items (name) VALUES (${name}) RETURNING inet_server_port() AS port`)).rows[0] as { port: number }).port,
      transactionPorts: (name) => db.transaction(async (tx) => {
        const a = await port(tx);
        await tx.execute(dsql`INSERT INTO orm_items (name) VALUES (${name})`);
        return [a, await port(tx)];
      }),
      failingTransaction: (name) => db.transaction(async (tx) => {
        await tx.execute(dsql`INSERT INTO orm_items (name) VALUES (${name})`);
        throw new Error('boom');
      }),
    });
  });

  it('Knex: { client: "pg", connectionPool: pool } with connectRole "auto"', async () => {
    const knex = knexFactory({ client: 'pg', connectionPool: pool({ connectRole: 'auto' }) } as never);
    const port = async (k: typeof knex) => ((await k.raw('SELECT inet_server_port() AS port')).rows[0] as { port: number }).port;
    await contract({
      readPort: () => port(knex),
      writePort: async (name) => (await knex('orm_items').insert({ name }).returning(knex.raw('inet_server_port() AS port')))[0].port,
      transactionPorts: (name) => knex.transaction(async (trx) => {
        const a = await port(trx as unknown as typeof knex);
        await trx('orm_items').insert({ name });
        return [a, await port(trx as unknown as typeof knex)];
      }),
      failingTransaction: (name) => knex.transaction(async (trx) => {
        await trx('orm_items').insert({ name });
        throw new Error('boom');
      }),
    });
    await knex.destroy();
  });

  it('TypeORM: DataSource with driver: typeormDriver, replication off', async () => {
    const c = cluster();
    const ds = new DataSource({
      type: 'postgres',
      driver: typeormDriver,
      extra: { primary: c.primary.url, replicas: c.replicas.map((r) => r.url), healthCheckIntervalMillis: 0, connectRole: 'auto' },
    } as never);
    await ds.initialize();
    const port = async (q: { query(s: string): Promise<{ port: number }[]> }) => (await q.query('SELECT inet_server_port() AS port'))[0]!.port;
    await contract({
      readPort: () => port(ds),
      writePort: async (name) => (await ds.query('INSERT INTO orm_items (name) VALUES ($1) RETURNING inet_server_port() AS port', [name]))[0].port,
      transactionPorts: (name) => ds.transaction(async (m) => {
        const a = await port(m);
        await m.query('INSERT INTO orm_items (name) VALUES ($1)', [name]);
        return [a, await port(m)];
      }),
      failingTransaction: (name) => ds.transaction(async (m) => {
        await m.query('INSERT INTO orm_items (name) VALUES ($1)', [name]);
        throw new Error('boom');
      }),
    });
    await ds.destroy();
  });

  it('Sequelize: dialectModule bound to the pool', async () => {
    const p = pool();
    const seq = new Sequelize({ dialect: 'postgres', dialectModule: sequelizeDialectModule(p), logging: false, keepDefaultTimezone: true, dialectOptions: { clientMinMessages: 'ignore' }, standardConformingStrings: false } as never);
    const port = async (t?: unknown) => ((await seq.query('SELECT inet_server_port() AS port', { type: QueryTypes.SELECT, ...(t ? { transaction: t as never } : {}) })) as { port: number }[])[0]!.port;
    await contract({
      readPort: () => port(),
      writePort: async (name) => ((await seq.query('INSERT INTO orm_items (name) VALUES (:name) RETURNING inet_server_port() AS port', { replacements: { name }, type: QueryTypes.SELECT })) as { port: number }[])[0]!.port,
      transactionPorts: (name) => seq.transaction(async (t) => {
        const a = await port(t);
        await seq.query('INSERT INTO orm_items (name) VALUES (:name)', { replacements: { name }, transaction: t });
        return [a, await port(t)];
      }),
      failingTransaction: (name) => seq.transaction(async (t) => {
        await seq.query('INSERT INTO orm_items (name) VALUES (:name)', { replacements: { name }, transaction: t });
        throw new Error('boom');
      }),
    });
    await seq.close();
  });

  it("Prisma's driver adapter: new PrismaPg(pool), used directly (the Prisma client cannot be generated offline)", async () => {
    const p = pool();
    expect(p).toBeInstanceOf(pg.Pool);
    const adapter = await new PrismaPg(p).connect();
    const port = async (q: { queryRaw(x: unknown): Promise<{ rows: unknown[][] }> }) => Number((await q.queryRaw({ sql: 'SELECT inet_server_port()', args: [], argTypes: [] })).rows[0]![0]);
    await contract({
      readPort: () => port(adapter),
      writePort: async (name) => Number((await adapter.queryRaw({ sql: 'INSERT INTO orm_items (name) VALUES ($1) RETURNING inet_server_port()', args: [name], argTypes: [{ scalarType: 'string', arity: 'scalar' }] } as never)).rows[0]![0]),
      transactionPorts: async (name) => {
        const tx = await adapter.startTransaction();
        const a = await port(tx);
        await tx.executeRaw({ sql: 'INSERT INTO orm_items (name) VALUES ($1)', args: [name], argTypes: [{ scalarType: 'string', arity: 'scalar' }] } as never);
        const b = await port(tx);
        await tx.commit();
        return [a, b];
      },
      failingTransaction: async (name) => {
        const tx = await adapter.startTransaction();
        await tx.executeRaw({ sql: 'INSERT INTO orm_items (name) VALUES ($1)', args: [name], argTypes: [{ scalarType: 'string', arity: 'scalar' }] } as never);
        await tx.rollback();
        throw new Error('rolled back');
      },
    });
    await adapter.dispose();
  });
});
