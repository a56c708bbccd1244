import { IdClientError } from '../../packages/client/src/errors';
import { resolveClientOptions, type IdClientOptions } from '../../packages/client/src/options';

const addresses = ['127.0.0.1:50051'];

describe('resolveClientOptions', () => {
  it('fills in the documented defaults', () => {
    const o = resolveClientOptions({ addresses });
    expect(o).toMatchObject({
      policy: 'round-robin',
      timeoutMs: 5000,
      attemptTimeoutMs: 2000,
      cooldownMs: 1000,
      maxAttempts: 6,
      backoff: { initialMs: 50, maxMs: 1000, multiplier: 2, jitter: 0.2 },
      prefetch: { mode: 'adaptive', maxAgeMs: 5000, maxBufferedIds: 250_000 },
      channelOptions: { 'grpc-node.flow_control_window': 4 * 2 ** 20 },
    });
  });

  it.each<[string, Partial<IdClientOptions>, Record<string, unknown>]>([
    [
      'bufferSize chooses a fixed buffer; lowWaterMark defaults to half of it',
      { prefetch: { bufferSize: 7 } },
      { prefetch: { mode: 'fixed', maxAgeMs: 5000, bufferSize: 7, lowWaterMark: 3 } },
    ],
    [
      'lowWaterMark alone chooses a fixed buffer of 1,000',
      { prefetch: { lowWaterMark: 10 } },
      { prefetch: { mode: 'fixed', maxAgeMs: 5000, bufferSize: 1000, lowWaterMark: 10 } },
    ],
    [
      'maxBufferedIds caps the adaptive buffer',
      { prefetch: { maxBufferedIds: 1 } },
      { prefetch: { mode: 'adaptive', maxAgeMs: 5000, maxBufferedIds: 1 } },
    ],
    ['maxAgeMs 0 is accepted (buffer off)', { prefetch: { maxAgeMs: 0 } }, { prefetch: { mode: 'off' } }],
    [
      'maxAgeMs 0 turns a fixed buffer off too',
      { prefetch: { maxAgeMs: 0, bufferSize: 10 } },
      { prefetch: { mode: 'off' } },
    ],
    [
      'maxAgeMs Infinity is accepted',
      { prefetch: { maxAgeMs: Infinity } },
      { prefetch: { mode: 'adaptive', maxAgeMs: Infinity } },
    ],
    [
      'maxBackoffMs follows a larger initialBackoffMs',
      { retry: { initialBackoffMs: 3000 } },
      {
        backoff: { initialMs: 3000, maxMs: 3000, multiplier: 2, jitter: 0.2 },
      },
    ],
    [
      'channel options are kept, and may override the flow-control window',
      { channelOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc-node.flow_control_window': 65_535 } },
      { channelOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc-node.flow_control_window': 65_535 } },
    ],
    [
      'IPv6 and host names are addresses',
      { addresses: ['[::1]:1', 'snowflake-0.snowflake:50051'] },
      {
        addresses: ['[::1]:1', 'snowflake-0.snowflake:50051'],
      },
    ],
  ])('%s', (_name, extra, expected) => {
    expect(resolveClientOptions({ addresses, ...extra })).toMatchObject(expected);
  });

  it.each<[Partial<IdClientOptions>, string]>([
    [{ addresses: [] }, 'addresses must list 1 to 100 servers'],
    [{ addresses: ['localhost'] }, '"localhost" is not a server address (expected host:port)'],
    [{ addresses: ['127.0.0.1:0'] }, 'port 1 to 65535'],
    [{ addresses: ['127.0.0.1:65536'] }, 'port 1 to 65535'],
    [{ addresses: ['a:1', 'a:1'] }, 'distinct'],
    [{ policy: 'random' as 'pick-first' }, 'policy must be round-robin or pick-first'],
    [{ timeoutMs: 0 }, 'timeoutMs must be an integer from 1 to 600000; got 0'],
    [{ timeoutMs: 1.5 }, 'timeoutMs must be an integer'],
    [{ attemptTimeoutMs: 600_001 }, 'attemptTimeoutMs must be an integer from 1 to 600000'],
    [{ cooldownMs: -1 }, 'cooldownMs must be an integer from 0'],
    [{ retry: { maxAttempts: 0 } }, 'retry.maxAttempts must be an integer from 1 to 100'],
    [
      { retry: { initialBackoffMs: 100, maxBackoffMs: 99 } },
      'retry.maxBackoffMs must be an integer from 100',
    ],
    [{ retry: { multiplier: 0.5 } }, 'retry.multiplier must be a number from 1 to 10'],
    [{ retry: { jitter: Number.NaN } }, 'retry.jitter must be a number from 0 to 1; got NaN'],
    [{ prefetch: { bufferSize: 0 } }, 'prefetch.bufferSize must be an integer from 1 to 100000'],
    [
      { prefetch: { bufferSize: 10, lowWaterMark: 10 } },
      'prefetch.lowWaterMark must be an integer from 0 to 9',
    ],
    [{ prefetch: { maxAgeMs: -1 } }, 'prefetch.maxAgeMs must be a number of ms ≥ 0'],
    [{ prefetch: { maxBufferedIds: 0 } }, 'prefetch.maxBufferedIds must be an integer from 1 to 10000000'],
    [{ prefetch: { maxBufferedIds: 1.5 } }, 'prefetch.maxBufferedIds must be an integer'],
    [
      { prefetch: { maxBufferedIds: 1000, bufferSize: 1000 } },
      'prefetch.maxBufferedIds caps the adaptive buffer; it cannot be combined with bufferSize',
    ],
  ])('rejects %j as INVALID_OPTIONS', (extra, message) => {
    let caught: unknown;
    try {
      resolveClientOptions({ addresses, ...extra });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(IdClientError);
    expect((caught as IdClientError).code).toBe('INVALID_OPTIONS');
    expect((caught as IdClientError).message).toContain(message);
  });
});
