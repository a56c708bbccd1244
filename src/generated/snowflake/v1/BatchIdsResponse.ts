// Original file: proto/snowflake/v1/id_generator.proto

import type { Long } from '@grpc/proto-loader';

export interface BatchIdsResponse {
  /**
   * Exactly `count` new IDs, strictly ascending, packed.
   */
  'ids'?: (number | string | Long)[];
}

export interface BatchIdsResponse__Output {
  /**
   * Exactly `count` new IDs, strictly ascending, packed.
   */
  'ids': (string)[];
}
