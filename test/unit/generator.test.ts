import { IdCodec } from '../../src/core/codec';
import { Generator, type Allocation, type Wait } from '../../src/core/generator';
import { DEFAULT_LAYOUT, layoutEndMs, type Layout } from '../../src/core/layout';
import { ClockMovedBackwardsError, TimeOverflowError } from '../../src/errors';
import { FakeClock } from '../helpers/fake-clock';

const EPOCH = DEFAULT_LAYOUT.epochMs;
const T0 = EPOCH + 1_000_000; // tick 1,000,000

function setup(
  opts: { layout?: Layout; maxBackwardsMs?: number; maxBackwardsName?: string; startMs?: number } = {},
) {
  const layout = opts.layout ?? DEFAULT_LAYOUT;
  const clock = new FakeClock(opts.startMs ?? T0);
  const events = { exhausted: [] as number[] };
  const codec = new IdCodec(layout);
  const gen = new Generator(
    codec,
    { datacenterId: 1, workerId: 2 },
    clock,
    { maxBackwardsMs: opts.maxBackwardsMs ?? 10, maxBackwardsName: opts.maxBackwardsName },
    { sequenceExhausted: (tick) => events.exhausted.push(tick) },
  );
  return { clock, gen, codec, events };
}

function ids(gen: Generator, max: number): bigint[] {
  const r = gen.allocate(max);
  if (r.kind !== 'ids') throw new Error(`expected ids, got wait ${r.reason}`);
  return Array.from({ length: r.count }, (_, i) => gen.idAt(r.tick, r.firstSequence + i));
}

function expectWait(r: Allocation | Wait, reason: Wait['reason'], ms: number): void {
  expect(r).toEqual({ kind: 'wait', reason, ms });
}

describe('Generator', () => {
  it('GIVEN a steady clock THEN IDs carry the node IDs, the tick and sequences 0, 1, 2…', () => {
    const { gen, codec } = setup();
    const got = ids(gen, 3).map((id) => codec.decode(id));
    expect(got.map((d) => [d.tick, d.datacenterId, d.workerId, d.sequence])).toEqual([
      [1_000_000, 1, 2, 0],
      [1_000_000, 1, 2, 1],
      [1_000_000, 1, 2, 2],
    ]);
  });

  it('GIVEN the clock moves forward THEN the sequence restarts at 0 and IDs keep increasing', () => {
    const { gen, clock, codec } = setup();
    const first = ids(gen, 5);
    clock.advance(1);
    const second = ids(gen, 1);
    expect(codec.decode(second[0]!).sequence).toBe(0);
    expect(second[0]! > first[4]!).toBe(true);
  });

  it('GIVEN 4,096 IDs used within one ms THEN it waits for the next ms instead of wrapping', () => {
    const { gen, clock, codec, events } = setup();
    clock.advance(0.25);
    expect(ids(gen, 10_000)).toHaveLength(4096);
    expectWait(gen.allocate(1), 'sequence_exhausted', 0.75);
    expectWait(gen.allocate(1), 'sequence_exhausted', 0.75);
    expect(events.exhausted).toEqual([1_000_000]); // reported once per tick
    clock.advance(0.75);
    const next = codec.decode(ids(gen, 1)[0]!);
    expect([next.tick, next.sequence]).toEqual([1_000_001, 0]);
  });

  it('GIVEN several callers THEN runs never overlap and are capped by what is left of the tick', () => {
    const { gen } = setup();
    const runs = [gen.allocate(4000), gen.allocate(200), gen.allocate(1)];
    expect(runs).toEqual([
      { kind: 'ids', tick: 1_000_000, firstSequence: 0, count: 4000 },
      { kind: 'ids', tick: 1_000_000, firstSequence: 4000, count: 96 },
      { kind: 'wait', reason: 'sequence_exhausted', ms: 1 },
    ]);
  });

  describe('clock behind the last issued tick', () => {
    it.each([
      // [description, step back ms, bound ms, expected]
      ['1 ms back, bound 10', -1, 10, 'wait'],
      ['exactly the bound back', -10, 10, 'wait'],
      ['bound + 1 ms back', -11, 10, 'refuse'],
      ['30 s back', -30_000, 10, 'refuse'],
      ['1 ms back with bound 0', -1, 0, 'refuse'],
    ] as const)('GIVEN %s (step %d ms, bound %d ms) THEN it must %s', (_n, step, bound, expected) => {
      const { gen, clock } = setup({ maxBackwardsMs: bound });
      ids(gen, 1);
      clock.advance(step);
      if (expected === 'wait') {
        expectWait(gen.allocate(1), 'clock_behind', -step);
        expect(gen.probe(clock.nowMs())).toBeUndefined();
      } else {
        expect(() => gen.allocate(1)).toThrow(ClockMovedBackwardsError);
        expect(() => gen.allocate(1)).toThrow(`clock is ${-step} ms behind the last issued timestamp`);
        expect(gen.probe(clock.nowMs())).toBeInstanceOf(ClockMovedBackwardsError);
      }
    });

    it.each([
      ['no name (the core default)', undefined, '(maxBackwardsMs)'],
      ["the caller's name for it", 'SNOWFLAKE_MAX_CLOCK_BACKWARDS_MS', '(SNOWFLAKE_MAX_CLOCK_BACKWARDS_MS)'],
    ])('GIVEN %s THEN the refusal names the bound so', (_n, maxBackwardsName, named) => {
      const { gen, clock } = setup({ maxBackwardsMs: 10, maxBackwardsName });
      ids(gen, 1);
      clock.advance(-11);
      expect(() => gen.allocate(1)).toThrow(`more than the 10 ms ${named} this server waits out`);
    });

    it('GIVEN the clock catches up after a wait THEN it continues in the same tick with the next sequence', () => {
      const { gen, clock, codec } = setup();
      const before = ids(gen, 2);
      clock.advance(-5);
      expectWait(gen.allocate(1), 'clock_behind', 5);
      clock.advance(5);
      const after = ids(gen, 1)[0]!;
      expect(codec.decode(after)).toMatchObject({ tick: 1_000_000, sequence: 2 });
      expect(after > before[1]!).toBe(true);
    });

    it('GIVEN a large step back THEN it refuses until the clock catches up, and no ID is older than an earlier one', () => {
      const { gen, clock } = setup();
      const issued: bigint[] = [];
      const steps = [0, 1, 1, -500, 100, 200, 199, 1, 0, 3, -2, 2];
      const outcomes = steps.map((step) => {
        clock.advance(step);
        try {
          const r = gen.allocate(2000);
          if (r.kind === 'wait') return r.reason;
          for (let i = 0; i < r.count; i++) issued.push(gen.idAt(r.tick, r.firstSequence + i));
          return 'ids';
        } catch (err) {
          return err instanceof ClockMovedBackwardsError ? 'refused' : String(err);
        }
      });
      expect(outcomes).toEqual([
        'ids',
        'ids',
        'ids',
        'refused',
        'refused',
        'refused',
        'clock_behind',
        'ids',
        'ids',
        'ids',
        'clock_behind',
        'ids',
      ]);
      const firstOutOfOrder = issued.findIndex((id, i) => i > 0 && id <= issued[i - 1]!);
      expect(firstOutOfOrder).toBe(-1);
    });

    it('GIVEN a frozen clock THEN it issues one tick worth of IDs and then only waits', () => {
      const { gen } = setup();
      let total = 0;
      for (let i = 0; i < 10; i++) {
        const r = gen.allocate(1000);
        if (r.kind === 'ids') total += r.count;
      }
      expect(total).toBe(4096);
    });
  });

  describe('time range', () => {
    const shortLayout: Layout = {
      ...DEFAULT_LAYOUT,
      timestampBits: 20,
      datacenterBits: 15,
      workerBits: 16,
      sequenceBits: 12,
    };

    it('GIVEN the last representable ms THEN it issues IDs with the maximum tick', () => {
      const { gen, codec } = setup({ layout: shortLayout, startMs: layoutEndMs(shortLayout) - 1 });
      expect(codec.decode(ids(gen, 1)[0]!).tick).toBe(2 ** 20 - 1);
    });

    it('GIVEN the clock reaches the end of the range THEN it refuses with TimeOverflowError instead of wrapping', () => {
      const { gen, clock } = setup({ layout: shortLayout, startMs: layoutEndMs(shortLayout) - 1 });
      ids(gen, 1);
      clock.advance(1);
      expect(() => gen.allocate(1)).toThrow(TimeOverflowError);
      expect(() => gen.allocate(1)).toThrow(/past the end of this layout's time range/);
      expect(gen.probe(clock.nowMs())).toBeInstanceOf(TimeOverflowError);
    });

    it('GIVEN a clock before the epoch at start THEN it refuses with TimeOverflowError', () => {
      const { gen } = setup({ startMs: EPOCH - 1 });
      expect(() => gen.allocate(1)).toThrow(/before the layout's epoch/);
    });
  });

  it('GIVEN 10 ms time units THEN ticks advance every 10 ms and waits run to the next 10 ms boundary', () => {
    const layout: Layout = {
      ...DEFAULT_LAYOUT,
      timeUnitMs: 10,
      timestampBits: 41,
      datacenterBits: 15,
      sequenceBits: 2,
    };
    const { gen, clock, codec } = setup({ layout });
    clock.advance(3);
    expect(ids(gen, 10)).toHaveLength(4);
    expectWait(gen.allocate(1), 'sequence_exhausted', 7);
    clock.advance(7);
    expect(codec.decode(ids(gen, 1)[0]!).tick).toBe(100_001);
  });
});
