import type { Clock } from '../../src/core/clock';
import type { Scheduler } from '../../src/engine/issuer';

/** A clock that only moves when told to. */
export class FakeClock implements Clock {
  constructor(public ms: number) {}

  nowMs(): number {
    return this.ms;
  }

  /** Moves the clock by `ms` (negative = step back). */
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** A scheduler whose sleeps advance `clock` by exactly the requested time and resolve at once. */
export function fastForwardScheduler(clock: FakeClock): Scheduler & { slept: number[] } {
  const slept: number[] = [];
  return {
    slept,
    sleep(ms) {
      slept.push(ms);
      clock.advance(ms);
      return Promise.resolve();
    },
  };
}
