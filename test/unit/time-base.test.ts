import { STEP_THRESHOLD_MS, TimeBase, type SkewAction } from '../../src/core/time-base';
import { ClockSkewError } from '../../src/errors';
import { FakeClock } from '../helpers/fake-clock';

const T0 = Date.UTC(2026, 0, 1);

function setup(maxSkewMs = 1000) {
  const wall = new FakeClock(T0);
  const mono = new FakeClock(500);
  const events: [number, number, SkewAction, boolean][] = [];
  const base = new TimeBase({ wallMs: () => wall.nowMs(), monotonicMs: () => mono.nowMs() }, maxSkewMs, {
    skewChanged: (c) => events.push([c.skewMs, c.stepMs, c.action, c.stepped]),
  });
  /** Both clocks move on by `ms` (real time passing). */
  const elapse = (ms: number) => {
    wall.advance(ms);
    mono.advance(ms);
  };
  return { wall, mono, base, events, elapse };
}

describe('TimeBase', () => {
  it.each([
    ['no name (the core default)', undefined, 'more than maxSkewMs=1000;'],
    [
      "the caller's name for it",
      'SNOWFLAKE_MAX_CLOCK_SKEW_MS',
      'more than SNOWFLAKE_MAX_CLOCK_SKEW_MS=1000;',
    ],
  ])('GIVEN %s for the bound THEN a refusal names it so', (_n, name, named) => {
    const wall = new FakeClock(T0);
    const base = new TimeBase({ wallMs: () => wall.nowMs(), monotonicMs: () => 0 }, 1000, {}, name);
    base.nowMs();
    wall.advance(-5000);
    expect(() => base.nowMs()).toThrow(named);
  });

  it('GIVEN steady clocks THEN it returns wall time at start plus monotonic elapsed time', () => {
    const { base, elapse, events } = setup();
    expect(base.nowMs()).toBe(T0);
    elapse(1234.5);
    expect(base.nowMs()).toBe(T0 + 1234.5);
    expect(events).toEqual([]);
  });

  it.each([
    // [description, wall step ms, expected base after the step, refuses, action]
    ['a small step back', -300, T0 + 100, false, 'tolerated'],
    ['a small step forward', 800, T0 + 100, false, 'tolerated'],
    ['exactly the bound back', -1000, T0 + 100, false, 'tolerated'],
    ['a large step forward', 5000, T0 + 5100, false, 'reanchored-forward'],
    ['a large step back', -30_000, T0 + 100, true, 'refusing'],
  ] as const)(
    'GIVEN %s (%d ms) THEN base %d, refusing %s, reported as %s',
    (_n, step, expected, refuses, action) => {
      const { base, wall, elapse, events } = setup();
      base.nowMs();
      elapse(100);
      wall.advance(step);
      if (refuses) {
        expect(() => base.nowMs()).toThrow(ClockSkewError);
        expect(() => base.nowMs()).toThrow(/wall clock is 30000 ms behind the ID time base/);
        expect(base.peekMs()).toBe(expected);
      } else {
        expect(base.nowMs()).toBe(expected);
      }
      expect(events.map((e) => e[2])).toEqual([action]);
      expect(events[0]![1]).toBe(step);
    },
  );

  it('GIVEN a large step back THEN it never returns a time below one it returned, and re-anchors once the wall passes it', () => {
    const { base, wall, elapse } = setup();
    elapse(1000);
    const highest = base.nowMs(); // T0 + 1000
    wall.advance(-30_000);
    for (const ms of [1000, 10_000, 18_999]) {
      elapse(ms);
      expect(() => base.nowMs()).toThrow(ClockSkewError);
    }
    elapse(2); // wall = highest + 1
    const after = base.nowMs();
    expect(after).toBe(wall.nowMs());
    expect(after).toBeGreaterThan(highest);
    expect(base.skewMs).toBe(0);
  });

  it('GIVEN a tolerated step THEN the base keeps the monotonic pace and the skew is reported once', () => {
    const { base, wall, elapse, events } = setup();
    wall.advance(-500);
    for (let i = 0; i < 10; i++) {
      elapse(10);
      base.nowMs();
    }
    expect(base.skewMs).toBe(-500);
    expect(events).toHaveLength(1);
  });

  it('GIVEN read jitter of a few ms either way THEN nothing is reported (no step counted or logged)', () => {
    const { base, wall, elapse, events } = setup();
    // Offsets seen on an idle machine: the two clocks read at slightly different instants.
    for (const jitter of [-2, 3, -6, 5, -4, 6, -1, 2, -5, 0]) {
      elapse(100);
      wall.advance(jitter);
      base.nowMs();
      wall.advance(-jitter);
    }
    expect(events).toEqual([]);
  });

  it.each([
    // [wall step ms, reported, stepped]
    [-(STEP_THRESHOLD_MS - 1), false, false],
    [-STEP_THRESHOLD_MS, true, true],
    [STEP_THRESHOLD_MS - 1, false, false],
    [STEP_THRESHOLD_MS, true, true],
    [-200, true, true],
  ] as const)(
    'GIVEN a step of %d ms within the bound THEN reported %s, as a step %s',
    (step, reported, stepped) => {
      const { base, wall, elapse, events } = setup();
      base.nowMs();
      elapse(100);
      wall.advance(step);
      base.nowMs();
      expect(events).toEqual(reported ? [[step, step, 'tolerated', stepped]] : []);
    },
  );

  it('GIVEN small changes that add up to the threshold THEN they are reported once, as one step of their sum', () => {
    const { base, wall, elapse, events } = setup();
    for (let i = 0; i < 5; i++) {
      elapse(100);
      wall.advance(-10);
      base.nowMs();
    }
    expect(events).toEqual([[-50, -50, 'tolerated', true]]);
  });

  it('GIVEN maxSkewMs below the threshold THEN a step past the bound is a step (the threshold follows the bound)', () => {
    const { base, wall, elapse, events } = setup(20);
    base.nowMs();
    elapse(10);
    wall.advance(-25); // behind the time already returned, so refused
    expect(() => base.nowMs()).toThrow(ClockSkewError);
    expect(events).toEqual([[-25, -25, 'refusing', true]]);
  });

  it('GIVEN the skew creeps past the bound in steps below the threshold THEN the refusal and its end are still reported', () => {
    const { base, wall, elapse, events } = setup(1000);
    base.nowMs();
    elapse(100);
    wall.advance(-980);
    base.nowMs();
    wall.advance(-30); // skew −1010: refusing, though only 30 ms from the last report
    expect(() => base.nowMs()).toThrow(ClockSkewError);
    wall.advance(20); // skew −990: serving again
    expect(base.nowMs()).toBe(T0 + 100);
    expect(events).toEqual([
      [-980, -980, 'tolerated', true],
      [-1010, -30, 'refusing', false],
      [-990, 20, 'tolerated', false],
    ]);
  });

  it('GIVEN a refusal THEN the catch-up re-anchoring is reported once and is not followed by a phantom step', () => {
    const { base, wall, elapse, events } = setup();
    elapse(1000);
    base.nowMs();
    wall.advance(-30_000);
    expect(() => base.nowMs()).toThrow(ClockSkewError);
    elapse(30_001);
    base.nowMs();
    for (let i = 0; i < 5; i++) {
      elapse(100);
      base.nowMs();
    }
    expect(events.map(([, , action, stepped]) => [action, stepped])).toEqual([
      ['refusing', true],
      ['reanchored-after-catch-up', false],
    ]);
  });
});

describe('TimeBase reading its two clocks', () => {
  /** Clocks where the thread can be descheduled for `pauseMs` right after its next wall read. */
  function pausable(maxSkewMs = 1000) {
    const wall = new FakeClock(T0);
    const mono = new FakeClock(500);
    const pauses: number[] = [];
    const reads = { wall: 0, mono: 0 };
    const events: [number, SkewAction, boolean][] = [];
    const base = new TimeBase(
      {
        wallMs: () => {
          reads.wall++;
          const w = wall.nowMs();
          const pauseMs = pauses.shift() ?? 0;
          wall.advance(pauseMs);
          mono.advance(pauseMs);
          return w;
        },
        monotonicMs: () => {
          reads.mono++;
          return mono.nowMs();
        },
      },
      maxSkewMs,
      { skewChanged: (c) => events.push([c.stepMs, c.action, c.stepped]) },
    );
    return { wall, mono, base, pauses, reads, events };
  }

  it.each([
    ['a pause past the step threshold', STEP_THRESHOLD_MS + 30],
    ['a pause past the skew bound', 1500],
  ])(
    'GIVEN %s between the wall and the monotonic read THEN no step is reported and nothing is refused',
    (_name, pauseMs) => {
      const { base, pauses, events } = pausable();
      expect(base.nowMs()).toBe(T0);
      pauses.push(pauseMs);
      expect(base.nowMs()).toBe(T0 + pauseMs);
      expect(base.isRefusing).toBe(false);
      expect(events).toEqual([]);
    },
  );

  it('GIVEN a real step back THEN the careful read confirms it and it is reported once', () => {
    const { base, wall, events } = pausable();
    base.nowMs();
    wall.advance(-200);
    base.nowMs();
    base.nowMs();
    expect(events).toEqual([[-200, 'tolerated', true]]);
  });

  it('GIVEN steady clocks THEN each reading reads each clock once', () => {
    const { base, reads } = pausable();
    for (let i = 0; i < 10; i++) base.nowMs();
    // The constructor reads both once; the bracketed read is only for readings that look like a step.
    expect(reads).toEqual({ wall: 11, mono: 11 });
  });

  it('GIVEN every bracketed read is paused THEN it gives up after a bounded number of attempts', () => {
    const { base, pauses, reads } = pausable();
    base.nowMs();
    for (let i = 0; i < 100; i++) pauses.push(80);
    base.nowMs();
    expect(reads.wall).toBeLessThan(10);
  });
});
