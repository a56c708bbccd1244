/**
 * The responses the client reads, as proto-loader decodes them with the contract's
 * `PROTO_LOADER_OPTIONS` (snake_case names, 64-bit integers as decimal strings, defaults filled in).
 * BatchIds is not here: its bytes go straight to bigints (`decodeBatchIdsResponse`).
 */

/** `snowflake.v1.NextIdResponse`. */
export interface NextIdResponse {
  readonly id: string;
}

/** `snowflake.v1.DecodeIdResponse`. */
export interface DecodeIdResponse {
  readonly id: string;
  readonly timestamp_ms: string;
  readonly datacenter_id: number;
  readonly worker_id: number;
  readonly sequence: number;
  readonly timestamp: string;
}

/** `snowflake.v1.GetInfoResponse`. */
export interface GetInfoResponse {
  readonly epoch_ms: string;
  readonly timestamp_bits: number;
  readonly datacenter_bits: number;
  readonly worker_bits: number;
  readonly sequence_bits: number;
  readonly time_unit_ms: number;
  readonly datacenter_id: number;
  readonly worker_id: number;
  readonly max_batch_size: number;
}

/** `grpc.health.v1.HealthCheckResponse.ServingStatus`. */
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
