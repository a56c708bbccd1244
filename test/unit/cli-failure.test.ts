import { status } from '@grpc/grpc-js';
import { connectionError, describeFailure } from '../../packages/client/src/cli/failure';
import { IdClientError, type AttemptFailure } from '../../packages/client/src/errors';

const REFUSED =
  'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ';

function attempt(address: string, grpcCode: status, details: string, serverCode?: string): AttemptFailure {
  return { address, grpcCode, details, serverCode };
}

const unreachable = (address: string) =>
  attempt(address, status.UNAVAILABLE, REFUSED.replace('127.0.0.1:1', address));
const skew = (address: string) =>
  attempt(address, status.UNAVAILABLE, 'CLOCK_SKEW: wall clock is 5000 ms behind', 'CLOCK_SKEW');
const late = (address: string) =>
  attempt(address, status.DEADLINE_EXCEEDED, 'Deadline exceeded after 1.001s');

function exhausted(attempts: AttemptFailure[]): IdClientError {
  return new IdClientError('ALL_SERVERS_UNAVAILABLE', 'NextId: every server refused, was unreachable or …', {
    attempts,
  });
}

describe('snowflake CLI failure line (describeFailure)', () => {
  it('GIVEN the server refuses an argument THEN address, status, server code and message, each once', () => {
    const failure = attempt(
      'h:1',
      status.INVALID_ARGUMENT,
      'BATCH_SIZE_OUT_OF_RANGE: count must be between 1 and 1000 (max_batch_size) inclusive; got 1001',
      'BATCH_SIZE_OUT_OF_RANGE',
    );
    const err = new IdClientError(
      'INVALID_ARGUMENT',
      'h:1 answered INVALID_ARGUMENT: BATCH_SIZE_OUT_OF_RANGE: …',
      {
        grpcCode: status.INVALID_ARGUMENT,
        serverCode: 'BATCH_SIZE_OUT_OF_RANGE',
        attempts: [failure],
      },
    );
    expect(describeFailure(err)).toBe(
      'h:1 answered INVALID_ARGUMENT (BATCH_SIZE_OUT_OF_RANGE): count must be between 1 and 1000 (max_batch_size) inclusive; got 1001',
    );
  });

  it('GIVEN a server code equal to the status name (INTERNAL) THEN it is not repeated', () => {
    const failure = attempt('h:1', status.INTERNAL, 'INTERNAL: unexpected server error (logged)', 'INTERNAL');
    const err = new IdClientError('SERVER_ERROR', '…', { attempts: [failure] });
    expect(describeFailure(err)).toBe('h:1 answered INTERNAL: unexpected server error (logged)');
  });

  it('GIVEN a status without a server code (a proxy) THEN its details as they are', () => {
    const err = new IdClientError('SERVER_ERROR', '…', {
      attempts: [attempt('h:1', status.UNIMPLEMENTED, 'The server does not implement the method /x')],
    });
    expect(describeFailure(err)).toBe(
      'h:1 answered UNIMPLEMENTED: The server does not implement the method /x',
    );
  });

  it.each<[string, AttemptFailure[], string]>([
    [
      'one dead address',
      [unreachable('a:1'), unreachable('a:1')],
      'a:1 could not be reached: connect ECONNREFUSED a:1 (2 attempts)',
    ],
    [
      'one refusing address',
      [skew('a:1')],
      'a:1 answered UNAVAILABLE (CLOCK_SKEW): wall clock is 5000 ms behind (1 attempt)',
    ],
    ['one hanging address', [late('a:1')], 'a:1 did not answer in time (1 attempt)'],
    [
      'several addresses, all refusing',
      [skew('a:1'), skew('b:2'), skew('a:1')],
      'every server refused: a:1 answered UNAVAILABLE (CLOCK_SKEW): wall clock is 5000 ms behind; ' +
        'b:2 answered UNAVAILABLE (CLOCK_SKEW): wall clock is 5000 ms behind (3 attempts)',
    ],
    [
      'several addresses, all dead',
      [unreachable('a:1'), unreachable('b:2')],
      'no server could be reached: a:1 could not be reached: connect ECONNREFUSED a:1; ' +
        'b:2 could not be reached: connect ECONNREFUSED b:2 (2 attempts)',
    ],
    [
      'a dead, a refusing and a hanging address',
      [unreachable('a:1'), skew('b:2'), late('c:3')],
      'no server could serve the call: a:1 could not be reached: connect ECONNREFUSED a:1; ' +
        'b:2 answered UNAVAILABLE (CLOCK_SKEW): wall clock is 5000 ms behind; c:3 did not answer in time (3 attempts)',
    ],
  ])(
    'GIVEN the retries ran out with %s THEN one line with the last outcome of each address',
    (_name, attempts, line) => {
      expect(describeFailure(exhausted(attempts))).toBe(line);
    },
  );

  it('GIVEN no attempt was made, or another error THEN its message', () => {
    expect(describeFailure(exhausted([]))).toBe('NextId: every server refused, was unreachable or …');
    expect(
      describeFailure(new IdClientError('INVALID_RESPONSE', 'h:1 returned 2 IDs for BatchIds(count=3)')),
    ).toBe('h:1 returned 2 IDs for BatchIds(count=3)');
    expect(describeFailure(new TypeError('boom'))).toBe('boom');
  });
});

describe('grpc-js connection errors, shortened (connectionError)', () => {
  it.each<[string, string]>([
    [REFUSED, 'connect ECONNREFUSED 127.0.0.1:1'],
    [
      'Name resolution failed for target dns:nowhere.invalid:1',
      'Name resolution failed for target dns:nowhere.invalid:1',
    ],
    [
      'No connection established. Last error: 803C0A40AD7F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116\n (2026-11-29T04:55:41.240Z). Resolution note: ',
      'TLS: tlsv13 alert certificate required (SSL alert number 116)',
    ],
    [
      'No connection established. Last error: Error: self-signed certificate in certificate chain. Resolution note: ',
      'self-signed certificate in certificate chain',
    ],
    [
      "No connection established. Last error: Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames: Host: x. is not in the cert's altnames: DNS:localhost. Resolution note: ",
      "Hostname/IP does not match certificate's altnames: Host: x. is not in the cert's altnames: DNS:localhost",
    ],
    [
      'No connection established. Last error: Failed to connect (2026-11-29T04:55:41.240Z). Resolution note: ',
      'Failed to connect',
    ],
    ['No connection established. Last error: . Resolution note: ', 'no connection'],
  ])('%j → %j', (details, short) => {
    expect(connectionError(details)).toBe(short);
  });
});
