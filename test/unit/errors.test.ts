import { status } from '@grpc/grpc-js';
import {
  BatchSizeError,
  CancelledError,
  ClockMovedBackwardsError,
  InvalidIdError,
  MalformedRequestError,
  ResponseBacklogFullError,
  ShuttingDownError,
  TimeOverflowError,
  toGrpcStatus,
  type SnowflakeError,
} from '../../src/errors';

describe('toGrpcStatus', () => {
  it.each<[SnowflakeError, status]>([
    [new BatchSizeError(0, 10_000), status.INVALID_ARGUMENT],
    [new InvalidIdError('sign bit'), status.INVALID_ARGUMENT],
    [new MalformedRequestError('bad wire type'), status.INVALID_ARGUMENT],
    [new ClockMovedBackwardsError(50, 10), status.UNAVAILABLE],
    [new TimeOverflowError('ended'), status.UNAVAILABLE],
    [new ShuttingDownError(), status.UNAVAILABLE],
    [new CancelledError(), status.CANCELLED],
    [new ResponseBacklogFullError('4 MiB unread'), status.RESOURCE_EXHAUSTED],
  ])('GIVEN %s THEN maps its code to gRPC status %s with the code in the details', (err, code) => {
    expect(toGrpcStatus(err)).toEqual({ code, details: `${err.code}: ${err.message}` });
  });

  it('GIVEN an unexpected error THEN it is INTERNAL and its message is not leaked', () => {
    expect(toGrpcStatus(new TypeError('secret path /etc/x'))).toEqual({
      code: status.INTERNAL,
      details: 'INTERNAL: unexpected server error (logged)',
    });
  });

  it('GIVEN a batch size error THEN the message says the allowed range', () => {
    expect(new BatchSizeError(10_001, 10_000).message).toBe(
      'count must be between 1 and 10000 (max_batch_size) inclusive; got 10001',
    );
  });
});
