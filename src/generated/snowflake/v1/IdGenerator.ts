// Original file: proto/snowflake/v1/id_generator.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { BatchIdsRequest as _snowflake_v1_BatchIdsRequest, BatchIdsRequest__Output as _snowflake_v1_BatchIdsRequest__Output } from '../../snowflake/v1/BatchIdsRequest';
import type { BatchIdsResponse as _snowflake_v1_BatchIdsResponse, BatchIdsResponse__Output as _snowflake_v1_BatchIdsResponse__Output } from '../../snowflake/v1/BatchIdsResponse';
import type { DecodeIdRequest as _snowflake_v1_DecodeIdRequest, DecodeIdRequest__Output as _snowflake_v1_DecodeIdRequest__Output } from '../../snowflake/v1/DecodeIdRequest';
import type { DecodeIdResponse as _snowflake_v1_DecodeIdResponse, DecodeIdResponse__Output as _snowflake_v1_DecodeIdResponse__Output } from '../../snowflake/v1/DecodeIdResponse';
import type { GetInfoRequest as _snowflake_v1_GetInfoRequest, GetInfoRequest__Output as _snowflake_v1_GetInfoRequest__Output } from '../../snowflake/v1/GetInfoRequest';
import type { GetInfoResponse as _snowflake_v1_GetInfoResponse, GetInfoResponse__Output as _snowflake_v1_GetInfoResponse__Output } from '../../snowflake/v1/GetInfoResponse';
import type { NextIdRequest as _snowflake_v1_NextIdRequest, NextIdRequest__Output as _snowflake_v1_NextIdRequest__Output } from '../../snowflake/v1/NextIdRequest';
import type { NextIdResponse as _snowflake_v1_NextIdResponse, NextIdResponse__Output as _snowflake_v1_NextIdResponse__Output } from '../../snowflake/v1/NextIdResponse';

/**
 * Issues and explains snowflake IDs.
 * 
 * Errors: INVALID_ARGUMENT for a request that breaks a documented limit (the message says which and
 * what is allowed); UNAVAILABLE when the server cannot currently guarantee uniqueness (clock behind
 * its last timestamp, time range exhausted, shutting down) — retry on another server or later.
 */
export interface IdGeneratorClient extends grpc.Client {
  /**
   * Returns `count` new IDs in ascending order; they may span several milliseconds.
   */
  BatchIds(argument: _snowflake_v1_BatchIdsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_BatchIdsResponse__Output>): grpc.ClientUnaryCall;
  BatchIds(argument: _snowflake_v1_BatchIdsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_snowflake_v1_BatchIdsResponse__Output>): grpc.ClientUnaryCall;
  BatchIds(argument: _snowflake_v1_BatchIdsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_BatchIdsResponse__Output>): grpc.ClientUnaryCall;
  BatchIds(argument: _snowflake_v1_BatchIdsRequest, callback: grpc.requestCallback<_snowflake_v1_BatchIdsResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Returns `count` new IDs in ascending order; they may span several milliseconds.
   */
  batchIds(argument: _snowflake_v1_BatchIdsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_BatchIdsResponse__Output>): grpc.ClientUnaryCall;
  batchIds(argument: _snowflake_v1_BatchIdsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_snowflake_v1_BatchIdsResponse__Output>): grpc.ClientUnaryCall;
  batchIds(argument: _snowflake_v1_BatchIdsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_BatchIdsResponse__Output>): grpc.ClientUnaryCall;
  batchIds(argument: _snowflake_v1_BatchIdsRequest, callback: grpc.requestCallback<_snowflake_v1_BatchIdsResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Splits an ID into its fields using this server's layout. Pure: issues nothing.
   */
  DecodeId(argument: _snowflake_v1_DecodeIdRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_DecodeIdResponse__Output>): grpc.ClientUnaryCall;
  DecodeId(argument: _snowflake_v1_DecodeIdRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_snowflake_v1_DecodeIdResponse__Output>): grpc.ClientUnaryCall;
  DecodeId(argument: _snowflake_v1_DecodeIdRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_DecodeIdResponse__Output>): grpc.ClientUnaryCall;
  DecodeId(argument: _snowflake_v1_DecodeIdRequest, callback: grpc.requestCallback<_snowflake_v1_DecodeIdResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Splits an ID into its fields using this server's layout. Pure: issues nothing.
   */
  decodeId(argument: _snowflake_v1_DecodeIdRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_DecodeIdResponse__Output>): grpc.ClientUnaryCall;
  decodeId(argument: _snowflake_v1_DecodeIdRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_snowflake_v1_DecodeIdResponse__Output>): grpc.ClientUnaryCall;
  decodeId(argument: _snowflake_v1_DecodeIdRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_DecodeIdResponse__Output>): grpc.ClientUnaryCall;
  decodeId(argument: _snowflake_v1_DecodeIdRequest, callback: grpc.requestCallback<_snowflake_v1_DecodeIdResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Describes this server's layout, node IDs and limits.
   */
  GetInfo(argument: _snowflake_v1_GetInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_GetInfoResponse__Output>): grpc.ClientUnaryCall;
  GetInfo(argument: _snowflake_v1_GetInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_snowflake_v1_GetInfoResponse__Output>): grpc.ClientUnaryCall;
  GetInfo(argument: _snowflake_v1_GetInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_GetInfoResponse__Output>): grpc.ClientUnaryCall;
  GetInfo(argument: _snowflake_v1_GetInfoRequest, callback: grpc.requestCallback<_snowflake_v1_GetInfoResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Describes this server's layout, node IDs and limits.
   */
  getInfo(argument: _snowflake_v1_GetInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_GetInfoResponse__Output>): grpc.ClientUnaryCall;
  getInfo(argument: _snowflake_v1_GetInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_snowflake_v1_GetInfoResponse__Output>): grpc.ClientUnaryCall;
  getInfo(argument: _snowflake_v1_GetInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_GetInfoResponse__Output>): grpc.ClientUnaryCall;
  getInfo(argument: _snowflake_v1_GetInfoRequest, callback: grpc.requestCallback<_snowflake_v1_GetInfoResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Returns one new ID.
   */
  NextId(argument: _snowflake_v1_NextIdRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_NextIdResponse__Output>): grpc.ClientUnaryCall;
  NextId(argument: _snowflake_v1_NextIdRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_snowflake_v1_NextIdResponse__Output>): grpc.ClientUnaryCall;
  NextId(argument: _snowflake_v1_NextIdRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_NextIdResponse__Output>): grpc.ClientUnaryCall;
  NextId(argument: _snowflake_v1_NextIdRequest, callback: grpc.requestCallback<_snowflake_v1_NextIdResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Returns one new ID.
   */
  nextId(argument: _snowflake_v1_NextIdRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_NextIdResponse__Output>): grpc.ClientUnaryCall;
  nextId(argument: _snowflake_v1_NextIdRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_snowflake_v1_NextIdResponse__Output>): grpc.ClientUnaryCall;
  nextId(argument: _snowflake_v1_NextIdRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_snowflake_v1_NextIdResponse__Output>): grpc.ClientUnaryCall;
  nextId(argument: _snowflake_v1_NextIdRequest, callback: grpc.requestCallback<_snowflake_v1_NextIdResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Issues and explains snowflake IDs.
 * 
 * Errors: INVALID_ARGUMENT for a request that breaks a documented limit (the message says which and
 * what is allowed); UNAVAILABLE when the server cannot currently guarantee uniqueness (clock behind
 * its last timestamp, time range exhausted, shutting down) — retry on another server or later.
 */
export interface IdGeneratorHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Returns `count` new IDs in ascending order; they may span several milliseconds.
   */
  BatchIds: grpc.handleUnaryCall<_snowflake_v1_BatchIdsRequest__Output, _snowflake_v1_BatchIdsResponse>;
  
  /**
   * Splits an ID into its fields using this server's layout. Pure: issues nothing.
   */
  DecodeId: grpc.handleUnaryCall<_snowflake_v1_DecodeIdRequest__Output, _snowflake_v1_DecodeIdResponse>;
  
  /**
   * Describes this server's layout, node IDs and limits.
   */
  GetInfo: grpc.handleUnaryCall<_snowflake_v1_GetInfoRequest__Output, _snowflake_v1_GetInfoResponse>;
  
  /**
   * Returns one new ID.
   */
  NextId: grpc.handleUnaryCall<_snowflake_v1_NextIdRequest__Output, _snowflake_v1_NextIdResponse>;
  
}

export interface IdGeneratorDefinition extends grpc.ServiceDefinition {
  BatchIds: MethodDefinition<_snowflake_v1_BatchIdsRequest, _snowflake_v1_BatchIdsResponse, _snowflake_v1_BatchIdsRequest__Output, _snowflake_v1_BatchIdsResponse__Output>
  DecodeId: MethodDefinition<_snowflake_v1_DecodeIdRequest, _snowflake_v1_DecodeIdResponse, _snowflake_v1_DecodeIdRequest__Output, _snowflake_v1_DecodeIdResponse__Output>
  GetInfo: MethodDefinition<_snowflake_v1_GetInfoRequest, _snowflake_v1_GetInfoResponse, _snowflake_v1_GetInfoRequest__Output, _snowflake_v1_GetInfoResponse__Output>
  NextId: MethodDefinition<_snowflake_v1_NextIdRequest, _snowflake_v1_NextIdResponse, _snowflake_v1_NextIdRequest__Output, _snowflake_v1_NextIdResponse__Output>
}
