// p2c-pool/mysql: a drop-in mysql2 pool over a MySQL/MariaDB primary and its replicas.
// Import { createPool } from here instead of from 'mysql2'.

export { Pool, createPool } from './pool.js';
export type { PoolConfig, PoolEvents, MultiHostConfig, HostConfig, RoutedQueryOptions, GetConnectionOptions, PromisePoolLike } from './pool.js';
export { isHostError, isReadOnlyError } from './options.js';
export { RoutingConnection } from './routing-connection.js';
export { typeormDriver, sequelizeDialectModule } from './orm.js';
export { PoolError, ConfigError, HostUnavailableError, NoHostAvailableError, NoPrimaryError, PoolOverloadedError, PoolEndedError, ForeignTransactionError } from '../../src/errors.js';
export type { PoolErrorCode } from '../../src/errors.js';
export type { PoolStats } from '../../src/pool.js';
export type { HostStats, HostInfo, HostRole, HostState, HostError } from '../../src/host.js';
export type { HostEvents } from '../../src/events.js';
export type { RoleMismatch } from '../../src/pool.js';
export { dnsDiscovery, patroniDiscovery, type DiscoveryProvider, type DiscoveredHost, type DnsDiscoveryOptions, type PatroniDiscoveryOptions } from '../../src/discovery.js';
export type { TargetSessionAttrs } from '../../src/config.js';
