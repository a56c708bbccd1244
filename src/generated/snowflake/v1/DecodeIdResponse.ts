// Original file: proto/snowflake/v1/id_generator.proto

import type { Long } from '@grpc/proto-loader';

export interface DecodeIdResponse {
  /**
   * The ID that was decoded, echoed back.
   */
  'id'?: (number | string | Long);
  /**
   * The ID's timestamp in milliseconds since the Unix epoch (1970-01-01T00:00:00Z): the layout's
   * epoch plus the timestamp field times the time unit.
   */
  'timestamp_ms'?: (number | string | Long);
  /**
   * The datacenter ID field.
   */
  'datacenter_id'?: (number);
  /**
   * The worker ID field.
   */
  'worker_id'?: (number);
  /**
   * The sequence field: the ID's position among IDs issued by its worker within one time unit.
   */
  'sequence'?: (number);
  /**
   * timestamp_ms as RFC 3339 in UTC with millisecond precision, e.g. "2024-05-01T12:00:00.000Z".
   */
  'timestamp'?: (string);
}

export interface DecodeIdResponse__Output {
  /**
   * The ID that was decoded, echoed back.
   */
  'id': (string);
  /**
   * The ID's timestamp in milliseconds since the Unix epoch (1970-01-01T00:00:00Z): the layout's
   * epoch plus the timestamp field times the time unit.
   */
  'timestamp_ms': (string);
  /**
   * The datacenter ID field.
   */
  'datacenter_id': (number);
  /**
   * The worker ID field.
   */
  'worker_id': (number);
  /**
   * The sequence field: the ID's position among IDs issued by its worker within one time unit.
   */
  'sequence': (number);
  /**
   * timestamp_ms as RFC 3339 in UTC with millisecond precision, e.g. "2024-05-01T12:00:00.000Z".
   */
  'timestamp': (string);
}
