// Original file: proto/snowflake/v1/id_generator.proto

import type { Long } from '@grpc/proto-loader';

export interface DecodeIdRequest {
  /**
   * The ID to decode. The most significant bit must be 0, else INVALID_ARGUMENT.
   */
  'id'?: (number | string | Long);
}

export interface DecodeIdRequest__Output {
  /**
   * The ID to decode. The most significant bit must be 0, else INVALID_ARGUMENT.
   */
  'id': (string);
}
