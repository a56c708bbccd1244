import { IdCodec } from '../../src/core/codec';
import { Generator } from '../../src/core/generator';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { CancelledError, ClockMovedBackwardsError, StartingError, type RefusalError } from '../../src/errors';
import { IdIssuer, type Scheduler } from '../../src/engine/issuer';
import { timerScheduler } from '../../src/precise-timer';
import { batchOf } from '../helpers/batch';
import { recordingObserver } from '../helpers/engine-observer';
import { FakeClock, fastForwardScheduler } from '../helpers/fake-clock';

const codec = new IdCodec(DEFAULT_LAYOUT);
const T0 = DEFAULT_LAYOUT.epochMs + 5_000_000;

function setup(scheduler?: (clock: FakeClock) => Scheduler) {
  const clock = new FakeClock(T0);
  const gen = new Generator(codec, { datacenterId: 0, workerId: 3 }, clock, { maxBackwardsMs: 10 });
  const recorded = recordingObserver();
  const gate: { refusal: RefusalError | undefined } = { refusal: undefined };
  const issuer = new IdIssuer(
    gen,
    scheduler ? scheduler(clock) : fastForwardScheduler(clock),
    recorded.observer,
    {
      gate: () => gate.refusal,
      extendReservation: () => Promise.resolve(),
    },
  );
  const issued = () => recorded.of('issued').reduce((sum, [n]) => sum + n, 0);
  const refused = () => recorded.of('refused').map(([err]) => err.code);
  return { clock, issuer, gate, issued, refused };
}

const isStrictlyAscending = (ids: bigint[]) => ids.every((id, i) => i === 0 || id > ids[i - 1]!);

describe('IdIssuer', () => {
  it.each([1, 4096, 4097, 10_000, 100_000])(
    'GIVEN a frozen-then-advancing clock THEN batchInto(%d) writes exactly that many strictly ascending IDs across ticks',
    async (count) => {
      const { issuer, issued } = setup();
      const ids = await batchOf(issuer, count);
      expect(ids).toHaveLength(count);
      expect(isStrictlyAscending(ids)).toBe(true);
      expect(new Set(ids.map((id) => codec.decode(id).tick)).size).toBe(Math.ceil(count / 4096));
      expect(issued()).toBe(count);
    },
  );

  it.each([1, 4096, 4097, 10_000])(
    'GIVEN the same clock THEN batchInto(%d) writes, as little-endian uint64s, exactly the IDs as many next() calls return',
    async (count) => {
      const reference = setup();
      const fast = setup();
      const ids: bigint[] = [];
      for (let i = 0; i < count; i++) ids.push(await reference.issuer.next());
      expect(await batchOf(fast.issuer, count)).toEqual(ids);
      expect(fast.issued()).toBe(reference.issued());
    },
  );

  it('GIVEN interleaved next() and batchInto() calls THEN every ID is unique', async () => {
    const { issuer } = setup();
    const results = await Promise.all([
      batchOf(issuer, 5000),
      issuer.next(),
      batchOf(issuer, 3000),
      issuer.next(),
    ]);
    const all = results.flat();
    expect(new Set(all).size).toBe(all.length);
  });

  it('GIVEN the sequence is used up and the clock frozen THEN waiting does not block the event loop', async () => {
    const { issuer, clock } = setup(() => timerScheduler);
    await batchOf(issuer, 4096);
    let settled = false;
    const pending = issuer.next().then((id) => {
      settled = true;
      return id;
    });
    // Other work runs while the call waits for the next ms.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 2));
      expect(settled).toBe(false);
    }
    clock.advance(1);
    const id = await pending;
    expect(codec.decode(id)).toMatchObject({ tick: 5_000_001, sequence: 0 });
  });

  it('GIVEN the clock steps back within the bound THEN the call waits and then succeeds', async () => {
    const { issuer, clock, refused } = setup();
    const before = await issuer.next();
    clock.advance(-8);
    const after = await issuer.next();
    expect(after > before).toBe(true);
    expect(refused()).toEqual([]);
  });

  it('GIVEN the clock steps back beyond the bound THEN every call is refused and counted until the clock catches up', async () => {
    const { issuer, clock, refused } = setup();
    const before = await issuer.next();
    clock.advance(-1000);
    await expect(issuer.next()).rejects.toBeInstanceOf(ClockMovedBackwardsError);
    await expect(batchOf(issuer, 3)).rejects.toBeInstanceOf(ClockMovedBackwardsError);
    expect(refused()).toEqual(['CLOCK_MOVED_BACKWARDS', 'CLOCK_MOVED_BACKWARDS']);
    clock.advance(1000);
    expect((await issuer.next()) > before).toBe(true);
  });

  it('GIVEN the gate refuses THEN calls are refused with its error before the generator is asked, and served once it clears', async () => {
    const { issuer, gate, refused, issued } = setup();
    gate.refusal = new StartingError('not yet');
    await expect(issuer.next()).rejects.toBe(gate.refusal);
    await expect(batchOf(issuer, 10)).rejects.toBe(gate.refusal);
    expect({ refused: refused(), issued: issued() }).toEqual({
      refused: ['STARTING', 'STARTING'],
      issued: 0,
    });
    gate.refusal = undefined;
    const id = await issuer.next();
    expect(codec.decode(id)).toMatchObject({ tick: 5_000_000, sequence: 0 });
  });

  it('GIVEN several calls waiting for the next tick THEN they share one sleep and take whole ticks in arrival order', async () => {
    const sleeps: { ms: number; wake: () => void }[] = [];
    const { issuer, clock } = setup(() => ({
      sleep: (ms) => new Promise<void>((wake) => sleeps.push({ ms, wake })),
    }));
    const settle = async () => {
      for (let i = 0; i < 20; i++) await Promise.resolve();
    };
    clock.advance(0.5);
    const calls = [batchOf(issuer, 4096), batchOf(issuer, 4096), issuer.next(), batchOf(issuer, 100)];
    await settle();
    expect(sleeps.map((s) => s.ms)).toEqual([0.5]);
    clock.advance(0.5);
    sleeps[0]!.wake();
    await settle();
    expect(sleeps.map((s) => s.ms)).toEqual([0.5, 1]);
    clock.advance(1);
    sleeps[1]!.wake();
    const [a, b, c, d] = await Promise.all(calls);
    const fields = (ids: bigint[]) => ids.map((id) => codec.decode(id)).map((f) => [f.tick, f.sequence]);
    expect(fields(a as bigint[])[4095]).toEqual([5_000_000, 4095]);
    expect(fields(b as bigint[])[0]).toEqual([5_000_001, 0]);
    expect(fields(b as bigint[])[4095]).toEqual([5_000_001, 4095]);
    expect(fields([c as bigint])).toEqual([[5_000_002, 0]]);
    expect(fields(d as bigint[])[0]).toEqual([5_000_002, 1]);
  });

  it('GIVEN the caller is cancelled while waiting THEN the batch rejects with CancelledError', async () => {
    const { issuer } = setup();
    await expect(batchOf(issuer, 5000, () => true)).rejects.toBeInstanceOf(CancelledError);
  });
});
