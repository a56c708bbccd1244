import { performance } from 'node:perf_hooks';
import type { Clock } from './core/clock';
import type { ClockSources } from './core/time-base';

/** The operating system's wall clock (Date.now), in Unix ms. */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
};

/** The real clocks behind the ID time base: wall time (Date.now) and monotonic time (performance.now). */
export const systemClockSources: ClockSources = {
  wallMs: () => Date.now(),
  monotonicMs: () => performance.now(),
};
