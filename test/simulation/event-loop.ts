/** A scheduled callback; {@link EventLoop.cancel} stops it from running. */
export interface SimTimer {
  readonly atMs: number;
}

interface Entry extends SimTimer {
  readonly seq: number;
  fn: (() => void) | undefined;
}

/**
 * Discrete-event time for one schedule: "true" time in ms (float) and a queue of callbacks. Nothing in
 * the simulation reads a real clock or sets a real timer; time moves only from one event to the next.
 * Events at the same time run in the order they were scheduled, so a schedule is deterministic.
 */
export class EventLoop {
  private current = 0;
  private readonly heap: Entry[] = [];
  private seq = 0;
  /** Events run so far. */
  steps = 0;

  /** Events scheduled so far (a cheap sign that something happened). */
  get scheduled(): number {
    return this.seq;
  }

  /** True time in ms since the start of the schedule. */
  get now(): number {
    return this.current;
  }

  /** Runs `fn` at true time `atMs` (not before now). */
  at(atMs: number, fn: () => void): SimTimer {
    const entry: Entry = { atMs: Math.max(atMs, this.current), seq: this.seq++, fn };
    this.push(entry);
    return entry;
  }

  /** Runs `fn` `ms` true ms from now. */
  after(ms: number, fn: () => void): SimTimer {
    return this.at(this.current + ms, fn);
  }

  /** The callback of `timer` will not run (no-op if it already has). */
  cancel(timer: SimTimer | undefined): void {
    if (timer !== undefined) (timer as Entry).fn = undefined;
  }

  /** Runs the next event due at or before `untilMs`; false (and time set to `untilMs`) when there is none. */
  step(untilMs: number): boolean {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.atMs > untilMs) {
        this.current = Math.max(this.current, untilMs);
        return false;
      }
      this.pop();
      const fn = top.fn;
      if (fn === undefined) continue;
      top.fn = undefined;
      this.current = top.atMs;
      this.steps++;
      fn();
      return true;
    }
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Entry;
      if (!before(entry, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop() as Entry;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const c = r < heap.length && before(heap[r] as Entry, heap[l] as Entry) ? r : l;
      const child = heap[c] as Entry;
      if (!before(child, last)) break;
      heap[i] = child;
      i = c;
    }
    heap[i] = last;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

/**
 * After an event that settled a promise, the loop lets promise reactions run until this many hops in a
 * row changed nothing it can see (no event scheduled, no ID granted), so the real modules'
 * continuations (the keeper's `.then`, an awaiting `ensureCovers`, the issuer's loop) run at that
 * event's time. Measured: nearly every chain shows its last effect within 12 hops. A rare longer silent
 * chain just continues after the next event, still deterministically.
 */
export const DEFAULT_SETTLE_HOPS = 12;

const RESOLVED = Promise.resolve();

/** Upper bound on hops per settle (a chain that never ends is not waited for). */
const MAX_SETTLE_HOPS = 4096;

/**
 * Lets queued promise reactions run until `quietHops` hops in a row left `progress()` unchanged.
 * Only microtasks run: no real timer or I/O callback can interleave, which keeps schedules deterministic.
 */
export async function settle(quietHops: number, progress: () => number): Promise<void> {
  let seen = progress();
  for (let quiet = 0, hops = 0; quiet < quietHops && hops < MAX_SETTLE_HOPS; hops++) {
    await RESOLVED;
    const now = progress();
    if (now === seen) quiet++;
    else {
      seen = now;
      quiet = 0;
    }
  }
}
