import {
  AdaptiveRefillPolicy,
  ASSUMED_MAX_BATCH_SIZE,
  MIN_HOLD_MS,
  REFILL_INTERVAL_MS,
  REFILLS_IN_FLIGHT_PER_SERVER,
  type AdaptivePolicyOptions,
  type PoolLevels,
} from '../../packages/client/src/prefetch-policy';

const DEFAULTS: AdaptivePolicyOptions = { maxAgeMs: 5000, maxBufferedIds: 250_000, servers: 1 };

/**
 * A policy driven by a consumer on a fake clock: `consume(ratePerMs, ms)` advances time in 1 ms steps,
 * adds that demand, and asks the policy at each step (as the pool does on takes below its low-water mark).
 */
function driven(options: Partial<AdaptivePolicyOptions> = {}) {
  const policy = new AdaptiveRefillPolicy({ ...DEFAULTS, ...options });
  const t = { ms: 0, demanded: 0 };
  const levels = (over: Partial<PoolLevels> = {}): PoolLevels => ({
    buffered: 0,
    inFlightIds: 0,
    inFlightRefills: 0,
    waiting: 0,
    demanded: t.demanded,
    ...over,
  });
  return {
    policy,
    t,
    levels,
    consume(ratePerMs: number, ms: number): void {
      for (let i = 0; i < ms; i++) {
        t.ms += 1;
        t.demanded += ratePerMs;
        policy.refillSize(levels({ buffered: Infinity }), t.ms);
      }
    },
    idle(ms: number): void {
      t.ms += ms;
      policy.refillSize(levels({ buffered: Infinity }), t.ms);
    },
  };
}

/** `actual` within ±3 % of `expected`. */
function near(actual: number, expected: number): void {
  expect(actual).toBeGreaterThanOrEqual(expected * 0.97);
  expect(actual).toBeLessThanOrEqual(expected * 1.03);
}

describe('AdaptiveRefillPolicy (fake clock)', () => {
  it.each([
    // IDs/ms, low-water mark (MIN_HOLD_MS of demand), batch (REFILL_INTERVAL_MS of demand, ≤ 10,000), in flight
    [1, 1 * MIN_HOLD_MS, 1 * REFILL_INTERVAL_MS, 1],
    [10, 10 * MIN_HOLD_MS, 10 * REFILL_INTERVAL_MS, 1],
    [100, 100 * MIN_HOLD_MS, 100 * REFILL_INTERVAL_MS, 1],
    [1000, 1000 * MIN_HOLD_MS, ASSUMED_MAX_BATCH_SIZE, 4],
  ])('grows with demand: %d IDs/ms → low-water %d, batch %d, %d in flight', (rate, low, batch, inFlight) => {
    const d = driven();
    d.consume(rate, 500);
    near(d.policy.plan.lowWaterMark, low);
    near(d.policy.plan.batchSize, batch);
    expect(d.policy.plan.maxRefillsInFlight).toBe(inFlight);
    near(d.policy.demandPerSecond, rate * 1000);
  });

  it('shrinks when demand stops: after 5 s idle it plans for under 1 % of the old demand', () => {
    const d = driven();
    d.consume(1000, 500);
    const busy = d.policy.plan;
    d.idle(5000);
    expect(d.policy.plan.lowWaterMark).toBeLessThan(busy.lowWaterMark / 100);
    expect(d.policy.plan.batchSize).toBeLessThan(busy.batchSize / 10);
    expect(d.policy.plan.maxRefillsInFlight).toBe(1);
  });

  it('does not shrink for a pause of 10 ms', () => {
    const d = driven();
    d.consume(100, 500);
    const busy = d.policy.plan.lowWaterMark;
    d.idle(10);
    expect(d.policy.plan.lowWaterMark).toBeGreaterThan(busy * 0.98);
  });

  it('holds a few round trips of demand when round trips are long', () => {
    const d = driven();
    for (let i = 0; i < 60; i++) d.policy.refilled(200);
    d.consume(10, 500);
    expect(d.policy.roundTripMs).toBeCloseTo(200, 5);
    // 4 round trips of 200 ms (their deviation decayed to ~0) at 10 IDs/ms.
    near(d.policy.plan.lowWaterMark, 10 * 4 * 200);
  });

  it.each([100, 1000, 20])('with maxAgeMs %d, hold plus one refill is at most half of it', (maxAgeMs) => {
    const d = driven({ maxAgeMs });
    d.consume(100, 500);
    const { lowWaterMark, batchSize } = d.policy.plan;
    expect(lowWaterMark + batchSize).toBeLessThanOrEqual(100 * maxAgeMs * 0.5 + 2);
  });

  it('respects the servers max_batch_size, the smallest learned one', () => {
    const d = driven({ maxBufferedIds: 1_000_000 });
    d.consume(2000, 500);
    expect(d.policy.plan.batchSize).toBe(ASSUMED_MAX_BATCH_SIZE);
    d.policy.limitBatchSize(100_000);
    expect(d.policy.plan.batchSize).toBe(100_000);
    d.policy.limitBatchSize(500);
    d.policy.limitBatchSize(2000);
    expect(d.policy.plan.batchSize).toBe(500);
    expect(d.policy.refillSize(d.levels({ waiting: 10_000 }), d.t.ms)).toBe(500);
  });

  it('never plans past the memory cap: low-water mark plus one refill fit in maxBufferedIds', () => {
    const d = driven({ maxBufferedIds: 5000 });
    d.consume(1000, 500);
    // At most half the cap per refill; the low-water mark leaves room for one.
    expect(d.policy.plan).toMatchObject({ lowWaterMark: 2500, batchSize: 2500, maxRefillsInFlight: 1 });
    expect(d.policy.refillSize(d.levels(), d.t.ms)).toBe(2500);
    expect(d.policy.refillSize(d.levels({ buffered: 2499 }), d.t.ms)).toBe(2500);
    // Callers waiting beyond the cap are served as in-flight refills land, never by exceeding it.
    expect(
      d.policy.refillSize(d.levels({ inFlightIds: 5000, inFlightRefills: 1, waiting: 9000 }), d.t.ms),
    ).toBe(0);
    expect(
      d.policy.refillSize(d.levels({ inFlightIds: 3000, inFlightRefills: 1, waiting: 9000 }), d.t.ms),
    ).toBe(0);
  });

  it.each([1, 2, 5000, 250_000])(
    'held at a memory cap of %d it refills a whole batch, not one ID per take',
    (maxBufferedIds) => {
      const d = driven({ maxBufferedIds });
      d.consume(10_000, 500);
      const { lowWaterMark, batchSize } = d.policy.plan;
      expect(lowWaterMark + batchSize).toBeLessThanOrEqual(Math.max(2, maxBufferedIds));
      // Just below the low-water mark, with the rest of the cap buffered or in flight.
      const size = d.policy.refillSize(d.levels({ buffered: lowWaterMark - 1 }), d.t.ms);
      expect(size).toBe(batchSize);
      expect(lowWaterMark - 1 + size).toBeLessThanOrEqual(maxBufferedIds);
    },
  );

  it.each([1, 2, 3])('spreads over %d server(s): up to 4 refills in flight per server', (servers) => {
    const d = driven({ servers });
    d.consume(4000, 500);
    expect(d.policy.plan.maxRefillsInFlight).toBe(REFILLS_IN_FLIGHT_PER_SERVER * servers);
    // As the pool does: ask again after each refill it starts, until the policy says 0.
    const started: number[] = [];
    for (let i = 0; i < 100; i++) {
      const inFlightIds = started.reduce((a, b) => a + b, 0);
      const size = d.policy.refillSize(d.levels({ inFlightIds, inFlightRefills: started.length }), d.t.ms);
      if (size === 0) break;
      started.push(size);
    }
    expect(started).toEqual(Array.from({ length: 4 * servers }, () => ASSUMED_MAX_BATCH_SIZE));
  });

  it('starts no refill while buffered + in flight − waiting covers the low-water mark', () => {
    const d = driven();
    d.consume(10, 500);
    const low = d.policy.plan.lowWaterMark;
    expect(d.policy.refillSize(d.levels({ buffered: low }), d.t.ms)).toBe(0);
    expect(d.policy.refillSize(d.levels({ inFlightIds: low, inFlightRefills: 1 }), d.t.ms)).toBe(0);
    expect(d.policy.refillSize(d.levels({ buffered: low - 1 }), d.t.ms)).toBe(d.policy.plan.batchSize);
  });

  it('asks for enough to serve every waiting caller and the low-water mark', () => {
    const d = driven();
    d.consume(1, 500);
    const { lowWaterMark } = d.policy.plan;
    expect(d.policy.refillSize(d.levels({ waiting: 700 }), d.t.ms)).toBe(700 + lowWaterMark);
  });

  it('a caller waiting doubles the demand estimate, once per answered refill', () => {
    const d = driven();
    d.consume(10, 500);
    const before = d.policy.demandPerSecond;
    d.policy.starved();
    expect(d.policy.demandPerSecond).toBe(before);
    d.policy.refilled(1);
    d.policy.starved();
    d.policy.starved();
    expect(d.policy.demandPerSecond).toBe(2 * before);
  });

  it('stops doubling where every limit binds, so a long wait does not leave a huge estimate', () => {
    const d = driven({ maxBufferedIds: 1000 });
    for (let i = 0; i < 200; i++) {
      d.policy.refilled(1);
      d.policy.starved();
    }
    expect(Number.isFinite(d.policy.demandPerSecond)).toBe(true);
    // 1,000 IDs per 100 ms hold (or 1,000 per 100 ms batch interval): 10 IDs/ms.
    expect(d.policy.demandPerSecond).toBeLessThanOrEqual(10_000);
  });
});
