import { IdClientError } from '../../src/client/errors';
import type { ExpiredEvent, RefillEvent } from '../../src/client/hooks';
import { FixedRefillPolicy } from '../../src/client/prefetch-policy';
import { PrefetchPool, type PrefetchPoolDeps } from '../../src/client/prefetch-pool';

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
