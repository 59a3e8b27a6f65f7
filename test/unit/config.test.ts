import { describe, expect, it } from 'vitest';
import { Pool } from '../../adapters/pg/index.js';
import { ConfigError } from '../../src/errors.js';
import { pgDriverSpec } from '../../adapters/pg/options.js';

function configError(config: unknown): ConfigError {
  try {
    const pool = new Pool(config as never);
    void pool.end();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('multi-host config validation', () => {
  it.each([
    [{ primary: 'postgres://a@h/db', replcas: [] }, 'replcas'],
    [{ primary: 'postgres://a@h/db', replicas: 'postgres://a@h2/db' }, 'replicas'],
    [{ primary: 'postgres://a@h/db', replicas: [{ host: 'h2', weigth: 2 }] }, 'replicas[0].weigth'],
    [{ primary: 'postgres://a@h/db', replicas: [{ host: 'h2', weight: 0 }] }, 'replicas[0].weight'],
    [{ primary: 'postgres://a@h/db', replicas: [{ host: 'h2', weight: Number.NaN }] }, 'replicas[0].weight'],
    [{ primary: 'postgres://a@h/db', picker: 'p3c' }, 'picker'],
    [{ primary: 'postgres://a@h/db', max: 0 }, 'max'],
    [{ primary: 'postgres://a@h/db', max: 2.5 }, 'max'],
    [{ primary: 'postgres://a@h/db', fallbackToPrimary: 'yes' }, 'fallbackToPrimary'],
    [{ primary: 42 }, 'primary'],
    [{ replicas: ['postgres://a@h/db'] }, 'primary'],
    [{ primary: { host: 'h', port: 99999 } }, 'primary.port'],
    [{ primary: { host: 'h', connectionTimeoutMillis: -1 } }, 'primary.connectionTimeoutMillis'],
    [{ primary: { host: 'h', name: 'a' }, replicas: [{ host: 'h2', name: 'a' }] }, 'replicas[0].name'],
    [{ primary: 'postgres://a@h/db', connectRole: 'writer' }, 'connectRole'],
    [{ host: 'h', connectRole: 'anywhere' }, 'connectRole'],
    // A starved host is explored every eighth of it: below 100 ms a slow host would get a read every few ms.
    [{ primary: 'postgres://a@h/db', latencyStaleMillis: 99 }, 'latencyStaleMillis'],
    [{ primary: 'postgres://a@h/db', latencyStaleMillis: 0.001 }, 'latencyStaleMillis'],
  ])('%j -> %s', (config, key) => {
    const err = configError(config);
    expect(err.code).toBe('P2C_CONFIG');
    expect(err.key).toBe(key);
  });

  it('suggests the closest known key', () => {
    expect(configError({ primary: 'postgres://a@h/db', replcas: [] }).message).toContain('"replicas"');
  });

  it('never puts a password in a message', () => {
    const secret = 'hunter2-s3cret';
    const cases = [
      { primary: `postgres://app:${secret}@db1/app`, replicas: [`postgres://app:${secret}@db2/app`], bogus: 1 },
      { primary: { host: 'h', password: secret, port: -3 } },
      { primary: { host: 'h', password: secret }, replicas: [{ host: 'h2', password: secret, weight: -1 }] },
      { primary: `postgres://app:${secret}@db1/app`, picker: secret },
    ];
    for (const c of cases) {
      const err = configError(c);
      expect(err.message).not.toContain(secret);
      expect(String(err.stack)).not.toContain(secret);
    }
  });

  it('names hosts host:port by default, without credentials, and applies shared options per host', async () => {
    const pool = new Pool({ primary: 'postgres://app:pw@db1:5433/app', replicas: [{ host: 'db2', weight: 2 }, { connectionString: 'postgres://app:pw@db3/app', name: 'east' }], max: 7 });
    const hosts = pool.stats().hosts;
    expect(hosts.map((h) => [h.name, h.role, h.weight])).toEqual([['db1:5433', 'primary', 1], ['db2:5432', 'replica', 2], ['east', 'replica', 1]]);
    await pool.end();
  });

  it('the plain single-host form accepts what pg.Pool accepts', async () => {
    const pool = new Pool({ host: 'db', max: 3, idleTimeoutMillis: 0, someFutureOption: true } as never);
    expect(pool.options.max).toBe(3);
    expect(pool.stats().hosts).toHaveLength(1);
    await pool.end();
  });
});

describe('pg host names and telemetry endpoints come from pg\'s own connection-string parser', () => {
  it.each([
    ['postgres://u:secret@db1:5433/app', 'db1:5433', 'app'],
    ['postgres://u@/app?host=/var/run/postgresql', '/var/run/postgresql:5432', 'app'],
    ['postgres://u@db1/app?port=6543', 'db1:6543', 'app'],
    ['socket:/var/run/postgresql?db=app&user=u', '/var/run/postgresql:5432', 'app'],
    ['postgresql://u@[::1]:5434/app', '[::1]:5434', 'app'],
  ])('%s -> %s, database %s', (url, name, database) => {
    const options = pgDriverSpec.fromUrl(url);
    expect(pgDriverSpec.describe(options)).toBe(name);
    const endpoint = pgDriverSpec.endpoint(options);
    expect(`${endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address}:${endpoint.port}`).toBe(name);
    expect(endpoint.database).toBe(database);
  });

  it('a libpq keyword string is a ConfigError that does not repeat it (pg would read it as host "base")', () => {
    const err = configError({ primary: 'host=db3 port=7000 user=u password=secret dbname=app', replicas: [] });
    expect(err.key).toBe('primary');
    expect(err.message).toMatch(/not a postgres:\/\/ URL/);
    expect(err.message).not.toContain('secret');
    expect(() => configError({ connectionString: 'host=db3 password=secret' })).not.toThrow();
  });

  it('the connection string wins over discrete options, as in pg', () => {
    expect(pgDriverSpec.describe({ connectionString: 'postgres://db1:5433/app', host: 'other', port: 1 })).toBe('db1:5433');
    expect(pgDriverSpec.describe({ host: 'db3', port: 5999 })).toBe('db3:5999');
  });
});
