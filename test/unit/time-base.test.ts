import { TimeBase, type SkewAction } from '../../src/core/time-base';
import { ClockSkewError } from '../../src/errors';
import { FakeClock } from '../helpers/fake-clock';

const T0 = Date.UTC(2026, 0, 1);

function setup(maxSkewMs = 1000) {
  const wall = new FakeClock(T0);
  const mono = new FakeClock(500);
  const events: [number, number, SkewAction][] = [];
  const base = new TimeBase({ wallMs: () => wall.nowMs(), monotonicMs: () => mono.nowMs() }, maxSkewMs, {
    skewChanged: (skew, step, action) => events.push([skew, step, action]),
  });
  /** Both clocks move on by `ms` (real time passing). */
  const elapse = (ms: number) => {
    wall.advance(ms);
    mono.advance(ms);
  };
  return { wall, mono, base, events, elapse };
}

describe('TimeBase', () => {
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
});
