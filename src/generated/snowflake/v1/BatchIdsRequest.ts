// Original file: proto/snowflake/v1/id_generator.proto


export interface BatchIdsRequest {
  /**
   * How many IDs to issue: 1 to GetInfoResponse.max_batch_size (default 10,000) inclusive.
   * 0 (the proto3 default) and larger values are rejected with INVALID_ARGUMENT.
   */
  'count'?: (number);
}

export interface BatchIdsRequest__Output {
  /**
   * How many IDs to issue: 1 to GetInfoResponse.max_batch_size (default 10,000) inclusive.
   * 0 (the proto3 default) and larger values are rejected with INVALID_ARGUMENT.
   */
  'count': (number);
}
