import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  batchIdsResponseBytes,
  encodeNextIdResponse,
  packedIdsMessage,
  type MethodName,
} from '@snowflake-id/client/contract';
import { BatchSizeError, MalformedRequestError, SnowflakeError } from '../errors';
import { formatRfc3339, type IdCodec, type NodeId } from '../core/codec';
import type { IdSource } from '../engine/issuer';
import type { BatchIdsRequest__Output } from '../generated/snowflake/v1/BatchIdsRequest';
import type { DecodeIdRequest__Output } from '../generated/snowflake/v1/DecodeIdRequest';
import type { DecodeIdResponse } from '../generated/snowflake/v1/DecodeIdResponse';
import type { GetInfoResponse } from '../generated/snowflake/v1/GetInfoResponse';
import type { ResponseSizer } from './connection-interceptor';
import { snowflakeProto } from './proto';
import { toGrpcStatus } from './status';

/** What the IdGenerator handlers need. */
export interface IdGeneratorDeps {
  /** Where IDs come from (the current session's issuer). */
  readonly issuer: IdSource;
  readonly codec: IdCodec;
  /** The node ID stamped into IDs right now (it may change when an etcd lease is lost and re-claimed). */
  readonly node: () => NodeId;
  /** Largest BatchIds count accepted. */
  readonly maxBatchSize: number;
  readonly logger: Logger;
}

/** Response serializer for a handler that answers with the encoded message itself. */
function preEncoded(message: Buffer): Buffer {
  return message;
}

/**
 * Hand-written response encoders replacing proto-loader's for the two ID methods (the contract's packed
 * fixed64 codec): NextId answers a bigint, BatchIds the finished BatchIdsResponse bytes with the IDs
 * written in place.
 */
type ResponseEncoder = grpc.serialize<bigint> | grpc.serialize<Buffer>;
const RESPONSE_ENCODERS: ReadonlyMap<string, ResponseEncoder> = new Map<MethodName, ResponseEncoder>([
  ['NextId', encodeNextIdResponse],
  ['BatchIds', preEncoded],
]);

const MALFORMED = Symbol('malformed request');

/** Stand-in request produced when the bytes do not decode; the handler answers INVALID_ARGUMENT. */
interface Malformed {
  readonly [MALFORMED]: string;
}

/**
 * The `snowflake.v1.IdGenerator` service: its definition (proto-loader's, with two changes: request
 * bytes that fail to decode become INVALID_ARGUMENT instead of grpc-js's INTERNAL, and the NextId and
 * BatchIds responses are encoded by hand), its handlers, and the response size of its one method whose
 * answers can be large (BatchIds, by method path), for the response backlog budget.
 */
export function idGeneratorService(deps: IdGeneratorDeps): {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
  responseSizers: ReadonlyMap<string, ResponseSizer>;
} {
  const { issuer, codec, node, maxBatchSize, logger } = deps;
  const { layout } = codec;

  const fail = <Res>(
    call: grpc.ServerUnaryCall<unknown, Res>,
    callback: grpc.sendUnaryData<Res>,
    err: unknown,
  ): void => {
    if (!(err instanceof SnowflakeError))
      logger.error({ err, method: call.getPath() }, 'unexpected error in handler');
    callback(toGrpcStatus(err));
  };

  // Answers synchronously when the handler does, and without a wrapping promise otherwise: this runs
  // once per call, and NextId's whole budget is a few µs above an empty grpc-js handler.
  const unary =
    <Req, Res>(
      handle: (request: Req, isCancelled: () => boolean) => Res | Promise<Res>,
    ): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      let result: Res | Promise<Res>;
      try {
        const request = call.request as Req | Malformed;
        if (isMalformed(request)) throw new MalformedRequestError(request[MALFORMED]);
        result = handle(request, () => call.cancelled);
      } catch (err) {
        fail(call, callback, err);
        return;
      }
      if (!(result instanceof Promise)) {
        callback(null, result);
        return;
      }
      result.then(
        (response) => {
          callback(null, response);
        },
        (err: unknown) => {
          fail(call, callback, err);
        },
      );
    };

  const implementation: grpc.UntypedServiceImplementation = {
    NextId: unary<unknown, bigint>((_req, isCancelled) => issuer.next(isCancelled)),
    BatchIds: unary<BatchIdsRequest__Output, Buffer>(async (req, isCancelled) => {
      if (req.count < 1 || req.count > maxBatchSize) throw new BatchSizeError(req.count, maxBatchSize);
      const message = packedIdsMessage(req.count);
      await issuer.batchInto(req.count, message.view, message.idsOffset, isCancelled);
      return message.bytes;
    }),
    DecodeId: unary<DecodeIdRequest__Output, DecodeIdResponse>((req) => {
      const decoded = codec.decode(BigInt(req.id));
      return {
        id: req.id,
        timestamp_ms: String(decoded.timestampMs),
        datacenter_id: decoded.datacenterId,
        worker_id: decoded.workerId,
        sequence: decoded.sequence,
        timestamp: formatRfc3339(decoded.timestampMs),
      };
    }),
    GetInfo: unary<unknown, GetInfoResponse>(() => {
      const { datacenterId, workerId } = node();
      return {
        epoch_ms: String(layout.epochMs),
        timestamp_bits: layout.timestampBits,
        datacenter_bits: layout.datacenterBits,
        worker_bits: layout.workerBits,
        sequence_bits: layout.sequenceBits,
        time_unit_ms: layout.timeUnitMs,
        datacenter_id: datacenterId,
        worker_id: workerId,
        max_batch_size: maxBatchSize,
      };
    }),
  };

  const base = snowflakeProto().IdGenerator.service as grpc.ServiceDefinition;
  const definition: grpc.ServiceDefinition = Object.fromEntries(
    Object.entries(base).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: tolerant(method.requestDeserialize),
        responseSerialize: RESPONSE_ENCODERS.get(name) ?? method.responseSerialize,
      },
    ]),
  );
  const batchIdsBytes: ResponseSizer = (request) => {
    if (isMalformed(request)) return undefined;
    const { count } = request as BatchIdsRequest__Output;
    return count >= 1 && count <= maxBatchSize ? batchIdsResponseBytes(count) : undefined;
  };
  const batchIds = definition.BatchIds as grpc.MethodDefinition<unknown, unknown>;
  return { definition, implementation, responseSizers: new Map([[batchIds.path, batchIdsBytes]]) };
}

function tolerant(deserialize: grpc.deserialize<unknown>): grpc.deserialize<unknown> {
  return (bytes) => {
    try {
      return deserialize(bytes);
    } catch (err) {
      return { [MALFORMED]: err instanceof Error ? err.message : String(err) } satisfies Malformed;
    }
  };
}

function isMalformed(request: unknown): request is Malformed {
  return typeof request === 'object' && request !== null && MALFORMED in request;
}
