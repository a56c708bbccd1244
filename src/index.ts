/**
 * Public API of the package: start the service in-process, validate configuration, and work with IDs.
 * The client is the `@snowflake-id/client` package; it is re-exported here for existing callers.
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
export {
  createIdClient,
  IdClientError,
  checkHealth,
  parseIdText,
  UINT64_MAX,
  type IdClient,
  type DecodeResult,
  type ServerInfo,
  type ClientErrorCode,
  type AttemptFailure,
  type IdClientOptions,
  type RetryOptions,
  type PrefetchOptions,
  type BalancingPolicy,
  type IdClientHooks,
  type AttemptEvent,
  type RetryEvent,
  type RefillEvent,
  type ExpiredEvent,
  type WasteEvent,
  type WasteReason,
  type PrefetchStats,
  type RefillPlan,
  type HealthCheckOptions,
  type ServingStatus,
} from '@snowflake-id/client';
