import { status } from '@grpc/grpc-js';
import {
  BatchSizeError,
  CancelledError,
  ClockMovedBackwardsError,
  InvalidIdError,
  MalformedRequestError,
  ResponseBacklogFullError,
  ShuttingDownError,
  StateDirError,
  TimeOverflowError,
  type SnowflakeError,
} from '../../src/errors';
import {
  decodeRichStatus,
  ERROR_CODE_METADATA_KEY,
  STATUS_DETAILS_METADATA_KEY,
} from '@snowflake-id/client/contract';
import { toGrpcStatus } from '../../src/grpc/status';

/** What toGrpcStatus puts on the wire, with the google.rpc.Status trailer decoded. */
function onTheWire(err: unknown) {
  const { code, details, metadata } = toGrpcStatus(err);
  const bin = metadata.get(STATUS_DETAILS_METADATA_KEY);
  return {
    code,
    details,
    codeTrailer: metadata.get(ERROR_CODE_METADATA_KEY),
    rich: bin.length === 1 && Buffer.isBuffer(bin[0]) ? decodeRichStatus(bin[0]) : bin,
  };
}

describe('toGrpcStatus', () => {
  it.each<[SnowflakeError, status, Record<string, string>]>([
    [new BatchSizeError(0, 10_000), status.INVALID_ARGUMENT, { count: '0', min: '1', max: '10000' }],
    [new InvalidIdError('sign bit'), status.INVALID_ARGUMENT, {}],
    [new MalformedRequestError('bad wire type'), status.INVALID_ARGUMENT, {}],
    [
      new ClockMovedBackwardsError(50, 10, 'maxWaitMs'),
      status.UNAVAILABLE,
      { behindMs: '50', maxWaitMs: '10' },
    ],
    [new TimeOverflowError('ended'), status.UNAVAILABLE, {}],
    [new ShuttingDownError(), status.UNAVAILABLE, {}],
    [new CancelledError(), status.CANCELLED, {}],
    [new ResponseBacklogFullError('4 MiB unread'), status.RESOURCE_EXHAUSTED, {}],
    [
      new StateDirError('SNOWFLAKE_STATE_DIR=/proc/x is on a pseudo-filesystem'),
      status.FAILED_PRECONDITION,
      {},
    ],
  ])(
    'GIVEN %s THEN maps its code to gRPC status %s, with the code in the details, the snowflake-error-code trailer and a google.rpc.Status whose ErrorInfo has the facts',
    (err, code, facts) => {
      const details = `${err.code}: ${err.message}`;
      expect(onTheWire(err)).toEqual({
        code,
        details,
        codeTrailer: [err.code],
        rich: {
          code,
          message: details,
          errorInfo: { reason: err.code, domain: 'snowflake.v1', metadata: facts },
        },
      });
    },
  );

  it('GIVEN an unexpected error THEN it is INTERNAL (reason INTERNAL) and its message is not leaked', () => {
    const wire = onTheWire(new TypeError('secret path /etc/x'));
    expect(wire).toEqual({
      code: status.INTERNAL,
      details: 'INTERNAL: unexpected server error (logged)',
      codeTrailer: ['INTERNAL'],
      rich: {
        code: status.INTERNAL,
        message: 'INTERNAL: unexpected server error (logged)',
        errorInfo: { reason: 'INTERNAL', domain: 'snowflake.v1', metadata: {} },
      },
    });
    expect(JSON.stringify(wire)).not.toContain('secret');
  });

  it('GIVEN a batch size error THEN the message says the allowed range', () => {
    expect(new BatchSizeError(10_001, 10_000).message).toBe(
      'count must be between 1 and 10000 (max_batch_size) inclusive; got 10001',
    );
  });
});
