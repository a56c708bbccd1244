import { status } from '@grpc/grpc-js';
import {
  CoordinationError,
  toGrpcStatus,
  WorkerIdsExhaustedError,
  WorkerLeaseLostError,
  type ErrorCode,
  type SnowflakeError,
} from '../../src/errors';

describe('worker-ID coordination errors', () => {
  it.each<[SnowflakeError, ErrorCode]>([
    [new WorkerIdsExhaustedError('all 32 worker IDs are held'), 'WORKER_IDS_EXHAUSTED'],
    [new WorkerLeaseLostError('lease expired'), 'WORKER_LEASE_LOST'],
    [new CoordinationError('etcd did not answer'), 'COORDINATION_FAILED'],
  ])('GIVEN %s THEN its code is %s and it maps to UNAVAILABLE', (err, code) => {
    expect(err.code).toBe(code);
    expect(toGrpcStatus(err)).toEqual({ code: status.UNAVAILABLE, details: `${code}: ${err.message}` });
  });

  it('GIVEN a cause THEN CoordinationError keeps it', () => {
    const cause = new Error('connect ECONNREFUSED');
    expect(new CoordinationError('etcd did not answer', cause).cause).toBe(cause);
  });
});
