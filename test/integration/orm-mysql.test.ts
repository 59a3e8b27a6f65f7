// ORMs and query builders on p2c-pool/mysql against a real MariaDB primary + 2 GTID replicas.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { Kysely, MysqlDialect, sql as ksql, type Generated } from 'kysely';
import { drizzle } from 'drizzle-orm/mysql2';
import { sql as dsql } from 'drizzle-orm';
import knexFactory from 'knex';
import { DataSource } from 'typeorm';
import { Sequelize, QueryTypes } from 'sequelize';
import { createPool, sequelizeDialectModule, typeormDriver, type Pool } from '../../adapters/mysql/index.js';
import { admin, useMyCluster, waitForReplicas } from '../support/vitest-mysql.js';
import { ormContract, type OrmProbe } from '../support/orm-contract.js';

const cluster = useMyCluster({ replicas: 2 });
let primaryPort: number;
let replicaPorts: number[];
const pools: Pool[] = [];
/** Checks outcomes on the primary; not handed to any ORM (some end the pool they are given). */
let checker: Pool;

function pool(extra: Record<string, unknown> = {}): Pool {
  const c = cluster();
  const p = createPool({ primary: c.primary.url, replicas: c.replicas.map((r) => r.url), connectionLimit: 4, healthCheckIntervalMillis: 0, ...extra });
  pools.push(p);
  return p;
}

beforeAll(async () => {
  const c = cluster();
  primaryPort = c.primary.port;
  replicaPorts = c.replicas.map((r) => r.port);
  await admin(c.primary.adminUrl, 'CREATE TABLE IF NOT EXISTS test.orm_items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE)');
  await waitForReplicas(c);
  checker = pool();
});

afterAll(async () => {
  for (const p of pools) await new Promise((r) => p.end(r));
});

function contract(o: OrmProbe): Promise<void> {
  return ormContract(o, { primary: primaryPort, replicas: replicaPorts }, async (name) => Number(((await checker.promise().query({ sql: 'SELECT COUNT(*) AS n FROM orm_items WHERE name = ?', values: [name], role: 'primary' }))[0] as { n: number }[])[0]!.n));
}

/** A write's port: MySQL has no RETURNING, so the write inserts @@port and it is read back on the primary. */
const PORT_OF_WRITE = 'SELECT CAST(SUBSTRING_INDEX(name, \'@\', -1) AS UNSIGNED) AS port FROM orm_items WHERE name LIKE ?';

describe('ORMs on p2c-pool/mysql', () => {
  it('Kysely: MysqlDialect({ pool }) with connectRole "auto"', async () => {
    const db = new Kysely<{ orm_items: { id: Generated<number>; name: string } }>({ dialect: new MysqlDialect({ pool: pool({ connectRole: 'auto' }) as never }) });
    const port = ksql<{ port: number }>`SELECT @@port AS port`;
    await contract({
      readPort: async () => (await port.execute(db)).rows[0]!.port,
      writePort: async (name) => {
        await ksql`INSERT INTO orm_items (name) VALUES (CONCAT(${name}, '@', @@port))`.execute(db);
        return db.transaction().execute(async (t) => (await ksql<{ port: number }>`SELECT CAST(SUBSTRING_INDEX(name, '@', -1) AS UNSIGNED) AS port FROM orm_items WHERE name LIKE ${`${name}@%`}`.execute(t)).rows[0]!.port);
      },
      transactionPorts: (name) => db.transaction().execute(async (trx) => {
        const a = (await port.execute(trx)).rows[0]!.port;
        await trx.insertInto('orm_items').values({ name }).execute();
        return [a, (await port.execute(trx)).rows[0]!.port];
      }),
      failingTransaction: (name) => db.transaction().execute(async (trx) => {
        await trx.insertInto('orm_items').values({ name }).execute();
        throw new Error('boom');
      }),
    });
    await db.destroy();
  });

  it('Drizzle: drizzle({ client: pool }), transactions included', async () => {
    const db = drizzle({ client: pool() as never });
    const port = async (q: { execute(s: unknown): Promise<unknown> }) => ((await q.execute(dsql`SELECT @@port AS port`)) as unknown as [{ port: number }[]])[0][0]!.port;
    await contract({
      readPort: () => port(db),
      writePort: async (name) => {
        await db.execute(dsql`INSERT INTO orm_items (name) VALUES (CONCAT(${name}, '@', @@port))`);
        return db.transaction(async (tx) => ((await tx.execute(dsql.raw(PORT_OF_WRITE.replace('?', `'${name}@%'`)))) as unknown as [{ port: number }[]])[0][0]!.port);
      },
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

  it('Knex: { client: "mysql2", connectionPool: pool } with connectRole "auto"', async () => {
    const knex = knexFactory({ client: 'mysql2', connectionPool: pool({ connectRole: 'auto' }) } as never);
    const port = async (k: typeof knex) => ((await k.raw('SELECT @@port AS port'))[0] as { port: number }[])[0]!.port;
    await contract({
      readPort: () => port(knex),
      writePort: async (name) => {
        await knex.raw("INSERT INTO orm_items (name) VALUES (CONCAT(?, '@', @@port))", [name]);
        return knex.transaction(async (trx) => ((await trx.raw(PORT_OF_WRITE, [`${name}@%`]))[0] as { port: number }[])[0]!.port);
      },
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
      type: 'mysql', driver: typeormDriver,
      extra: { primary: c.primary.url, replicas: c.replicas.map((r) => r.url), healthCheckIntervalMillis: 0, connectRole: 'auto' },
    } as never);
    await ds.initialize();
    const port = async (q: { query(s: string): Promise<{ port: number }[]> }) => Number((await q.query('SELECT @@port AS port'))[0]!.port);
    await contract({
      readPort: () => port(ds),
      writePort: async (name) => {
        await ds.query("INSERT INTO orm_items (name) VALUES (CONCAT(?, '@', @@port))", [name]);
        return ds.transaction(async (m) => Number((await m.query(PORT_OF_WRITE, [`${name}@%`]))[0].port));
      },
      transactionPorts: (name) => ds.transaction(async (m) => {
        const a = await port(m);
        await m.query('INSERT INTO orm_items (name) VALUES (?)', [name]);
        return [a, await port(m)];
      }),
      failingTransaction: (name) => ds.transaction(async (m) => {
        await m.query('INSERT INTO orm_items (name) VALUES (?)', [name]);
        throw new Error('boom');
      }),
    });
    await ds.destroy();
  });

  it('Sequelize: dialectModule bound to the pool', async () => {
    const seq = new Sequelize({ dialect: 'mysql', dialectModule: sequelizeDialectModule(pool()), logging: false, keepDefaultTimezone: true } as never);
    const port = async (t?: unknown) => Number(((await seq.query('SELECT @@port AS port', { type: QueryTypes.SELECT, ...(t ? { transaction: t as never } : {}) })) as { port: number }[])[0]!.port);
    await contract({
      readPort: () => port(),
      writePort: async (name) => {
        await seq.query("INSERT INTO orm_items (name) VALUES (CONCAT(:name, '@', @@port))", { replacements: { name } });
        return seq.transaction(async (t) => Number(((await seq.query(PORT_OF_WRITE, { replacements: [`${name}@%`], type: QueryTypes.SELECT, transaction: t })) as { port: number }[])[0]!.port));
      },
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
});
