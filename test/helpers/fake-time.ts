import type { Scheduler } from '../../src/engine/issuer';
import type { Timers } from '../../src/timers';

interface Pending {
  readonly atMs: number;
  readonly seq: number;
  fn: (() => void) | undefined;
}

/** Upper bound on timers run by one {@link FakeTime.advance} (a runaway timer loop fails the test). */
const MAX_TIMERS_PER_ADVANCE = 100_000;

/**
 * One virtual clock (ms) with timers and a scheduler on it: time moves only in {@link FakeTime.advance},
 * which runs every timer that falls due, in order, letting promise reactions settle after each. With
 * in-memory collaborators (no real I/O) everything an engine does in that span has happened when it
 * returns.
 */
export class FakeTime {
  private current: number;
  private readonly queue: Pending[] = [];
  private seq = 0;

  constructor(startMs: number) {
    this.current = startMs;
  }

  /** Current virtual time in ms. */
  get nowMs(): number {
    return this.current;
  }

  /** Timers on this clock. */
  readonly timers: Timers = {
    after: (ms, fn) => {
      const entry: Pending = { atMs: this.current + Math.max(0, ms), seq: this.seq++, fn };
      this.queue.push(entry);
      return entry;
    },
    cancel: (timer) => {
      if (timer !== undefined) (timer as Pending).fn = undefined;
    },
  };

  /** Sleeps on this clock (a wait of ≤ 0 ms still yields to the next timer run). */
  readonly scheduler: Scheduler = {
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        this.timers.after(ms, resolve);
      }),
  };

  /** Lets every queued promise reaction run (nothing here does real I/O, so one macrotask hop is enough). */
  async settle(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Moves time forward by `ms`, running each timer due on the way at its own time, then settles. */
  async advance(ms: number): Promise<void> {
    const until = this.current + ms;
    await this.settle();
    for (let run = 0; run < MAX_TIMERS_PER_ADVANCE; run++) {
      const next = this.nextDue(until);
      if (next === undefined) break;
      this.current = Math.max(this.current, next.atMs);
      const fn = next.fn;
      next.fn = undefined;
      fn?.();
      await this.settle();
    }
    this.current = Math.max(this.current, until);
    await this.settle();
  }

  private nextDue(until: number): Pending | undefined {
    let best: Pending | undefined;
    for (const entry of this.queue) {
      if (entry.fn === undefined || entry.atMs > until) continue;
      if (
        best === undefined ||
        entry.atMs < best.atMs ||
        (entry.atMs === best.atMs && entry.seq < best.seq)
      ) {
        best = entry;
      }
    }
    if (best !== undefined) this.queue.splice(this.queue.indexOf(best), 1);
    return best;
  }
}
