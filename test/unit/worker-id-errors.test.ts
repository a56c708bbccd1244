import { BrokenCircuitError } from 'cockatiel';
import { status } from '@grpc/grpc-js';
import { EtcdPermissionDeniedError, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import {
  CoordinationDataError,
  CoordinationError,
  WorkerIdsExhaustedError,
  WorkerLeaseLostError,
  type ErrorCode,
  type SnowflakeError,
} from '../../src/errors';
import { toGrpcStatus } from '../../src/grpc/status';
import { EtcdLeaseNotFoundError } from '../../src/worker-id/etcd/etcd-port';
import { isTransientEtcdError } from '../../src/worker-id/etcd/etcd3-adapter';

describe('worker-ID coordination errors', () => {
  it.each<[SnowflakeError, ErrorCode]>([
    [new WorkerIdsExhaustedError('all 32 worker IDs are held'), 'WORKER_IDS_EXHAUSTED'],
    [new WorkerLeaseLostError('lease expired'), 'WORKER_LEASE_LOST'],
    [new CoordinationError('etcd did not answer'), 'COORDINATION_FAILED'],
  ])('GIVEN %s THEN its code is %s and it maps to UNAVAILABLE', (err, code) => {
    expect(err.code).toBe(code);
    const { code: grpcCode, details } = toGrpcStatus(err);
    expect({ grpcCode, details }).toEqual({
      grpcCode: status.UNAVAILABLE,
      details: `${code}: ${err.message}`,
    });
  });

  it('GIVEN a cause THEN CoordinationError keeps it', () => {
    const cause = new Error('connect ECONNREFUSED');
    expect(new CoordinationError('etcd did not answer', cause).cause).toBe(cause);
  });
});

describe('isTransientEtcdError (what a claim retries within its window)', () => {
  const failedWith = (cause?: Error) => new CoordinationError('claiming a worker ID failed at etcd', cause);
  it.each<[string, unknown, boolean]>([
    ['no answer at all', failedWith(), true],
    [
      'connection refused',
      failedWith(new GRPCUnavailableError('14 UNAVAILABLE: connect ECONNREFUSED')),
      true,
    ],
    ['a deadline', failedWith(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED')), true],
    [
      "etcd3's open circuit breaker (every endpoint failed a moment ago)",
      failedWith(new BrokenCircuitError()),
      true,
    ],
    [
      'a server certificate our CA did not sign',
      failedWith(
        new GRPCUnavailableError(
          '14 UNAVAILABLE: No connection established. Last error: Error: unable to verify the first certificate.',
        ),
      ),
      false,
    ],
    [
      'a client certificate the server rejected',
      failedWith(
        new GRPCUnavailableError(
          '14 UNAVAILABLE: No connection established. Last error: 40A8:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate',
        ),
      ),
      false,
    ],
    [
      'https against a plain-text port',
      failedWith(new GRPCUnavailableError('14 UNAVAILABLE: … SSL routines::wrong version number')),
      false,
    ],
    [
      'https against a plaintext etcd, which closes the connection on the TLS hello',
      failedWith(
        new GRPCUnavailableError(
          '14 UNAVAILABLE: No connection established. Last error: Error: Client network socket disconnected before secure TLS connection was established. Resolution note: ',
        ),
      ),
      false,
    ],
    [
      'https against another plaintext server',
      failedWith(new GRPCUnavailableError('14 UNAVAILABLE: … SSL routines::packet length too long')),
      false,
    ],
    [
      'a reservation key beyond the layout',
      new CoordinationDataError('etcd key /snowflake/dc/0/reservation/0 holds "9000000000000000"'),
      false,
    ],
    ['a permission error', failedWith(new EtcdPermissionDeniedError('permission denied')), false],
    [
      'the lease expired while claiming',
      failedWith(new EtcdLeaseNotFoundError('7587869436378262538')),
      false,
    ],
    ['something that is not a coordination error', new Error('boom'), false],
  ])('GIVEN %s THEN transient = %p', (_what, err, transient) => {
    expect(isTransientEtcdError(err)).toBe(transient);
  });
});
