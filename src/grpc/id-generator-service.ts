import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { BatchSizeError, MalformedRequestError, SnowflakeError, toGrpcStatus } from '../errors';
import { formatRfc3339, type IdCodec, type NodeId } from '../core/codec';
import type { IdIssuer } from '../issuer';
import type { BatchIdsRequest__Output } from '../generated/snowflake/v1/BatchIdsRequest';
import type { DecodeIdRequest__Output } from '../generated/snowflake/v1/DecodeIdRequest';
import type { DecodeIdResponse } from '../generated/snowflake/v1/DecodeIdResponse';
import type { GetInfoResponse } from '../generated/snowflake/v1/GetInfoResponse';
import type { NextIdResponse } from '../generated/snowflake/v1/NextIdResponse';
import { encodeBatchIdsResponse } from './packed-ids';
import { snowflakeProto } from './proto';

/** What the IdGenerator handlers need. */
export interface IdGeneratorDeps {
  readonly issuer: IdIssuer;
  readonly codec: IdCodec;
  readonly node: NodeId;
  /** Largest BatchIds count accepted. */
  readonly maxBatchSize: number;
  readonly logger: Logger;
}

/** Trailing-metadata key carrying the stable error code (e.g. BATCH_SIZE_OUT_OF_RANGE) on every error. */
export const ERROR_CODE_METADATA_KEY = 'snowflake-error-code';

const MALFORMED = Symbol('malformed request');

/** Stand-in request produced when the bytes do not decode; the handler answers INVALID_ARGUMENT. */
interface Malformed {
  readonly [MALFORMED]: string;
}

/**
 * The `snowflake.v1.IdGenerator` service: its definition (proto-loader's, with two changes: request
 * bytes that fail to decode become INVALID_ARGUMENT instead of grpc-js's INTERNAL, and BatchIdsResponse
 * is encoded straight from bigints) and its handlers.
 */
export function idGeneratorService(deps: IdGeneratorDeps): {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
} {
  const { issuer, codec, node, maxBatchSize, logger } = deps;
  const { layout } = codec;

  const unary =
    <Req, Res>(
      handle: (request: Req, isCancelled: () => boolean) => Res | Promise<Res>,
    ): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      const request = call.request as Req | Malformed;
      const isCancelled = () => call.cancelled;
      new Promise<Res>((resolve) => {
        if (isMalformed(request)) throw new MalformedRequestError(request[MALFORMED]);
        resolve(handle(request, isCancelled));
      }).then(
        (response) => {
          callback(null, response);
        },
        (err: unknown) => {
          if (!(err instanceof SnowflakeError))
            logger.error({ err, method: call.getPath() }, 'unexpected error in handler');
          const { code, details } = toGrpcStatus(err);
          const metadata = new grpc.Metadata();
          if (err instanceof SnowflakeError) metadata.set(ERROR_CODE_METADATA_KEY, err.code);
          callback({ code, details, metadata });
        },
      );
    };

  const implementation: grpc.UntypedServiceImplementation = {
    NextId: unary<unknown, NextIdResponse>(async (_req, isCancelled) => ({
      id: (await issuer.next(isCancelled)).toString(),
    })),
    BatchIds: unary<BatchIdsRequest__Output, readonly bigint[]>((req, isCancelled) => {
      if (req.count < 1 || req.count > maxBatchSize) throw new BatchSizeError(req.count, maxBatchSize);
      return issuer.batch(req.count, isCancelled);
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
    GetInfo: unary<unknown, GetInfoResponse>(() => ({
      epoch_ms: String(layout.epochMs),
      timestamp_bits: layout.timestampBits,
      datacenter_bits: layout.datacenterBits,
      worker_bits: layout.workerBits,
      sequence_bits: layout.sequenceBits,
      time_unit_ms: layout.timeUnitMs,
      datacenter_id: node.datacenterId,
      worker_id: node.workerId,
      max_batch_size: maxBatchSize,
    })),
  };

  const base = snowflakeProto().IdGenerator.service as grpc.ServiceDefinition;
  const definition: grpc.ServiceDefinition = Object.fromEntries(
    Object.entries(base).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: tolerant(method.requestDeserialize),
        ...(name === 'BatchIds' ? { responseSerialize: encodeBatchIdsResponse } : {}),
      },
    ]),
  );
  return { definition, implementation };
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
