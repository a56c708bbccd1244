import { ClockSkewError } from '../errors';
import type { Clock } from './clock';

/** The two raw clocks the time base reads; injected so tests and simulations drive them. */
export interface ClockSources {
  /** Wall-clock time in Unix ms (NTP-corrected, may step). */
  wallMs(): number;
  /** Monotonic time in ms from an arbitrary origin (never steps; e.g. performance.now()). */
  monotonicMs(): number;
}

/** What a skew check concluded; reported to the observer when the skew moves by more than {@link STEP_EPSILON_MS}. */
export type SkewAction =
  /** |skew| ≤ bound: keep serving on the monotonic base. */
  | 'tolerated'
  /** The wall clock is ahead by more than the bound: the base jumped forward to it (always safe). */
  | 'reanchored-forward'
  /** The wall clock is behind by more than the bound and still before the last time handed out: refuse. */
  | 'refusing'
  /** The wall clock, behind before, has passed every time handed out: the base was re-anchored to it. */
  | 'reanchored-after-catch-up';

/** Notifications for logs and metrics. */
export interface TimeBaseObserver {
  /** The skew (wall − base, ms) changed by more than {@link STEP_EPSILON_MS}; `stepMs` < 0 means the wall stepped back. */
  skewChanged?(skewMs: number, stepMs: number, action: SkewAction): void;
}

/** Skew changes smaller than this (ms) are read jitter, not clock steps. */
export const STEP_EPSILON_MS = 2;

/**
 * The clock IDs are stamped with: wall time at start plus monotonic elapsed time, so a wall-clock step
 * (NTP, `date -s`) cannot move IDs backwards.
 *
 * Every reading also compares the wall clock with the base (skew = wall − base):
 * - |skew| ≤ maxSkewMs: serve on the base (a small step is tolerated, reported once);
 * - wall ahead by more: re-anchor the base forward to the wall (IDs jump ahead; never unsafe);
 * - wall behind by more: throw {@link ClockSkewError} (the caller refuses to issue IDs) until the wall
 *   clock has passed the highest time this base ever returned; then re-anchor to the wall, which is
 *   not a step back for any issued ID.
 */
export class TimeBase implements Clock {
  private readonly sources: ClockSources;
  private readonly maxSkewMs: number;
  private readonly observer: TimeBaseObserver;
  private offsetMs: number;
  private highestReturnedMs = -Infinity;
  private lastReportedSkewMs = 0;
  private refusing = false;
  private lastSkewMs = 0;

  /** `maxSkewMs`: largest |wall − base| served, in ms (≥ 0). */
  constructor(sources: ClockSources, maxSkewMs: number, observer: TimeBaseObserver = {}) {
    this.sources = sources;
    this.maxSkewMs = maxSkewMs;
    this.observer = observer;
    this.offsetMs = sources.wallMs() - sources.monotonicMs();
  }

  /** Current ID time in Unix ms; throws {@link ClockSkewError} while the wall clock is too far behind. */
  nowMs(): number {
    const now = this.check();
    if (this.refusing) {
      throw new ClockSkewError(
        `wall clock is ${Math.round(-this.lastSkewMs)} ms behind the ID time base, more than ` +
          `SNOWFLAKE_MAX_CLOCK_SKEW_MS=${this.maxSkewMs}; refusing to issue IDs until the wall clock passes ` +
          `${new Date(this.highestReturnedMs).toISOString()}, the latest time already used`,
        { behindMs: String(Math.round(-this.lastSkewMs)), maxSkewMs: String(this.maxSkewMs) },
      );
    }
    if (now > this.highestReturnedMs) this.highestReturnedMs = now;
    return now;
  }

  /** Current base time in Unix ms without refusing or recording it (for gauges and reservations). */
  peekMs(): number {
    return this.check();
  }

  /** Last measured skew, wall − base, in ms. */
  get skewMs(): number {
    return this.lastSkewMs;
  }

  /** True while readings are refused because the wall clock is too far behind. */
  get isRefusing(): boolean {
    return this.refusing;
  }

  /** Reads both clocks, applies the skew policy, and returns the base time in Unix ms. */
  private check(): number {
    const wall = this.sources.wallMs();
    let base = this.sources.monotonicMs() + this.offsetMs;
    let skew = wall - base;
    let action: SkewAction = 'tolerated';
    if (skew > this.maxSkewMs) {
      action = 'reanchored-forward';
      this.offsetMs += skew;
      base = wall;
      this.refusing = false;
    } else if (skew < -this.maxSkewMs) {
      if (wall > this.highestReturnedMs) {
        action = 'reanchored-after-catch-up';
        this.offsetMs += skew;
        base = wall;
        this.refusing = false;
      } else {
        action = 'refusing';
        this.refusing = true;
      }
    } else {
      this.refusing = false;
    }
    const step = skew - this.lastReportedSkewMs;
    if (Math.abs(step) > STEP_EPSILON_MS) {
      this.lastReportedSkewMs = action === 'tolerated' || action === 'refusing' ? skew : 0;
      this.observer.skewChanged?.(skew, step, action);
    }
    if (action !== 'tolerated' && action !== 'refusing') skew = 0;
    this.lastSkewMs = skew;
    return base;
  }
}
