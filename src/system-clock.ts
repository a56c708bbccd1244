import type { Clock } from './core/clock';

/** The operating system's wall clock (Date.now), in Unix ms. */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
};
