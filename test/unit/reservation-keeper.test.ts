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
