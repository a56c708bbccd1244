/**
 * Public API of the package: start the service in-process, validate configuration, and work with IDs.
 */
export { startServer, type RunningServer, type ServerOptions } from './server';
export {
  loadConfig,
  helpText,
  VARIABLE_DOCS,
  type Config,
  type LoadedConfig,
  type VariableDoc,
} from './config';
export { IdCodec, MAX_ID, formatRfc3339, type DecodedId, type IdFields, type NodeId } from './core/codec';
export { DEFAULT_LAYOUT, checkLayout, layoutEndMs, type Layout } from './core/layout';
export { SnowflakeError, type ErrorCode } from './errors';
export { createIdClient, type IdClient, type DecodeResult, type ServerInfo } from './client/id-client';
export { IdClientError, type ClientErrorCode, type AttemptFailure } from './client/errors';
export type { IdClientOptions, RetryOptions, PrefetchOptions } from './client/options';
export type { BalancingPolicy } from './client/balancer';
export type {
  IdClientHooks,
  AttemptEvent,
  RetryEvent,
  RefillEvent,
  ExpiredEvent,
  WasteEvent,
  WasteReason,
} from './client/hooks';
export type { PrefetchStats } from './client/prefetch-pool';
export type { RefillPlan } from './client/prefetch-policy';
export { checkHealth, type HealthCheckOptions, type ServingStatus } from './client/health-check';
export { parseIdText, UINT64_MAX } from './client/id-text';
