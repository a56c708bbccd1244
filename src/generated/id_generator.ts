import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { BatchIdsRequest as _snowflake_v1_BatchIdsRequest, BatchIdsRequest__Output as _snowflake_v1_BatchIdsRequest__Output } from './snowflake/v1/BatchIdsRequest';
import type { BatchIdsResponse as _snowflake_v1_BatchIdsResponse, BatchIdsResponse__Output as _snowflake_v1_BatchIdsResponse__Output } from './snowflake/v1/BatchIdsResponse';
import type { DecodeIdRequest as _snowflake_v1_DecodeIdRequest, DecodeIdRequest__Output as _snowflake_v1_DecodeIdRequest__Output } from './snowflake/v1/DecodeIdRequest';
import type { DecodeIdResponse as _snowflake_v1_DecodeIdResponse, DecodeIdResponse__Output as _snowflake_v1_DecodeIdResponse__Output } from './snowflake/v1/DecodeIdResponse';
import type { GetInfoRequest as _snowflake_v1_GetInfoRequest, GetInfoRequest__Output as _snowflake_v1_GetInfoRequest__Output } from './snowflake/v1/GetInfoRequest';
import type { GetInfoResponse as _snowflake_v1_GetInfoResponse, GetInfoResponse__Output as _snowflake_v1_GetInfoResponse__Output } from './snowflake/v1/GetInfoResponse';
import type { IdGeneratorClient as _snowflake_v1_IdGeneratorClient, IdGeneratorDefinition as _snowflake_v1_IdGeneratorDefinition } from './snowflake/v1/IdGenerator';
import type { NextIdRequest as _snowflake_v1_NextIdRequest, NextIdRequest__Output as _snowflake_v1_NextIdRequest__Output } from './snowflake/v1/NextIdRequest';
import type { NextIdResponse as _snowflake_v1_NextIdResponse, NextIdResponse__Output as _snowflake_v1_NextIdResponse__Output } from './snowflake/v1/NextIdResponse';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  snowflake: {
    v1: {
      BatchIdsRequest: MessageTypeDefinition<_snowflake_v1_BatchIdsRequest, _snowflake_v1_BatchIdsRequest__Output>
      BatchIdsResponse: MessageTypeDefinition<_snowflake_v1_BatchIdsResponse, _snowflake_v1_BatchIdsResponse__Output>
      DecodeIdRequest: MessageTypeDefinition<_snowflake_v1_DecodeIdRequest, _snowflake_v1_DecodeIdRequest__Output>
      DecodeIdResponse: MessageTypeDefinition<_snowflake_v1_DecodeIdResponse, _snowflake_v1_DecodeIdResponse__Output>
      GetInfoRequest: MessageTypeDefinition<_snowflake_v1_GetInfoRequest, _snowflake_v1_GetInfoRequest__Output>
      GetInfoResponse: MessageTypeDefinition<_snowflake_v1_GetInfoResponse, _snowflake_v1_GetInfoResponse__Output>
      /**
       * Issues and explains snowflake IDs.
       * 
       * Errors: INVALID_ARGUMENT for a request that breaks a documented limit (the message says which and
       * what is allowed); UNAVAILABLE when the server cannot currently guarantee uniqueness (clock behind
       * its last timestamp, time range exhausted, shutting down) — retry on another server or later.
       */
      IdGenerator: SubtypeConstructor<typeof grpc.Client, _snowflake_v1_IdGeneratorClient> & { service: _snowflake_v1_IdGeneratorDefinition }
      NextIdRequest: MessageTypeDefinition<_snowflake_v1_NextIdRequest, _snowflake_v1_NextIdRequest__Output>
      NextIdResponse: MessageTypeDefinition<_snowflake_v1_NextIdResponse, _snowflake_v1_NextIdResponse__Output>
    }
  }
}

