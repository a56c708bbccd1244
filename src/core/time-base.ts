import type { Clock } from './clock';
import { ClockSkewError } from './errors';

/** The two raw clocks the time base reads; injected so tests and simulations drive them. */
export interface ClockSources {
  /** Wall-clock time in Unix ms (NTP-corrected, may step). */
  wallMs(): number;
  /** Monotonic time in ms from an arbitrary origin (never steps; e.g. performance.now()). */
  monotonicMs(): number;
}

/** What a skew check concluded. */
export type SkewAction =
  /** |skew| ≤ bound: keep serving on the monotonic base. */
  | 'tolerated'
  /** The wall clock is ahead by more than the bound: the base jumped forward to it (always safe). */
  | 'reanchored-forward'
  /** The wall clock is behind by more than the bound and still before the last time handed out: refuse. */
  | 'refusing'
  /** The wall clock, behind before, has passed every time handed out: the base was re-anchored to it. */
  | 'reanchored-after-catch-up';

/** One reported skew check (see {@link TimeBaseObserver.skewChanged}). */
export interface SkewChange {
  /** Wall clock minus the base as read, in ms, before any re-anchoring. */
  readonly skewMs: number;
  /** Change of the skew since the last report, in ms; < 0 means the wall clock went back. */
  readonly stepMs: number;
  readonly action: SkewAction;
  /**
   * True when |stepMs| is at least the step threshold ({@link STEP_THRESHOLD_MS}, or maxSkewMs when
   * smaller): the wall clock was set (NTP step, `date -s`), not read with jitter.
   */
  readonly stepped: boolean;
}

/** Notifications for logs and metrics. */
export interface TimeBaseObserver {
  /**
   * Called when the wall clock stepped (see {@link SkewChange.stepped}), when refusing starts or ends,
   * and on every re-anchoring; never for read jitter alone.
   */
  skewChanged?(change: SkewChange): void;
}

/**
 * Smallest change of the skew (wall − base), in ms, taken for a clock step rather than read jitter;
 * a time base whose maxSkewMs is smaller uses that instead, so every step that crosses the bound counts.
 * The two clocks are read at slightly different instants and Date.now() has 1 ms resolution: an idle
 * machine shows changes of 2–6 ms with nobody touching the clock. Time sync only steps larger offsets
 * (ntpd slews below 128 ms; chrony's usual `makestep 1 3` steps above 1 s), so 50 ms keeps room on both
 * sides. Smaller changes still show in {@link TimeBase.skewMs}.
 */
export const STEP_THRESHOLD_MS = 50;

/** Most bracketed reads {@link TimeBase} makes to confirm a reading that looks like a clock step. */
const CAREFUL_READ_ATTEMPTS = 5;

/** Monotonic ms between the two reads around a wall read below which that read counts as instantaneous. */
const CLOSE_READ_MS = 1;

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
  private readonly stepThresholdMs: number;
  private lastReportedSkewMs = 0;
  private refusing = false;
  private lastSkewMs = 0;
  private readonly maxSkewName: string;

  /**
   * `maxSkewMs`: largest |wall − base| served, in ms (≥ 0). `maxSkewName`: what refusals call it (e.g.
   * the setting that chose it); default `maxSkewMs`.
   */
  constructor(
    sources: ClockSources,
    maxSkewMs: number,
    observer: TimeBaseObserver = {},
    maxSkewName = 'maxSkewMs',
  ) {
    this.sources = sources;
    this.maxSkewMs = maxSkewMs;
    this.maxSkewName = maxSkewName;
    this.observer = observer;
    this.stepThresholdMs = Math.max(1, Math.min(STEP_THRESHOLD_MS, maxSkewMs));
    this.offsetMs = sources.wallMs() - sources.monotonicMs();
  }

  /** Current ID time in Unix ms; throws {@link ClockSkewError} while the wall clock is too far behind. */
  nowMs(): number {
    const now = this.check();
    const refusal = this.refusal();
    if (refusal !== undefined) throw refusal;
    if (now > this.highestReturnedMs) this.highestReturnedMs = now;
    return now;
  }

  /**
   * The {@link ClockSkewError} that {@link TimeBase.nowMs} would throw as of the latest reading (by nowMs
   * or {@link TimeBase.peekMs}), or undefined while readings are served. Reads no clock.
   */
  refusal(): ClockSkewError | undefined {
    if (!this.refusing) return undefined;
    return new ClockSkewError(
      `wall clock is ${Math.round(-this.lastSkewMs)} ms behind the ID time base, more than ` +
        `${this.maxSkewName}=${this.maxSkewMs}; refusing to issue IDs until the wall clock passes ` +
        `${new Date(this.highestReturnedMs).toISOString()}, the latest time already used`,
      { behindMs: String(Math.round(-this.lastSkewMs)), maxSkewMs: String(this.maxSkewMs) },
    );
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
    let wall = this.sources.wallMs();
    let mono = this.sources.monotonicMs();
    if (this.looksLikeStep(wall - (mono + this.offsetMs))) ({ wall, mono } = this.carefulRead());
    let base = mono + this.offsetMs;
    let skew = wall - base;
    let action: SkewAction = 'tolerated';
    const wasRefusing = this.refusing;
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
    const reanchored = action === 'reanchored-forward' || action === 'reanchored-after-catch-up';
    const step = skew - this.lastReportedSkewMs;
    const stepped = Math.abs(step) >= this.stepThresholdMs;
    // Changes below the threshold are not reported, so they add up against the last reported skew:
    // a slow creep is reported once it amounts to a step.
    if (stepped || reanchored || this.refusing !== wasRefusing) {
      this.lastReportedSkewMs = reanchored ? 0 : skew;
      this.observer.skewChanged?.({ skewMs: skew, stepMs: step, action, stepped });
    }
    if (reanchored) skew = 0;
    this.lastSkewMs = skew;
    return base;
  }

  /** True when `skew` would be reported as a step or handled as beyond the bound. */
  private looksLikeStep(skew: number): boolean {
    return (
      Math.abs(skew - this.lastReportedSkewMs) >= this.stepThresholdMs || Math.abs(skew) > this.maxSkewMs
    );
  }

  /**
   * Reads the wall clock between two monotonic reads, up to {@link CAREFUL_READ_ATTEMPTS} times, and keeps
   * the pair whose monotonic reads lie closest together (the midpoint stands for the wall read's instant).
   * The plain read takes the two clocks one after the other: a thread descheduled between them (a loaded
   * host, a GC pause) sees the skew jump by the length of the pause, which would be counted as a clock
   * step or even refused. Only readings that look like a step pay for this.
   */
  private carefulRead(): { wall: number; mono: number } {
    let best = { wall: 0, mono: 0, spread: Infinity };
    for (let attempt = 0; attempt < CAREFUL_READ_ATTEMPTS && best.spread > CLOSE_READ_MS; attempt++) {
      const before = this.sources.monotonicMs();
      const wall = this.sources.wallMs();
      const after = this.sources.monotonicMs();
      if (after - before < best.spread) best = { wall, mono: (before + after) / 2, spread: after - before };
    }
    return best;
  }
}
