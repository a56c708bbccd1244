import { IdCodec } from '../../src/core/codec';
import { Generator } from '../../src/core/generator';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { ReservationUnavailableError } from '../../src/errors';
import { ReservationKeeper, type ReservationStore } from '../../src/state/reservation-keeper';
import { FakeClock } from '../helpers/fake-clock';

const T0 = DEFAULT_LAYOUT.epochMs + 10_000_000;

function setup(persisted = 0) {
  const clock = new FakeClock(T0);
  const writes: number[] = [];
  let fail: Error | undefined;
  const store: ReservationStore = {
    description: 'memory',
    write: (ms) => (fail ? Promise.reject(fail) : (writes.push(ms), Promise.resolve())),
  };
  const gen = new Generator(new IdCodec(DEFAULT_LAYOUT), { datacenterId: 0, workerId: 0 }, clock, {
    maxBackwardsMs: 10,
  });
  gen.restoreFloor(persisted);
  const keeper = new ReservationKeeper(store, () => clock.nowMs(), gen, { aheadMs: 2000 });
  keeper.init(persisted);
  return { clock, gen, keeper, writes, setFail: (e: Error | undefined) => (fail = e) };
}

describe('ReservationKeeper', () => {
  it('GIVEN no reservation THEN the generator waits at the ceiling until one is persisted', async () => {
    const { gen, keeper, writes } = setup();
    expect(gen.allocate(1)).toEqual({ kind: 'wait', reason: 'reservation', ms: 0 });
    await keeper.ensureCovers();
    expect(writes).toEqual([T0 + 2000]);
    expect(gen.allocate(1).kind).toBe('ids');
  });

  it.each([
    // [ms elapsed since the last write, renews?]
    [500, false],
    [999, false],
    [1001, true],
  ])('GIVEN %d ms since a 2000 ms reservation THEN maybeRenew writes: %s', async (elapsed, renews) => {
    const { clock, keeper, writes } = setup();
    await keeper.ensureCovers();
    clock.advance(elapsed);
    await keeper.maybeRenew();
    expect(writes.length).toBe(renews ? 2 : 1);
  });

  it('GIVEN the clock reaches the reservation THEN no ID is issued at or past it', async () => {
    const { clock, gen, keeper } = setup();
    await keeper.ensureCovers();
    clock.advance(2000);
    expect(gen.allocate(1)).toMatchObject({ kind: 'wait', reason: 'reservation' });
  });

  it('GIVEN writes fail THEN ensureCovers refuses with ReservationUnavailableError, and recovers when they succeed', async () => {
    const { keeper, setFail, gen } = setup();
    setFail(new Error('ENOSPC: no space left on device'));
    await expect(keeper.ensureCovers()).rejects.toThrow(ReservationUnavailableError);
    await expect(keeper.ensureCovers()).rejects.toThrow(/ENOSPC/);
    setFail(undefined);
    await keeper.ensureCovers();
    expect(keeper.failure).toBeUndefined();
    expect(gen.allocate(1).kind).toBe('ids');
  });

  it('GIVEN a restart from a persisted reservation THEN every new ID is at or after it', async () => {
    const persisted = T0 + 5000;
    const { clock, gen, keeper } = setup(persisted);
    clock.advance(5000); // the clock reaches the old reservation
    await keeper.ensureCovers();
    const r = gen.allocate(1);
    expect(r).toMatchObject({ kind: 'ids', firstSequence: 0 });
    if (r.kind === 'ids') expect(DEFAULT_LAYOUT.epochMs + r.tick).toBeGreaterThanOrEqual(persisted);
  });

  it('GIVEN shutdown THEN finalize persists exactly what was issued', async () => {
    const { gen, keeper, writes } = setup();
    await keeper.ensureCovers();
    const r = gen.allocate(1);
    await keeper.finalize();
    if (r.kind === 'ids') expect(writes.at(-1)).toBe(DEFAULT_LAYOUT.epochMs + r.tick + 1);
  });
});

describe('ReservationKeeper with a write that hangs', () => {
  function hangingSetup() {
    const clock = new FakeClock(T0);
    const started: number[] = [];
    let finish: (() => void) | undefined;
    const store: ReservationStore = {
      description: 'a stuck disk',
      write: (ms) => {
        started.push(ms);
        return new Promise<void>((resolve) => (finish = resolve));
      },
    };
    const gen = new Generator(new IdCodec(DEFAULT_LAYOUT), { datacenterId: 0, workerId: 0 }, clock, {
      maxBackwardsMs: 10,
    });
    const keeper = new ReservationKeeper(store, () => clock.nowMs(), gen, {
      aheadMs: 2000,
      writeTimeoutMs: 1000,
      sleep: (ms) => {
        clock.advance(ms);
        return Promise.resolve();
      },
    });
    keeper.init(0);
    return { clock, gen, keeper, started, finish: () => finish?.() };
  }

  it('GIVEN a write that never completes THEN ensureCovers refuses after writeTimeoutMs instead of hanging, and no second write starts', async () => {
    const { keeper, gen, started } = hangingSetup();
    await expect(keeper.ensureCovers()).rejects.toThrow(/has not completed within 1000 ms/);
    expect(keeper.failure?.message).toMatch(/a stuck disk has not completed within 1000 ms/);
    await expect(keeper.ensureCovers()).rejects.toThrow(ReservationUnavailableError);
    expect(started).toHaveLength(1); // writes never overlap, so they can never land out of order
    expect(gen.allocate(1)).toMatchObject({ kind: 'wait', reason: 'reservation' });
  });

  it('GIVEN the stuck write completes later THEN the failure clears and IDs flow', async () => {
    const { keeper, gen, finish, started } = hangingSetup();
    await expect(keeper.ensureCovers()).rejects.toThrow(ReservationUnavailableError);
    finish();
    await keeper.maybeRenew(); // the settled write leaves nothing pending
    await Promise.resolve();
    expect(keeper.failure).toBeUndefined();
    expect(keeper.reservedUntilMs).toBe(started[0]);
    expect(gen.allocate(1).kind).toBe('ids');
  });

  it('GIVEN a write still in progress THEN the ceiling has not moved: no ID until the write is durable', async () => {
    const { gen, keeper, finish, started } = hangingSetup();
    const write = keeper.maybeRenew();
    expect(started).toHaveLength(1);
    expect(gen.allocate(1)).toMatchObject({ kind: 'wait', reason: 'reservation' });
    finish();
    await write;
    expect(gen.allocate(1).kind).toBe('ids');
  });

  it('GIVEN a write runs longer than writeTimeoutMs THEN failure reports the stall even before anyone waits on it', () => {
    const { clock, keeper } = hangingSetup();
    void keeper.maybeRenew();
    expect(keeper.failure).toBeUndefined();
    clock.advance(1001);
    expect(keeper.failure?.message).toMatch(/has not completed within 1000 ms/);
  });

  it('GIVEN finalize with a stuck write THEN it gives up after writeTimeoutMs', async () => {
    const { keeper, started } = hangingSetup();
    void keeper.maybeRenew();
    await keeper.finalize();
    expect(started).toHaveLength(1);
    expect(keeper.failure).toBeDefined();
  });
});
