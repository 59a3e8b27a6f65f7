// p2c-pool/pg: a drop-in pg.Pool over a PostgreSQL primary and its read replicas.
// Import { Pool } from here instead of from 'pg'.

export { Pool } from './pool.js';
export type { PoolOptions, PoolConfig, PoolEvents, MultiHostConfig, HostConfig, RoutedQueryConfig, ConnectOptions, FaceOptions } from './pool.js';
export { RoutingClient } from './routing-client.js';
export { isHostError } from './options.js';
export { PoolError, ConfigError, HostUnavailableError, NoHostAvailableError, NoPrimaryError, PoolOverloadedError, PoolEndedError, ForeignTransactionError } from '../../src/errors.js';
export type { PoolErrorCode } from '../../src/errors.js';
export type { PoolStats } from '../../src/pool.js';
export type { HostStats, HostInfo, HostRole, HostState, HostError } from '../../src/host.js';
export type { HostEvents } from '../../src/events.js';
export type { RoleMismatch } from '../../src/pool.js';
export type { PickerName } from '../../src/picker.js';
export type { RoleRequest } from '../../src/routing.js';
export { dnsDiscovery, patroniDiscovery, type DiscoveryProvider, type DiscoveredHost, type DnsDiscoveryOptions, type PatroniDiscoveryOptions } from '../../src/discovery.js';
export type { TargetSessionAttrs } from '../../src/config.js';
