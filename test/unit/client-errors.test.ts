import * as grpc from '@grpc/grpc-js';
import { attemptFailure } from '../../packages/client/src/errors';
import {
  encodeRichStatus,
  ERROR_CODE_METADATA_KEY,
  STATUS_DETAILS_METADATA_KEY,
  type ErrorInfo,
} from '@snowflake-id/client/contract';

const BATCH_INFO: ErrorInfo = {
  reason: 'BATCH_SIZE_OUT_OF_RANGE',
  domain: 'snowflake.v1',
  metadata: { count: '0', min: '1', max: '500' },
};

interface Trailers {
  /** snowflake-error-code */
  readonly legacy?: string;
  /** grpc-status-details-bin: an ErrorInfo to encode, or raw bytes */
  readonly rich?: ErrorInfo | Buffer;
}

function serviceError({ legacy, rich }: Trailers): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (legacy !== undefined) metadata.set(ERROR_CODE_METADATA_KEY, legacy);
  if (rich !== undefined) {
    metadata.set(
      STATUS_DETAILS_METADATA_KEY,
      Buffer.isBuffer(rich)
        ? rich
        : Buffer.from(
            encodeRichStatus({
              code: grpc.status.INVALID_ARGUMENT,
              message: 'count out of range',
              errorInfo: rich,
            }),
          ),
    );
  }
  return Object.assign(new Error('3 INVALID_ARGUMENT: count out of range'), {
    code: grpc.status.INVALID_ARGUMENT,
    details: 'count out of range',
    metadata,
  });
}

describe('attemptFailure reads the server code from ErrorInfo, else from snowflake-error-code', () => {
  it.each<[string, string | undefined, Trailers, ErrorInfo | undefined]>([
    [
      'only an ErrorInfo (no snowflake-error-code trailer)',
      'BATCH_SIZE_OUT_OF_RANGE',
      { rich: BATCH_INFO },
      BATCH_INFO,
    ],
    [
      'only the snowflake-error-code trailer (an older server)',
      'INVALID_ID',
      { legacy: 'INVALID_ID' },
      undefined,
    ],
    [
      'both, disagreeing (ErrorInfo wins)',
      'BATCH_SIZE_OUT_OF_RANGE',
      { legacy: 'INVALID_ID', rich: BATCH_INFO },
      BATCH_INFO,
    ],
    [
      'an ErrorInfo of another domain (e.g. a proxy: not ours)',
      'INVALID_ID',
      { legacy: 'INVALID_ID', rich: { reason: 'RATE_LIMITED', domain: 'proxy.example', metadata: {} } },
      undefined,
    ],
    [
      'details that do not decode',
      'INVALID_ID',
      { legacy: 'INVALID_ID', rich: Buffer.from([0xff, 0xff, 0xff]) },
      undefined,
    ],
    ['neither', undefined, {}, undefined],
  ])('GIVEN %s THEN serverCode is %s', (_name, serverCode, trailers, errorInfo) => {
    const failure = attemptFailure('a:1', serviceError(trailers));
    expect(failure.serverCode).toBe(serverCode);
    expect(failure.errorInfo).toEqual(errorInfo);
    expect(failure.grpcCode).toBe(grpc.status.INVALID_ARGUMENT);
  });
});
