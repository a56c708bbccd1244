// Original file: proto/snowflake/v1/id_generator.proto

import type { Long } from '@grpc/proto-loader';

export interface NextIdResponse {
  /**
   * The new ID; greater than every ID this server issued before it.
   */
  'id'?: (number | string | Long);
}

export interface NextIdResponse__Output {
  /**
   * The new ID; greater than every ID this server issued before it.
   */
  'id': (string);
}
