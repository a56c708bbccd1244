/**
 * One-shot timers as a capability, so code that schedules work (a keepalive loop, a call timeout) can run
 * on real time in production and on simulated time in tests.
 */
export interface Timers {
  /** Runs `fn` once after `ms` ms (≤ 0: as soon as possible); returns a handle for {@link Timers.cancel}. */
  after(ms: number, fn: () => void): unknown;
  /** Stops a pending `after` callback; a no-op for `undefined` or a timer that already ran. */
  cancel(timer: unknown): void;
}

/** Timers on Node's `setTimeout` / `clearTimeout`. */
export const realTimers: Timers = {
  after: (ms, fn) => setTimeout(fn, Math.max(0, ms)),
  cancel: (timer) => {
    clearTimeout(timer as NodeJS.Timeout | undefined);
  },
};

/**
 * Timers on Node's `setTimeout` that do not keep the process alive (unref'd): for background work that
 * may still be pending when everything else has ended (housekeeping, re-claim backoffs, write timeouts).
 */
export const backgroundTimers: Timers = {
  after: (ms, fn) => setTimeout(fn, Math.max(0, ms)).unref(),
  cancel: (timer) => {
    clearTimeout(timer as NodeJS.Timeout | undefined);
  },
};
