import fc from 'fast-check';
import { IdClientError } from '../../packages/client/src/errors';
import type { ExpiredEvent, RefillEvent, WasteEvent } from '../../packages/client/src/hooks';
import {
  AdaptiveRefillPolicy,
  FixedRefillPolicy,
  type AdaptivePolicyOptions,
} from '../../packages/client/src/prefetch-policy';
import { PrefetchPool, TAKES_PER_TURN, type PrefetchPoolDeps } from '../../packages/client/src/prefetch-pool';

interface PrefetchPoolOptions {
  readonly bufferSize: number;
  readonly lowWaterMark: number;
  readonly maxAgeMs: number;
}

/** A pool with the fixed policy of `bufferSize` / `lowWaterMark`. */
function fixedPool(o: PrefetchPoolOptions, deps: PrefetchPoolDeps): PrefetchPool {
  return new PrefetchPool(new FixedRefillPolicy(o.bufferSize, o.lowWaterMark), o.maxAgeMs, deps);
}

/** A fetch that hands out consecutive IDs (1, 2, 3…) and records every request; `fail` makes the next calls reject. */
function fakeFetch() {
  let next = 1n;
  const requests: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const failures: IdClientError[] = [];
  const fetch = async (count: number): Promise<bigint[]> => {
    requests.push(count);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    const failure = failures.shift();
    if (failure !== undefined) throw failure;
    return Array.from({ length: count }, () => next++);
  };
  return {
    fetch,
    requests,
    get maxInFlight() {
      return maxInFlight;
    },
    failNext(err: IdClientError) {
      failures.push(err);
    },
  };
}

function setup(options: Partial<PrefetchPoolOptions> = {}) {
  const f = fakeFetch();
  const clock = { ms: 0 };
  const refills: RefillEvent[] = [];
  const expired: ExpiredEvent[] = [];
  const pool = fixedPool(
    { bufferSize: 10, lowWaterMark: 4, maxAgeMs: 1000, ...options },
    {
      fetch: f.fetch,
      now: () => clock.ms,
      onRefill: (e) => refills.push(e),
      onExpired: (e) => expired.push(e),
    },
  );
  return { pool, f, clock, refills, expired };
}

/** Lets pending fetches (each resolves after one setImmediate) settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

async function takeSequentially(pool: PrefetchPool, n: number): Promise<bigint[]> {
  const ids: bigint[] = [];
  for (let i = 0; i < n; i++) ids.push(await pool.take());
  return ids;
}

describe('PrefetchPool with a fixed buffer', () => {
  it.each<[string, Partial<PrefetchPoolOptions>, number, number[]]>([
    ['the first take fills the whole buffer', {}, 1, [10]],
    ['no refill while at or above the low-water mark', {}, 6, [10]],
    ['dropping below the low-water mark tops the buffer up', {}, 7, [10, 7]],
    ['low-water mark 0 refills only when empty and asked', { lowWaterMark: 0 }, 10, [10]],
    ['low-water mark 0: the next take after empty refills', { lowWaterMark: 0 }, 11, [10, 10]],
    ['a buffer of 1 fetches once per ID', { bufferSize: 1, lowWaterMark: 0 }, 3, [1, 1, 1]],
  ])('%s', async (_name, options, takes, expectedRequests) => {
    const { pool, f } = setup(options);
    const ids = await takeSequentially(pool, takes);
    await settle();
    expect(ids).toEqual(Array.from({ length: takes }, (_, i) => BigInt(i + 1)));
    expect(f.requests).toEqual(expectedRequests);
  });

  it('serves concurrent callers first come first served with one refill at a time', async () => {
    const { pool, f } = setup();
    const ids = await Promise.all(Array.from({ length: 25 }, () => pool.take()));
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => BigInt(i + 1)));
    expect(f.maxInFlight).toBe(1);
    expect(f.requests).toEqual([10, 10, 10]);
  });

  it.each([
    ['an ID aged exactly maxAgeMs is still handed out', 1000, 2n, [10], 0],
    ['older IDs are dropped unused and a refill replaces them', 1001, 11n, [10, 10], 9],
  ])('%s', async (_name, advanceMs, expectedId, expectedRequests, expectedDropped) => {
    const { pool, f, clock, expired } = setup({ lowWaterMark: 0 });
    expect(await pool.take()).toBe(1n);
    clock.ms += advanceMs;
    expect(await pool.take()).toBe(expectedId);
    expect(f.requests).toEqual(expectedRequests);
    expect(expired.reduce((n, e) => n + e.count, 0)).toBe(expectedDropped);
  });

  it('ages IDs from the start of the fetch, and still hands a slow batch to the callers waiting for it', async () => {
    const clock = { ms: 0 };
    let release: (ids: bigint[]) => void = () => undefined;
    const pool = fixedPool(
      { bufferSize: 3, lowWaterMark: 0, maxAgeMs: 100 },
      { fetch: () => new Promise((r) => (release = r)), now: () => clock.ms },
    );
    const waiting = pool.take();
    clock.ms = 500;
    release([1n, 2n, 3n]);
    expect(await waiting).toBe(1n);
    expect(pool.size).toBe(0);
  });

  it('a failed refill rejects the callers waiting for it and is retried only on the next take', async () => {
    const { pool, f, refills } = setup();
    const error = new IdClientError('ALL_SERVERS_UNAVAILABLE', 'down');
    f.failNext(error);
    const results = await Promise.allSettled([pool.take(), pool.take(), pool.take()]);
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as unknown) : r.value))).toEqual([
      error,
      error,
      error,
    ]);
    await settle();
    expect(f.requests).toEqual([10]);
    expect(refills).toEqual([
      expect.objectContaining({ requested: 10, received: 0, errorCode: 'ALL_SERVERS_UNAVAILABLE' }),
    ]);
    expect(await pool.take()).toBe(1n);
    expect(f.requests).toEqual([10, 10]);
  });

  it('close rejects waiting and later callers and ignores a refill that lands afterwards', async () => {
    const { pool, f } = setup();
    const waiting = pool.take();
    const closed = new IdClientError('CLIENT_CLOSED', 'closed');
    pool.close(closed);
    await expect(waiting).rejects.toBe(closed);
    await expect(pool.take()).rejects.toBe(closed);
    await settle();
    expect(f.requests).toEqual([10]);
    expect(pool.size).toBe(0);
  });

  it('treats an empty refill as INVALID_RESPONSE instead of looping', async () => {
    const requests: number[] = [];
    const pool = fixedPool(
      { bufferSize: 5, lowWaterMark: 2, maxAgeMs: 1000 },
      {
        fetch: (count) => {
          requests.push(count);
          return Promise.resolve([]);
        },
        now: () => 0,
      },
    );
    await expect(pool.take()).rejects.toMatchObject({ code: 'INVALID_RESPONSE' });
    await settle();
    expect(requests).toEqual([5]);
  });
});

/** A fetch whose calls stay pending until the test settles them; hands out consecutive IDs from 1. */
function manualFetch(clock: { ms: number }) {
  let next = 1n;
  const pending: {
    count: number;
    startedAtMs: number;
    resolve: (ids: BigUint64Array) => void;
    reject: (err: unknown) => void;
  }[] = [];
  /** Fetch start (fake ms) of every ID delivered, to check ages. */
  const fetchedAt = new Map<bigint, number>();
  const requests: number[] = [];
  return {
    pending,
    requests,
    fetchedAt,
    fetch: (count: number) =>
      new Promise<BigUint64Array>((resolve, reject) => {
        requests.push(count);
        pending.push({ count, startedAtMs: clock.ms, resolve, reject });
      }),
    /** Answers pending call `index` (default the oldest) with `count` fresh IDs. */
    answer(index = 0): void {
      const [call] = pending.splice(index, 1);
      if (call === undefined) throw new Error('no pending fetch');
      const ids = new BigUint64Array(call.count);
      for (let i = 0; i < call.count; i++) {
        ids[i] = next;
        fetchedAt.set(next++, call.startedAtMs);
      }
      call.resolve(ids);
    },
    fail(err: unknown, index = 0): void {
      const [call] = pending.splice(index, 1);
      if (call === undefined) throw new Error('no pending fetch');
      call.reject(err);
    },
  };
}

function adaptiveSetup(options: Partial<AdaptivePolicyOptions> & { maxBatchSize?: number } = {}) {
  const clock = { ms: 0 };
  const f = manualFetch(clock);
  const waste: WasteEvent[] = [];
  const info = { asked: 0 };
  const { maxBatchSize, ...policyOptions } = options;
  const opts = { maxAgeMs: 1000, maxBufferedIds: 250_000, servers: 1, ...policyOptions };
  const pool = new PrefetchPool(new AdaptiveRefillPolicy(opts), opts.maxAgeMs, {
    fetch: f.fetch,
    now: () => clock.ms,
    maxBatchSize:
      maxBatchSize === undefined
        ? undefined
        : () => {
            info.asked++;
            return Promise.resolve(maxBatchSize);
          },
    onWaste: (e) => waste.push(e),
  });
  return { pool, f, clock, waste, info };
}

describe('PrefetchPool with the adaptive policy (fake clock, manual fetch)', () => {
  it('tryTake returns undefined on an empty buffer but starts a refill; then hands out without waiting', async () => {
    const { pool, f } = adaptiveSetup();
    expect(pool.tryTake()).toBeUndefined();
    expect(f.pending).toHaveLength(1);
    f.answer();
    await settle();
    expect(pool.tryTake()).toBe(1n);
    expect(pool.tryTake()).toBe(2n);
    expect(pool.stats()).toMatchObject({ handedOut: 2, waited: 0, refills: 1 });
  });

  it('under rising demand keeps several refills in flight, and never more than 4 per server', async () => {
    for (const servers of [1, 2]) {
      const { pool, f, clock } = adaptiveSetup({ servers });
      let most = 0;
      // 3,000 IDs asked per ms; refills take 10 ms to answer.
      for (let ms = 0; ms < 200; ms++) {
        clock.ms = ms;
        for (let i = 0; i < 3000; i++) pool.tryTake();
        most = Math.max(most, f.pending.length);
        if (ms % 10 === 9) while (f.pending.length > 0) f.answer();
        await settle();
      }
      expect(most).toBe(4 * servers);
    }
  });

  it('with refills answering at once and the buffer at its memory cap, refills stay whole batches', async () => {
    const requests: number[] = [];
    let next = 1n;
    const pool = new PrefetchPool(
      new AdaptiveRefillPolicy({ maxAgeMs: 1000, maxBufferedIds: 20_000, servers: 1 }),
      1000,
      {
        fetch: (count) => {
          requests.push(count);
          return Promise.resolve(Array.from({ length: count }, () => next++));
        },
        now: () => performance.now(),
      },
    );
    const ids = new Set<bigint>();
    for (let i = 0; i < 100_000; i++) ids.add(await pool.take());
    expect(ids.size).toBe(100_000);
    // Ramp-up takes a few small ones; one ID per take at the cap would be tens of thousands.
    expect(requests.length).toBeLessThan(100);
  });

  it('learns max_batch_size from GetInfo and from a BATCH_SIZE_OUT_OF_RANGE refusal, without failing callers', async () => {
    const { pool, f, info } = adaptiveSetup({ maxBatchSize: 60 });
    const waiting = Array.from({ length: 500 }, () => pool.take());
    expect(info.asked).toBe(1);
    const first = f.requests[0]!;
    expect(first).toBeGreaterThan(60);
    // A server with a smaller limit than GetInfo said refuses; nothing was issued.
    f.fail(
      new IdClientError('INVALID_ARGUMENT', 'too many', {
        serverCode: 'BATCH_SIZE_OUT_OF_RANGE',
        errorInfo: { reason: 'BATCH_SIZE_OUT_OF_RANGE', domain: 'snowflake.v1', metadata: { max: '40' } },
      }),
    );
    await settle();
    for (let i = 0; i < 100 && f.pending.length > 0; i++) {
      f.answer();
      await settle();
    }
    const ids = await Promise.all(waiting);
    expect(new Set(ids).size).toBe(500);
    expect(f.requests.slice(1).every((n) => n <= 40)).toBe(true);
    expect(pool.stats()).toMatchObject({ failedRefills: 0, lostWithFailedCalls: 0 });
    expect(info.asked).toBe(1);
  });

  it('counts waste: dropped for age, requested by failed refills, left at close', async () => {
    const { pool, f, clock, waste } = adaptiveSetup({ maxAgeMs: 100 });
    const first = pool.take();
    f.answer();
    expect(await first).toBe(1n);
    const buffered = pool.stats().buffered;
    expect(buffered).toBeGreaterThan(0);

    clock.ms = 101;
    const waiting = pool.take();
    expect(pool.stats().droppedForAge).toBe(buffered);
    f.fail(new IdClientError('ALL_SERVERS_UNAVAILABLE', 'down'));
    await expect(waiting).rejects.toMatchObject({ code: 'ALL_SERVERS_UNAVAILABLE' });
    const lost = f.requests[1]!;

    const third = pool.take();
    f.answer();
    await third;
    const left = pool.stats().buffered;
    pool.close(new IdClientError('CLIENT_CLOSED', 'closed'));
    expect(pool.stats()).toMatchObject({
      droppedForAge: buffered,
      lostWithFailedCalls: lost,
      failedRefills: 1,
      droppedOnClose: left,
    });
    expect(waste).toEqual([
      { reason: 'expired', count: buffered },
      { reason: 'failed', count: lost },
      { reason: 'closed', count: left },
    ]);
    expect(pool.tryTake()).toBeUndefined();
  });

  it('hands an ID older than maxAgeMs only to a caller that waited since before its call started', async () => {
    const { pool, f, clock } = adaptiveSetup({ maxAgeMs: 100 });
    const early = pool.take(); // starts refill A at 0
    clock.ms = 50;
    const late = pool.tryTake(); // nothing buffered yet
    expect(late).toBeUndefined();
    clock.ms = 500;
    f.answer(0); // A lands 500 ms after it started
    expect(await early).toBe(1n);
    // The rest of A is expired: nobody else gets it.
    expect(pool.tryTake()).toBeUndefined();
    expect(pool.stats().droppedForAge).toBe(f.requests[0]! - 1);
  });
});

describe('PrefetchPool and the event loop', () => {
  it.each([
    ['lets the event loop turn every 10,000 IDs while a refill is in flight', true, 3],
    ['hands out on microtasks alone when no refill is in flight', false, 0],
  ])('%s', async (_name, refillInFlight, minTurns) => {
    const clock = { ms: 0 };
    const f = manualFetch(clock);
    // Fixed buffer of 50,000 with low-water mark 49,999 (a refill at the second take) or 0 (none).
    const pool = new PrefetchPool(new FixedRefillPolicy(50_000, refillInFlight ? 49_999 : 0), 1000, {
      fetch: f.fetch,
      now: () => clock.ms,
    });
    const first = pool.take();
    f.answer();
    await first;
    let turns = 0;
    let done = false;
    const tick = () => {
      turns++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    turns = 0;
    for (let i = 0; i < TAKES_PER_TURN * 3 + 10; i++) await pool.take();
    done = true;
    expect(f.pending).toHaveLength(refillInFlight ? 1 : 0);
    if (refillInFlight) expect(turns).toBeGreaterThanOrEqual(minTurns);
    else expect(turns).toBe(0);
  });
});

describe('PrefetchPool bookkeeping (property)', () => {
  type Command =
    | { kind: 'take' }
    | { kind: 'tryTake'; times: number }
    | { kind: 'advance'; ms: number }
    | { kind: 'answer'; pick: number }
    | { kind: 'fail'; pick: number; batchLimit: number | undefined };

  const command: fc.Arbitrary<Command> = fc.oneof(
    fc.constant<Command>({ kind: 'take' }),
    fc.record({ kind: fc.constant('tryTake' as const), times: fc.integer({ min: 1, max: 50 }) }),
    fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 150 }) }),
    fc.record({ kind: fc.constant('answer' as const), pick: fc.nat() }),
    fc.record({
      kind: fc.constant('fail' as const),
      pick: fc.nat(),
      batchLimit: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
    }),
  );

  it('never hands out an ID twice or one older than maxAgeMs (unless to a caller waiting since before its call), stays within the memory cap, and serves every caller once refills succeed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { maxLength: 80 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 100 }),
        fc.boolean(),
        async (commands, maxBufferedIds, servers, maxAgeMs, fixed) => {
          const clock = { ms: 0 };
          const f = manualFetch(clock);
          const policy = fixed
            ? new FixedRefillPolicy(Math.min(maxBufferedIds, 40), 0)
            : new AdaptiveRefillPolicy({ maxAgeMs, maxBufferedIds, servers });
          const pool = new PrefetchPool(policy, maxAgeMs, { fetch: f.fetch, now: () => clock.ms });
          const handed: { id: bigint; atMs: number; askedAtMs: number }[] = [];
          const outcomes: Promise<void>[] = [];
          /** Refusals: from which request on the pool knew a server's max. */
          const limits: { from: number; max: number }[] = [];
          const take = () => {
            const askedAtMs = clock.ms;
            outcomes.push(
              pool.take().then(
                (id) => {
                  handed.push({ id, atMs: clock.ms, askedAtMs });
                },
                () => undefined,
              ),
            );
          };
          const checkLevels = () => {
            const s = pool.stats();
            if (!fixed) {
              expect(s.buffered + s.inFlightIds).toBeLessThanOrEqual(maxBufferedIds);
              expect(s.inFlightRefills).toBeLessThanOrEqual(4 * servers);
            }
            expect(f.requests.every((n) => n >= 1)).toBe(true);
          };
          for (const c of commands) {
            if (c.kind === 'take') take();
            else if (c.kind === 'tryTake') {
              for (let i = 0; i < c.times; i++) {
                const id = pool.tryTake();
                if (id !== undefined) handed.push({ id, atMs: clock.ms, askedAtMs: clock.ms });
              }
            } else if (c.kind === 'advance') clock.ms += c.ms;
            else if (f.pending.length > 0) {
              const index = c.pick % f.pending.length;
              if (c.kind === 'answer') f.answer(index);
              else if (c.batchLimit !== undefined && !fixed && f.pending[index]!.count > 1) {
                // A server refuses a count above its max_batch_size, so max < the count asked.
                const max = Math.min(c.batchLimit, f.pending[index]!.count - 1);
                f.fail(
                  new IdClientError('INVALID_ARGUMENT', 'too many', {
                    serverCode: 'BATCH_SIZE_OUT_OF_RANGE',
                    errorInfo: {
                      reason: 'BATCH_SIZE_OUT_OF_RANGE',
                      domain: 'snowflake.v1',
                      metadata: { max: String(max) },
                    },
                  }),
                  index,
                );
                limits.push({ from: f.requests.length, max });
              } else f.fail(new IdClientError('ALL_SERVERS_UNAVAILABLE', 'down'), index);
            }
            await settle();
            checkLevels();
          }
          // Liveness: with every refill answered at once, every caller still waiting gets an ID.
          for (let i = 0; i < 1000 && f.pending.length > 0; i++) {
            f.answer();
            await settle();
            checkLevels();
          }
          expect(f.pending).toHaveLength(0);
          await Promise.all(outcomes);

          const ids = handed.map((h) => h.id);
          expect(new Set(ids).size).toBe(ids.length);
          for (const h of handed) {
            const fetchedAt = f.fetchedAt.get(h.id)!;
            if (h.atMs - fetchedAt > maxAgeMs) expect(fetchedAt).toBeGreaterThanOrEqual(h.askedAtMs);
          }
          // After a refusal that said `max`, no request asked for more than the smallest max said so far.
          f.requests.forEach((n, i) => {
            const known = limits.filter((l) => l.from <= i).map((l) => l.max);
            expect(n).toBeLessThanOrEqual(Math.min(Infinity, ...known));
          });
          pool.close(new IdClientError('CLIENT_CLOSED', 'closed'));
        },
      ),
      { numRuns: 300 },
    );
  });
});
