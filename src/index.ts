// Public entry of the driver-independent core: errors, routing, picker and metrics, for tools and tests.
// Applications import a driver face instead: `p2c-pool/pg`.

export { PoolError, ConfigError, HostUnavailableError, NoHostAvailableError, NoPrimaryError, PoolOverloadedError, PoolEndedError, ForeignTransactionError } from './errors.js';
export type { PoolErrorCode, HostStateSnapshot } from './errors.js';
export { classify, type StatementKind, type RoleRequest, type SqlDialect } from './routing.js';
export { createPicker, hostCost, PICKER_NAMES, type Picker, type PickerName, type Candidate, type Random } from './picker.js';
export { HostMetrics, type Outcome, type MetricsOptions } from './metrics.js';
export type { HostRole, HostState, HostStats, HostInfo, HostError } from './host.js';
export type { PoolStats } from './pool.js';
export type { CoreOptions, HostExtras } from './config.js';
export { dnsDiscovery, patroniDiscovery, type DiscoveryProvider, type DiscoveredHost, type DnsDiscoveryOptions, type PatroniDiscoveryOptions } from './discovery.js';
export type { TargetSessionAttrs } from './config.js';
