import * as grpc from '@grpc/grpc-js';
import { DEFAULT_BACKOFF } from '../../packages/client/src/backoff';
import { Balancer, type BalancingPolicy } from '../../packages/client/src/balancer';
import { IdClientError } from '../../packages/client/src/errors';
import { FailoverCaller, type FailoverOptions } from '../../packages/client/src/failover';
import type { AttemptEvent, RetryEvent } from '../../packages/client/src/hooks';
import type { UnaryCaller, UnaryMethod } from '../../packages/client/src/transport';
import { ERROR_CODE_METADATA_KEY } from '@snowflake-id/client/contract';

const A = 'a:1';
const B = 'b:1';
const METHOD: UnaryMethod<object, string> = {
  path: '/snowflake.v1.IdGenerator/NextId',
  requestSerialize: () => Buffer.alloc(0),
  responseDeserialize: () => 'unused',
};

function statusError(code: grpc.status, serverCode?: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (serverCode !== undefined) metadata.set(ERROR_CODE_METADATA_KEY, serverCode);
  return Object.assign(new Error(`${code}`), { code, details: `status ${code}`, metadata });
}

/** The stable code the scripted server sends with a status, as the real one does. */
const SERVER_CODES = new Map<grpc.status, string>([
  [grpc.status.INVALID_ARGUMENT, 'BATCH_SIZE_OUT_OF_RANGE'],
  [grpc.status.RESOURCE_EXHAUSTED, 'RESPONSE_BACKLOG_FULL'],
]);

/** Each address answers from its script in turn ('ok' → resolves with the address), repeating the last entry. */
function scriptedTransport(
  scripts: Record<string, (grpc.status | 'ok')[]>,
): UnaryCaller & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    unary<Req, Res>(address: string, method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
      expect([method.path, request]).toEqual([METHOD.path, {}]);
      calls.push(address);
      const script = scripts[address]!;
      const next = script.length > 1 ? script.shift()! : script[0]!;
      return next === 'ok'
        ? Promise.resolve(address as unknown as Res)
        : Promise.reject(statusError(next, SERVER_CODES.get(next)));
    },
  };
}

const OPTIONS: FailoverOptions = {
  timeoutMs: 5000,
  attemptTimeoutMs: 5000,
  maxAttempts: 6,
  backoff: { ...DEFAULT_BACKOFF, initialMs: 1, maxMs: 4 },
};

function caller(
  transport: UnaryCaller,
  options: Partial<FailoverOptions> = {},
  policy: BalancingPolicy = 'pick-first',
  signal = new AbortController().signal,
) {
  const attempts: AttemptEvent[] = [];
  const retries: RetryEvent[] = [];
  const c = new FailoverCaller(
    transport,
    new Balancer([A, B], policy, 1000),
    { ...OPTIONS, ...options },
    { onAttempt: (e) => attempts.push(e), onRetry: (e) => retries.push(e) },
    signal,
    () => 0.5,
  );
  return { c, attempts, retries };
}

async function failure(p: Promise<unknown>): Promise<IdClientError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof IdClientError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('FailoverCaller', () => {
  it.each<[string, Record<string, (grpc.status | 'ok')[]>, string, string[], number]>([
    ['answers from the first address when it works', { [A]: ['ok'], [B]: ['ok'] }, A, [A], 0],
    [
      'fails over to the next address at once on UNAVAILABLE',
      { [A]: [grpc.status.UNAVAILABLE], [B]: ['ok'] },
      B,
      [A, B],
      0,
    ],
    [
      'fails over at once on RESOURCE_EXHAUSTED with RESPONSE_BACKLOG_FULL (nothing was issued)',
      { [A]: [grpc.status.RESOURCE_EXHAUSTED], [B]: ['ok'] },
      B,
      [A, B],
      0,
    ],
    [
      'treats an attempt timeout as retryable',
      { [A]: [grpc.status.DEADLINE_EXCEEDED], [B]: ['ok'] },
      B,
      [A, B],
      0,
    ],
    [
      'waits (backoff) only before going round the addresses again',
      { [A]: [grpc.status.UNAVAILABLE, 'ok'], [B]: [grpc.status.UNAVAILABLE] },
      A,
      [A, B, A],
      1,
    ],
  ])('%s', async (_name, scripts, answeredBy, calls, retryCount) => {
    const t = scriptedTransport(scripts);
    const { c, attempts, retries } = caller(t);
    const { value, address } = await c.call('NextId', METHOD, {});
    expect([value, address]).toEqual([answeredBy, answeredBy]);
    expect(t.calls).toEqual(calls);
    expect(retries).toHaveLength(retryCount);
    expect(attempts.map((e) => e.code).at(-1)).toBe('OK');
  });

  it.each<[string, grpc.status, string, string | undefined]>([
    [
      'never retries INVALID_ARGUMENT',
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'BATCH_SIZE_OUT_OF_RANGE',
    ],
    ['never retries INTERNAL', grpc.status.INTERNAL, 'SERVER_ERROR', undefined],
    ['never retries FAILED_PRECONDITION', grpc.status.FAILED_PRECONDITION, 'SERVER_ERROR', undefined],
  ])('%s', async (_name, code, clientCode, serverCode) => {
    const t = scriptedTransport({ [A]: [code], [B]: ['ok'] });
    const err = await failure(caller(t).c.call('NextId', METHOD, {}));
    expect(t.calls).toEqual([A]);
    expect(err).toMatchObject({ code: clientCode, grpcCode: code, serverCode });
    expect(err.attempts).toHaveLength(1);
  });

  it('gives up after maxAttempts with ALL_SERVERS_UNAVAILABLE, waiting with exponential backoff between rounds', async () => {
    const t = scriptedTransport({ [A]: [grpc.status.UNAVAILABLE], [B]: [grpc.status.UNAVAILABLE] });
    const { c, retries } = caller(t, {
      maxAttempts: 5,
      backoff: { ...DEFAULT_BACKOFF, initialMs: 2, maxMs: 100 },
    });
    const err = await failure(c.call('NextId', METHOD, {}));
    expect(err.code).toBe('ALL_SERVERS_UNAVAILABLE');
    expect(err.message).toMatch(
      /^NextId: every server refused, was unreachable or did not answer in time \(5 attempts in \d+ ms, deadline 5000 ms\)/,
    );
    expect(err.message).toContain(`${A}: UNAVAILABLE`);
    expect(err.message).toContain(`${B}: UNAVAILABLE`);
    expect(t.calls).toEqual([A, B, A, B, A]);
    expect(retries.map((r) => [r.failedAttempts, r.delayMs])).toEqual([
      [2, 2],
      [4, 4],
    ]);
  });

  it('stops before a wait that would pass the call deadline', async () => {
    const t = scriptedTransport({ [A]: [grpc.status.UNAVAILABLE], [B]: [grpc.status.UNAVAILABLE] });
    const { c } = caller(t, {
      timeoutMs: 50,
      maxAttempts: 100,
      backoff: { ...DEFAULT_BACKOFF, initialMs: 1000, maxMs: 1000 },
    });
    const started = performance.now();
    const err = await failure(c.call('NextId', METHOD, {}));
    // Far below the 1000 ms backoff it must not wait; the slack absorbs a loaded machine.
    expect(performance.now() - started).toBeLessThan(500);
    expect(err.code).toBe('ALL_SERVERS_UNAVAILABLE');
    expect(t.calls).toEqual([A, B]);
  });

  it('reports ALL_SERVERS_UNAVAILABLE when some attempts were refused and the last one timed out', async () => {
    const t = scriptedTransport({ [A]: [grpc.status.UNAVAILABLE], [B]: [grpc.status.DEADLINE_EXCEEDED] });
    const err = await failure(caller(t, { maxAttempts: 2 }).c.call('NextId', METHOD, {}));
    expect(err.code).toBe('ALL_SERVERS_UNAVAILABLE');
    expect(err.grpcCode).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('reports DEADLINE_EXCEEDED when every attempt timed out', async () => {
    const t = scriptedTransport({
      [A]: [grpc.status.DEADLINE_EXCEEDED],
      [B]: [grpc.status.DEADLINE_EXCEEDED],
    });
    const err = await failure(caller(t, { maxAttempts: 2 }).c.call('NextId', METHOD, {}));
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(err.message).toContain('no server answered in time');
  });

  it('round-robin spreads first attempts and skips an address that just failed', async () => {
    const t = scriptedTransport({ [A]: [grpc.status.UNAVAILABLE], [B]: ['ok'] });
    const { c } = caller(t, {}, 'round-robin');
    for (let i = 0; i < 4; i++) await c.call('NextId', METHOD, {});
    expect(t.calls).toEqual([A, B, B, B, B]);
  });

  it('rejects with CLIENT_CLOSED when aborted during a backoff wait, without waiting it out', async () => {
    const t = scriptedTransport({ [A]: [grpc.status.UNAVAILABLE], [B]: [grpc.status.UNAVAILABLE] });
    const abort = new AbortController();
    const { c } = caller(
      t,
      { backoff: { ...DEFAULT_BACKOFF, initialMs: 10_000, maxMs: 10_000 }, timeoutMs: 60_000 },
      'pick-first',
      abort.signal,
    );
    const pending = c.call('NextId', METHOD, {});
    await new Promise((r) => setTimeout(r, 20));
    const started = performance.now();
    abort.abort();
    const err = await failure(pending);
    expect(err.code).toBe('CLIENT_CLOSED');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('a throwing hook does not break the call', async () => {
    const t = scriptedTransport({ [A]: ['ok'], [B]: ['ok'] });
    const c = new FailoverCaller(
      t,
      new Balancer([A, B], 'pick-first', 0),
      OPTIONS,
      {
        onAttempt: () => {
          throw new Error('broken hook');
        },
      },
      new AbortController().signal,
    );
    await expect(c.call('NextId', METHOD, {})).resolves.toMatchObject({ address: A });
  });
});
