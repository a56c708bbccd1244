import * as grpc from '@grpc/grpc-js';
import { DEFAULT_BACKOFF } from '../../packages/client/src/backoff';
import { Balancer, type BalancingPolicy } from '../../packages/client/src/balancer';
import { resolveCallOptions, type CallOptions } from '../../packages/client/src/call-options';
import { FailoverCaller, type FailoverOptions } from '../../packages/client/src/failover';
import type { AttemptEvent, RetryEvent } from '../../packages/client/src/hooks';
import type { UnaryCaller, UnaryMethod } from '../../packages/client/src/transport';
import { ERROR_CODE_METADATA_KEY } from '@snowflake-id/client/contract';
import { rejection } from '../helpers/client-rejection';

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
    const err = await rejection(caller(t).c.call('NextId', METHOD, {}));
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
    const err = await rejection(c.call('NextId', METHOD, {}));
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
      backoff: { ...DEFAULT_BACKOFF, initialMs: 10_000, maxMs: 10_000 },
    });
    const started = performance.now();
    const err = await rejection(c.call('NextId', METHOD, {}));
    // Far below the 10 s backoff it must not wait; the slack absorbs a loaded machine.
    expect(performance.now() - started).toBeLessThan(5000);
    expect(err.code).toBe('ALL_SERVERS_UNAVAILABLE');
    expect(t.calls).toEqual([A, B]);
  });

  it('reports ALL_SERVERS_UNAVAILABLE when some attempts were refused and the last one timed out', async () => {
    const t = scriptedTransport({ [A]: [grpc.status.UNAVAILABLE], [B]: [grpc.status.DEADLINE_EXCEEDED] });
    const err = await rejection(caller(t, { maxAttempts: 2 }).c.call('NextId', METHOD, {}));
    expect(err.code).toBe('ALL_SERVERS_UNAVAILABLE');
    expect(err.grpcCode).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('reports DEADLINE_EXCEEDED when every attempt timed out', async () => {
    const t = scriptedTransport({
      [A]: [grpc.status.DEADLINE_EXCEEDED],
      [B]: [grpc.status.DEADLINE_EXCEEDED],
    });
    const err = await rejection(caller(t, { maxAttempts: 2 }).c.call('NextId', METHOD, {}));
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
    const err = await rejection(pending);
    expect(err.code).toBe('CLIENT_CLOSED');
    // Far below the 10 s backoff it must not wait out; the slack absorbs a loaded machine.
    expect(performance.now() - started).toBeLessThan(5000);
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

  describe('per-call options', () => {
    /** One recorded attempt of {@link recordingTransport}. */
    interface Sent {
      readonly address: string;
      readonly deadline: Date;
      readonly signal: AbortSignal;
      readonly metadata: grpc.Metadata | undefined;
      resolve(value: string): void;
      reject(err: unknown): void;
    }

    /** A transport whose attempts stay pending until the test settles them (it ignores `signal`). */
    function recordingTransport(): UnaryCaller & { sent: Sent[] } {
      const sent: Sent[] = [];
      return {
        sent,
        unary<Req, Res>(
          address: string,
          _method: UnaryMethod<Req, Res>,
          _request: Req,
          deadline: Date,
          signal: AbortSignal,
          metadata?: grpc.Metadata,
        ): Promise<Res> {
          return new Promise<Res>((resolve, reject) => {
            sent.push({
              address,
              deadline,
              signal,
              metadata,
              resolve: (v) => {
                resolve(v as Res);
              },
              reject,
            });
          });
        },
      };
    }

    const call = (c: FailoverCaller, options: CallOptions) =>
      c.call('NextId', METHOD, {}, resolveCallOptions('NextId', options));

    /** Lets pending promise callbacks run (the caller awaits a few promises between attempts). */
    const settle = () => new Promise((r) => setImmediate(r));

    it('GIVEN an attempt in flight WHEN the caller aborts THEN the call rejects CANCELLED at once, with the reason, and the RPC is cancelled', async () => {
      const t = recordingTransport();
      const abort = new AbortController();
      const { c, attempts } = caller(t);
      const pending = call(c, { signal: abort.signal });
      await settle();
      expect(t.sent).toHaveLength(1);
      const reason = new Error('user left');
      abort.abort(reason);
      const err = await rejection(pending);
      expect(err).toMatchObject({
        code: 'CANCELLED',
        message: "NextId: cancelled by the caller's AbortSignal",
      });
      expect(err.cause).toBe(reason);
      expect(t.sent[0]!.signal.aborted).toBe(true);
      expect(attempts.map((e) => [e.address, e.code])).toEqual([[A, 'CANCELLED']]);
      // The answer arriving afterwards goes nowhere: the call has already failed.
      t.sent[0]!.resolve('late');
      await settle();
      expect(t.sent).toHaveLength(1);
    });

    it('GIVEN a backoff wait WHEN the caller aborts THEN it rejects CANCELLED without waiting it out', async () => {
      const t = scriptedTransport({ [A]: [grpc.status.UNAVAILABLE], [B]: [grpc.status.UNAVAILABLE] });
      const abort = new AbortController();
      const { c } = caller(t, {
        backoff: { ...DEFAULT_BACKOFF, initialMs: 60_000, maxMs: 60_000 },
        timeoutMs: 600_000,
      });
      const pending = call(c, { signal: abort.signal });
      await new Promise((r) => setTimeout(r, 20));
      expect(t.calls).toEqual([A, B]);
      abort.abort();
      const err = await rejection(pending);
      expect(err.code).toBe('CANCELLED');
      expect(t.calls).toEqual([A, B]);
    });

    it('GIVEN a signal already aborted THEN no attempt is made', async () => {
      const t = recordingTransport();
      const err = await rejection(call(caller(t).c, { signal: AbortSignal.abort() }));
      expect(err.code).toBe('CANCELLED');
      expect(t.sent).toEqual([]);
    });

    it('GIVEN the client closes and a caller signal THEN CLIENT_CLOSED, and the caller signal is left as it was', async () => {
      const t = recordingTransport();
      const closing = new AbortController();
      const mine = new AbortController();
      const pending = call(caller(t, {}, 'pick-first', closing.signal).c, { signal: mine.signal });
      await settle();
      closing.abort();
      expect((await rejection(pending)).code).toBe('CLIENT_CLOSED');
      expect(mine.signal.aborted).toBe(false);
    });

    it('GIVEN a deadline sooner than timeoutMs THEN each attempt gets at most what is left of it', async () => {
      const t = recordingTransport();
      const deadline = new Date(Date.now() + 3000);
      const pending = call(caller(t, { timeoutMs: 60_000, attemptTimeoutMs: 60_000 }).c, { deadline });
      await settle();
      expect(t.sent[0]!.deadline.getTime()).toBeLessThanOrEqual(deadline.getTime());
      t.sent[0]!.resolve('ok');
      await expect(pending).resolves.toEqual({ value: 'ok', address: A });
    });

    it('GIVEN a deadline as ms since the epoch THEN it caps the call as a Date does', async () => {
      const t = recordingTransport();
      const deadlineMs = Date.now() + 3000;
      const pending = call(caller(t, { timeoutMs: 60_000, attemptTimeoutMs: 60_000 }).c, {
        deadline: deadlineMs,
      });
      await settle();
      expect(t.sent[0]!.deadline.getTime()).toBeLessThanOrEqual(deadlineMs);
      t.sent[0]!.resolve('ok');
      await pending;
    });

    it('GIVEN the process pauses between the wall-clock and monotonic reads THEN the attempt still ends by the caller deadline', async () => {
      // Seen on a loaded CI machine: the wall clock moved 3 ms between the deadline read and the
      // monotonic start, and the attempt's deadline came out 3 ms past the caller's.
      const t = recordingTransport();
      const deadlineMs = Date.now() + 3000;
      let wallMs = Date.now();
      const wall = jest.spyOn(Date, 'now').mockImplementation(() => wallMs);
      try {
        const c = new FailoverCaller(
          t,
          new Balancer([A, B], 'pick-first', 1000),
          { ...OPTIONS, timeoutMs: 60_000, attemptTimeoutMs: 60_000 },
          {},
          new AbortController().signal,
          () => 0.5,
          () => {
            wallMs += 50; // every monotonic read comes 50 ms of wall time after the last one
            return 0;
          },
        );
        const pending = c.call('NextId', METHOD, {}, resolveCallOptions('NextId', { deadline: deadlineMs }));
        await settle();
        expect(t.sent[0]!.deadline.getTime()).toBeLessThanOrEqual(deadlineMs);
        t.sent[0]!.resolve('ok');
        await pending;
      } finally {
        wall.mockRestore();
      }
    });

    it('GIVEN a deadline later than timeoutMs THEN timeoutMs still caps the call', async () => {
      const t = recordingTransport();
      const before = Date.now();
      const pending = call(caller(t, { timeoutMs: 1000, attemptTimeoutMs: 60_000 }).c, {
        deadline: Date.now() + 3_600_000,
      });
      await settle();
      expect(t.sent[0]!.deadline.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      expect(t.sent[0]!.deadline.getTime()).toBeGreaterThanOrEqual(before);
      t.sent[0]!.resolve('ok');
      await pending;
    });

    it.each<[string, Date | number]>([
      ['a Date in the past', new Date(Date.now() - 1)],
      ['ms since the epoch in the past', 0],
    ])('GIVEN %s THEN DEADLINE_EXCEEDED before any attempt', async (_name, deadline) => {
      const t = recordingTransport();
      const err = await rejection(call(caller(t).c, { deadline }));
      expect(err.code).toBe('DEADLINE_EXCEEDED');
      expect(err.message).toMatch(/^NextId: the call's deadline .* passed before it started$/);
      expect(t.sent).toEqual([]);
    });

    it('GIVEN failing servers and a near deadline THEN the retries stop at the deadline, not at timeoutMs', async () => {
      const t = scriptedTransport({ [A]: [grpc.status.UNAVAILABLE], [B]: [grpc.status.UNAVAILABLE] });
      const { c } = caller(t, {
        timeoutMs: 600_000,
        maxAttempts: 100,
        backoff: { ...DEFAULT_BACKOFF, initialMs: 200, maxMs: 200 },
      });
      const err = await rejection(call(c, { deadline: Date.now() + 300 }));
      expect(err.code).toBe('ALL_SERVERS_UNAVAILABLE');
      // 300 ms leave room for one 200 ms wait at most: two or four attempts, never dozens.
      expect(t.calls.length).toBeLessThanOrEqual(4);
    });

    it('GIVEN metadata THEN every attempt carries it', async () => {
      const t = recordingTransport();
      const pending = call(caller(t).c, {
        metadata: { 'x-request-id': 'r-1', 'trace-bin': Buffer.from([1, 2]) },
      });
      await settle();
      t.sent[0]!.reject(statusError(grpc.status.UNAVAILABLE));
      await settle();
      t.sent[1]!.resolve('ok');
      await pending;
      expect(t.sent.map((s) => s.address)).toEqual([A, B]);
      for (const s of t.sent) {
        expect(s.metadata?.get('x-request-id')).toEqual(['r-1']);
        expect(s.metadata?.get('trace-bin')).toEqual([Buffer.from([1, 2])]);
      }
    });

    it.each<[string, unknown]>([
      ['a TypeError (a bug)', new TypeError("Cannot read properties of undefined (reading 'x')")],
      [
        'the error grpc-js throws for credentials of another grpc-js copy',
        new TypeError('Channel credentials must be a ChannelCredentials object'),
      ],
      ['a thrown string', 'boom'],
    ])(
      'GIVEN the transport throws %s THEN INTERNAL at once: not retried, not ALL_SERVERS_UNAVAILABLE',
      async (_name, thrownValue) => {
        const calls: string[] = [];
        const t: UnaryCaller = {
          unary(address) {
            calls.push(address);
            return Promise.reject(thrownValue); // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors -- a thrown string is a case
          },
        };
        const { c, attempts, retries } = caller(t);
        const err = await rejection(c.call('NextId', METHOD, {}));
        expect(err.code).toBe('INTERNAL');
        expect(err.cause).toBe(thrownValue);
        expect(err.message).toContain(`NextId: calling ${A} threw`);
        expect(calls).toEqual([A]);
        expect(retries).toEqual([]);
        expect(attempts).toEqual([]);
      },
    );
  });
});
