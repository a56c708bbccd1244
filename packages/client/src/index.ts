/**
 * `@snowflake-id/client`: a typed client of the snowflake ID service (failover, retries, an ID buffer),
 * a health check, and offline helpers for IDs. The shared contract (error codes, layout, limits, wire
 * codec) is the subpath `@snowflake-id/client/contract`.
 */
export { createIdClient, type IdClient, type DecodeResult, type ServerInfo } from './id-client';
export { decode } from './decode';
export { IdClientError, type ClientErrorCode, type AttemptFailure } from './errors';
export type { IdClientOptions, RetryOptions, PrefetchOptions } from './options';
export type { CallOptions, MetadataRecord, MetadataValue } from './call-options';
export type { TlsOptions, PemSource } from './tls';
export type { BalancingPolicy } from './balancer';
export type {
  IdClientHooks,
  AttemptEvent,
  RetryEvent,
  RefillEvent,
  ExpiredEvent,
  WasteEvent,
  WasteReason,
} from './hooks';
export type { PrefetchStats } from './prefetch-pool';
export type { RefillPlan } from './prefetch-policy';
export {
  checkHealth,
  probeHealth,
  type HealthCheckOptions,
  type HealthProbeOptions,
  type HealthProbeResult,
  type ServingStatus,
} from './health-check';
export { formatIdText, parseIdText, UINT64_MAX } from './id-text';
export { BASE32_ID_LENGTH, formatIdBase32, parseIdBase32 } from './id-base32';
export { DEFAULT_LAYOUT, type ErrorInfo, type Layout } from './contract';
