import { IdCodec } from '../../src/core/codec';
import { Generator } from '../../src/core/generator';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { CancelledError, ClockMovedBackwardsError } from '../../src/errors';
import { IdIssuer, timerScheduler, type Scheduler } from '../../src/issuer';
import { FakeClock, fastForwardScheduler } from '../helpers/fake-clock';

const codec = new IdCodec(DEFAULT_LAYOUT);
const T0 = DEFAULT_LAYOUT.epochMs + 5_000_000;

function setup(scheduler?: (clock: FakeClock) => Scheduler) {
  const clock = new FakeClock(T0);
  const gen = new Generator(codec, { datacenterId: 0, workerId: 3 }, clock, { maxBackwardsMs: 10 });
  const issued: number[] = [];
  const availability: boolean[] = [];
  const issuer = new IdIssuer(
    gen,
    scheduler ? scheduler(clock) : fastForwardScheduler(clock),
    {
      issued: (n) => issued.push(n),
      availabilityChanged: (available) => availability.push(available),
    },
    { recoveryCheckMs: 5 },
  );
  return { clock, issuer, issued, availability };
}

const isStrictlyAscending = (ids: bigint[]) => ids.every((id, i) => i === 0 || id > ids[i - 1]!);

describe('IdIssuer', () => {
  it.each([1, 4096, 4097, 10_000, 100_000])(
    'GIVEN a frozen-then-advancing clock THEN batch(%d) returns exactly that many strictly ascending IDs across ticks',
    async (count) => {
      const { issuer, issued } = setup();
      const ids = await issuer.batch(count);
      expect(ids).toHaveLength(count);
      expect(isStrictlyAscending(ids)).toBe(true);
      expect(new Set(ids.map((id) => codec.decode(id).tick)).size).toBe(Math.ceil(count / 4096));
      expect(issued.reduce((a, b) => a + b, 0)).toBe(count);
    },
  );

  it('GIVEN interleaved next() and batch() calls THEN every ID is unique', async () => {
    const { issuer } = setup();
    const results = await Promise.all([issuer.batch(5000), issuer.next(), issuer.batch(3000), issuer.next()]);
    const all = results.flat();
    expect(new Set(all).size).toBe(all.length);
  });

  it('GIVEN the sequence is used up and the clock frozen THEN waiting does not block the event loop', async () => {
    const { issuer, clock } = setup(() => timerScheduler);
    await issuer.batch(4096);
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
    const { issuer, clock, availability } = setup();
    const before = await issuer.next();
    clock.advance(-8);
    const after = await issuer.next();
    expect(after > before).toBe(true);
    expect(availability).toEqual([]);
  });

  it('GIVEN the clock steps back beyond the bound THEN it refuses, reports unavailable, and recovers when the clock catches up', async () => {
    const { issuer, clock, availability } = setup(() => timerScheduler);
    const before = await issuer.next();
    clock.advance(-1000);
    await expect(issuer.next()).rejects.toBeInstanceOf(ClockMovedBackwardsError);
    expect(issuer.available).toBe(false);
    expect(availability).toEqual([false]);
    clock.advance(1000);
    for (let i = 0; i < 100 && !issuer.available; i++) await new Promise((r) => setTimeout(r, 5));
    expect(availability).toEqual([false, true]);
    expect((await issuer.next()) > before).toBe(true);
    issuer.close();
  });

  it.each([1, 4096, 4097, 10_000])(
    'GIVEN the same clock THEN batchInto(%d) writes, as little-endian uint64s, exactly the IDs batch returns',
    async (count) => {
      const reference = setup();
      const fast = setup();
      const ids = await reference.issuer.batch(count);
      const out = new DataView(new ArrayBuffer(3 + count * 8));
      await fast.issuer.batchInto(count, out, 3);
      const written = Array.from({ length: count }, (_, i) => out.getBigUint64(3 + i * 8, true));
      expect(written).toEqual(ids);
      expect(fast.issued).toEqual(reference.issued);
    },
  );

  it('GIVEN several calls waiting for the next tick THEN they share one sleep and take whole ticks in arrival order', async () => {
    const sleeps: { ms: number; wake: () => void }[] = [];
    const { issuer, clock } = setup(() => ({
      sleep: (ms) => new Promise<void>((wake) => sleeps.push({ ms, wake })),
    }));
    const settle = async () => {
      for (let i = 0; i < 20; i++) await Promise.resolve();
    };
    clock.advance(0.5);
    const calls = [issuer.batch(4096), issuer.batch(4096), issuer.next(), issuer.batch(100)];
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
    await expect(issuer.batch(5000, () => true)).rejects.toBeInstanceOf(CancelledError);
  });
});
