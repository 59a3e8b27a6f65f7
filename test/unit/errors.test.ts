import { describe, expect, it } from 'vitest';
import { ConfigError, HostUnavailableError, markError, NoPrimaryError, PoolEndedError, PoolError, redact } from '../../src/errors.js';

describe('error classes and marked driver errors', () => {
  it('a driver error marked by the pool is an instance of the matching class only', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5433'), { code: 'ECONNREFUSED', errno: -111 });
    markError(err, 'P2C_HOST_UNAVAILABLE', 'replica1');
    expect(err).toBeInstanceOf(HostUnavailableError);
    expect(err).toBeInstanceOf(PoolError);
    expect(err).not.toBeInstanceOf(PoolEndedError);
    expect(err).not.toBeInstanceOf(ConfigError);
    expect({ code: err.code, errno: err.errno, keys: Object.keys(err) }).toEqual({ code: 'ECONNREFUSED', errno: -111, keys: ['code', 'errno'] });
    expect(JSON.stringify(err)).not.toContain('P2C');
  });

  it("the library's own errors keep their class identity", () => {
    const config = new ConfigError('x', 'bad');
    expect(config).toBeInstanceOf(ConfigError);
    expect(config).toBeInstanceOf(PoolError);
    expect(config).not.toBeInstanceOf(NoPrimaryError);
    expect(config).not.toBeInstanceOf(HostUnavailableError);
    expect(new Error('plain')).not.toBeInstanceOf(PoolError);
  });

  it("a user's subclass matches its own instances, not every marked error of its parent's code", () => {
    class MyConfigError extends ConfigError {}
    const mine = new MyConfigError('x', 'bad');
    expect(mine).toBeInstanceOf(MyConfigError);
    expect(mine).toBeInstanceOf(ConfigError);
    expect(new ConfigError('y', 'bad')).not.toBeInstanceOf(MyConfigError);
    const marked = new Error('x');
    markError(marked, 'P2C_CONFIG');
    expect(marked).not.toBeInstanceOf(MyConfigError);
  });

  it('a frozen error is left as it is', () => {
    const frozen = Object.freeze(new Error('frozen'));
    expect(markError(frozen, 'P2C_HOST_UNAVAILABLE', 'h')).toBe(false);
    expect(frozen).not.toBeInstanceOf(HostUnavailableError);
  });

  it('redact hides the whole password, also one that contains @ or :', () => {
    expect(redact('postgres://u:p@ss@db1:5432/app')).toBe('postgres://u:***@db1:5432/app');
    expect(redact('mysql://root:a:b@c@h/db failed')).toBe('mysql://root:***@h/db failed');
    expect(redact('password=hunter2 host=x')).toBe('password=*** host=x');
  });
});
