// Original file: proto/snowflake/v1/id_generator.proto

import type { Long } from '@grpc/proto-loader';

export interface GetInfoResponse {
  /**
   * The layout's epoch in milliseconds since the Unix epoch (default 1577836800000 = 2020-01-01T00:00:00Z).
   */
  'epoch_ms'?: (number | string | Long);
  /**
   * Width of the timestamp field in bits (default 41).
   */
  'timestamp_bits'?: (number);
  /**
   * Width of the datacenter ID field in bits (default 5).
   */
  'datacenter_bits'?: (number);
  /**
   * Width of the worker ID field in bits (default 5).
   */
  'worker_bits'?: (number);
  /**
   * Width of the sequence field in bits (default 12: 4,096 IDs per time unit).
   */
  'sequence_bits'?: (number);
  /**
   * Length of one timestamp unit in milliseconds (default 1).
   */
  'time_unit_ms'?: (number);
  /**
   * The datacenter ID this server stamps into its IDs.
   */
  'datacenter_id'?: (number);
  /**
   * The worker ID this server stamps into its IDs. 0 while a server with SNOWFLAKE_WORKER_ID_SOURCE=etcd
   * has not claimed one yet (it is then NOT_SERVING and refuses IDs with STARTING).
   */
  'worker_id'?: (number);
  /**
   * The largest `count` BatchIds accepts (default 10,000; at most 100,000).
   */
  'max_batch_size'?: (number);
}

export interface GetInfoResponse__Output {
  /**
   * The layout's epoch in milliseconds since the Unix epoch (default 1577836800000 = 2020-01-01T00:00:00Z).
   */
  'epoch_ms': (string);
  /**
   * Width of the timestamp field in bits (default 41).
   */
  'timestamp_bits': (number);
  /**
   * Width of the datacenter ID field in bits (default 5).
   */
  'datacenter_bits': (number);
  /**
   * Width of the worker ID field in bits (default 5).
   */
  'worker_bits': (number);
  /**
   * Width of the sequence field in bits (default 12: 4,096 IDs per time unit).
   */
  'sequence_bits': (number);
  /**
   * Length of one timestamp unit in milliseconds (default 1).
   */
  'time_unit_ms': (number);
  /**
   * The datacenter ID this server stamps into its IDs.
   */
  'datacenter_id': (number);
  /**
   * The worker ID this server stamps into its IDs. 0 while a server with SNOWFLAKE_WORKER_ID_SOURCE=etcd
   * has not claimed one yet (it is then NOT_SERVING and refuses IDs with STARTING).
   */
  'worker_id': (number);
  /**
   * The largest `count` BatchIds accepts (default 10,000; at most 100,000).
   */
  'max_batch_size': (number);
}
