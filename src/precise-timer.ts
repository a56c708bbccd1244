import { Worker } from 'node:worker_threads';
import type { Scheduler } from './engine/issuer';

/**
 * The helper thread: for each deadline it receives (monotonic ms), it sleeps on a futex until then
 * (Atomics.wait takes fractional ms) and answers. Requests are served one at a time, in order.
 */
const HELPER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const cell = new Int32Array(new SharedArrayBuffer(4));
const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;
parentPort.on('message', (deadline) => {
  for (let left = deadline - monotonicMs(); left > 0; left = deadline - monotonicMs()) {
    Atomics.wait(cell, 0, 0, left);
  }
  parentPort.postMessage(0);
});
`;

/** Below this many ms a sleep goes to the helper thread; above it setTimeout covers all but the last ms. */
const FINE_MS = 2;

/** Monotonic ms on CLOCK_MONOTONIC, which every thread of the process shares (performance.now() does not). */
function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * Sleeps that end about 0.1–0.3 ms after their deadline without keeping the event loop busy.
 *
 * setTimeout has whole-ms granularity and fires up to a ms (under load several) late: enough to miss
 * a 1 ms tick entirely, so its sequence goes unused. Spinning on setImmediate until the deadline is
 * precise, and on an idle machine keeps a ping-pong workload a few % faster, but it keeps a core busy
 * whenever callers wait for the next tick: under a container CPU limit that spends the quota the
 * calls need, and under contention the spinning process is the one the kernel preempts. Here the last
 * < 2 ms of every sleep are slept by one helper thread on a futex, which the kernel wakes promptly
 * because it was asleep; the main thread meanwhile sits idle in its event loop until the helper's
 * message. The helper is started on first use, costs one thread and a few MB, and keeps the process
 * alive only while a sleep is pending. It answers in request order, so a sleep may end up to 2 ms late
 * behind another with a later deadline. If the thread cannot be started, sleeps yield with
 * setImmediate until their deadline instead.
 */
export class PreciseTimer {
  private helper: Worker | undefined;
  private helperFailed = false;
  /** Sleeps handed to the helper, in request order (it answers in that order). */
  private readonly pending: { readonly deadline: number; readonly resolve: () => void }[] = [];

  /** Resolves once `ms` ms (may be fractional; ≤ 0 means "yield once") have passed, never earlier. */
  sleep(ms: number): Promise<void> {
    const deadline = monotonicMs() + ms;
    return new Promise((resolve) => {
      const fine = () => {
        this.sleepUntil(deadline, resolve);
      };
      if (ms >= FINE_MS) setTimeout(fine, Math.floor(ms) - 1);
      else if (ms > 0) fine();
      else setImmediate(resolve);
    });
  }

  private sleepUntil(deadline: number, resolve: () => void): void {
    const left = deadline - monotonicMs();
    if (left <= 0) {
      resolve();
      return;
    }
    const helper = this.startedHelper();
    if (helper === undefined) {
      setImmediate(() => {
        this.sleepUntil(deadline, resolve);
      });
      return;
    }
    if (this.pending.length === 0) helper.ref();
    this.pending.push({ deadline, resolve });
    helper.postMessage(deadline);
  }

  private startedHelper(): Worker | undefined {
    if (this.helper !== undefined || this.helperFailed) return this.helper;
    let helper: Worker;
    try {
      helper = new Worker(HELPER_SOURCE, { eval: true });
    } catch {
      this.helperFailed = true;
      return undefined;
    }
    helper.on('message', () => {
      this.pending.shift()?.resolve();
      if (this.pending.length === 0) helper.unref();
    });
    const fail = () => {
      this.helper = undefined;
      this.helperFailed = true;
      for (const { deadline, resolve } of this.pending.splice(0)) this.sleepUntil(deadline, resolve);
    };
    helper.on('error', fail);
    helper.on('exit', fail);
    helper.unref();
    this.helper = helper;
    return helper;
  }
}

/**
 * The production {@link Scheduler}: waits on real timers, ending within about 0.1–0.3 ms after the
 * deadline without keeping the event loop busy. The precision matters: a tick's sequence that no
 * waiting call picks up before the tick ends is lost throughput, and a plain setTimeout(1) per waiting
 * batch left 30–40 % of the ms unused under BatchIds load.
 */
export const timerScheduler: Scheduler = new PreciseTimer();
