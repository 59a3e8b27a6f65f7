// p2c-pool/mysql/promise: mirrors mysql2/promise. createPool returns the promise pool directly.

import { Pool, type PoolConfig, type PromisePoolLike } from './pool.js';

export type { PoolConfig, MultiHostConfig, HostConfig, RoutedQueryOptions, GetConnectionOptions, PromisePoolLike } from './pool.js';
export { PoolError, ConfigError, HostUnavailableError, NoHostAvailableError, NoPrimaryError, PoolOverloadedError, PoolEndedError, ForeignTransactionError } from '../../src/errors.js';

/**
 * @example
 * import { createPool } from 'p2c-pool/mysql/promise';
 * const pool = createPool({ primary: 'mysql://app@db1/app', replicas: ['mysql://app@db2/app'] });
 * const [rows] = await pool.query('SELECT 1');
 */
export function createPool(config?: PoolConfig): PromisePoolLike {
  return new Pool(config).promise();
}
export { dnsDiscovery, patroniDiscovery, type DiscoveryProvider, type DiscoveredHost, type DnsDiscoveryOptions, type PatroniDiscoveryOptions } from '../../src/discovery.js';
