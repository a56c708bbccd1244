import type { EventLoop } from './event-loop';
import type { Prng } from './prng';

/** Named counters (faults injected, refusals, …), summed over schedules for the report. */
export type Counters = Record<string, number>;

/** Adds `n` to counter `name`. */
export function count(counters: Counters, name: string, n = 1): void {
  counters[name] = (counters[name] ?? 0) + n;
}

/** Adds every counter of `from` into `into`. */
export function addCounters(into: Counters, from: Readonly<Counters>): void {
  for (const [name, n] of Object.entries(from)) count(into, name, n);
}

/** What every simulated component of one schedule shares. */
export interface World {
  readonly loop: EventLoop;
  readonly rng: Prng;
  /** Faults injected, by kind (`fault.*`), and what they led to (`event.*`, `refused.*`). */
  readonly counters: Counters;
  /** Set by anything that settles a promise, so the loop lets the continuations run before the next event. */
  dirty: boolean;
  /** No faults at all, not even slow network messages. */
  readonly calm: boolean;
  /** Event log, only when replaying with --trace. */
  readonly trace: ((line: string) => void) | undefined;
}
