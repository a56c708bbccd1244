import { Writable } from 'node:stream';
import pino from 'pino';
import { CoordinationDataError, CoordinationError, CoordinatorUnreachableError } from '../../src/errors';
import type { Timers } from '../../src/timers';
import type { WorkerIdClaim } from '../../src/worker-id/claim';
import type { EtcdPort } from '../../src/worker-id/etcd/etcd-port';
import {
  etcdWorkerIdSource,
  retryUnansweredCalls,
  type EtcdAttemptFailure,
  type EtcdSourceDeps,
} from '../../src/worker-id/etcd/etcd-source';

/** One clock and its timers, moved only by {@link ManualTime.fireNext}. */
class ManualTime implements Timers {
  nowMs = 0;
  private readonly pending = new Set<{ readonly atMs: number; readonly fn: () => void }>();

  after(ms: number, fn: () => void): unknown {
    const timer = { atMs: this.nowMs + Math.max(0, ms), fn };
    this.pending.add(timer);
    return timer;
  }

  cancel(timer: unknown): void {
    this.pending.delete(timer as { atMs: number; fn: () => void });
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Moves the clock to the earliest pending timer and runs it; false when none is pending. */
  fireNext(): boolean {
    let next: { atMs: number; fn: () => void } | undefined;
    for (const timer of this.pending) if (next === undefined || timer.atMs < next.atMs) next = timer;
    if (next === undefined) return false;
    this.pending.delete(next);
    this.nowMs = Math.max(this.nowMs, next.atMs);
    next.fn();
    return true;
  }
}

/** Turns of the event loop a chain of settled promises needs at most to be seen here. */
const TURNS = 20;

async function flush(): Promise<void> {
  for (let i = 0; i < TURNS; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Settles `promise` on manual time: between turns of the event loop, fires the earliest timer. Throws
 * when nothing is pending and the promise still waits, or after `maxTimers` timers (bounded).
 */
async function settle<T>(
  promise: Promise<T>,
  time: ManualTime,
  maxTimers = 50,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  promise.then(
    (value) => (outcome = { ok: true, value }),
    (error: unknown) => (outcome = { ok: false, error }),
  );
  for (let fired = 0; fired <= maxTimers; fired++) {
    await flush();
    if (outcome !== undefined) return outcome;
    if (!time.fireNext()) throw new Error('stuck: no timer pending and the promise still waits');
  }
  throw new Error(`not settled after ${maxTimers} timers`);
}

/** An etcd client error the tests' sorter calls transient (as etcd3's UNAVAILABLE is in production). */
class Unreachable extends Error {}

/**
 * How each attempt's connection behaves: `unreachable` — the grant fails with {@link Unreachable};
 * `denied` — it fails with another error; `silent` — the grant never answers; `ok` — an empty etcd.
 */
type Behaviour = 'unreachable' | 'denied' | 'silent' | 'ok';

interface World {
  readonly time: ManualTime;
  /** Monotonic ms at which each attempt opened its connection. */
  readonly opened: number[];
  readonly closed: number[];
  readonly lines: Record<string, unknown>[];
  readonly keepalives: boolean[];
  readonly deps: EtcdSourceDeps;
}

/** Attempt i behaves as `behaviours[i]` (the last one repeats). */
function world(behaviours: readonly Behaviour[], sortFailure?: (err: unknown) => EtcdAttemptFailure): World {
  const time = new ManualTime();
  const opened: number[] = [];
  const closed: number[] = [];
  const lines: Record<string, unknown>[] = [];
  const keepalives: boolean[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const openPort = (): Promise<EtcdPort> => {
    const attempt = opened.length;
    const behaviour = behaviours[Math.min(attempt, behaviours.length - 1)] ?? 'ok';
    opened.push(time.nowMs);
    return Promise.resolve(fakePort(behaviour, () => closed.push(attempt)));
  };
  return {
    time,
    opened,
    closed,
    lines,
    keepalives,
    deps: {
      monotonicNowMs: () => time.nowMs,
      timers: time,
      logger: pino({ level: 'warn' }, sink),
      hooks: { keepalive: (event) => keepalives.push(event.ok) },
      openPort,
      ...(sortFailure !== undefined && { sortFailure }),
    },
  };
}

function fakePort(behaviour: Behaviour, onClose: () => void): EtcdPort {
  return {
    target: 'http://fake-etcd:2379',
    secrets: [],
    grantLease: () => {
      if (behaviour === 'unreachable') return Promise.reject(new Unreachable('connect ECONNREFUSED'));
      if (behaviour === 'denied') return Promise.reject(new Error('etcdserver: permission denied'));
      if (behaviour === 'silent') return new Promise<never>(() => undefined);
      return Promise.resolve('7');
    },
    keepaliveOnce: () => Promise.resolve(10),
    listKeys: () => Promise.resolve([]),
    // The worker key as the claim transaction left it: it carries lease 7.
    get: () => Promise.resolve({ value: 'retry-test', lease: '7', createRevision: '5', modRevision: '5' }),
    claimKey: () => Promise.resolve({ succeeded: true, createRevision: '5', read: undefined }),
    readGuarded: () => Promise.resolve({ succeeded: true, kv: undefined }),
    writeGuarded: () => Promise.resolve({ succeeded: true }),
    revokeLease: () => Promise.resolve(),
    close: onClose,
  };
}

/** Retries what {@link Unreachable} caused, as production retries etcd3's UNAVAILABLE. */
function sortUnreachable(err: unknown): EtcdAttemptFailure {
  return err instanceof CoordinationError && err.cause instanceof Unreachable
    ? { retry: true }
    : { retry: false, error: err };
}

const OPTIONS = {
  datacenterId: 3,
  workerBits: 2,
  owner: 'retry-test',
  leaseTtlSeconds: 10,
  callTimeoutMs: 100,
};

function claimOn(w: World, retryWindowMs: number, signal?: AbortSignal): Promise<WorkerIdClaim> {
  return etcdWorkerIdSource(OPTIONS, w.deps).claim(signal, retryWindowMs);
}

async function release(claim: WorkerIdClaim, time: ManualTime): Promise<void> {
  const released = await settle(claim.release(), time);
  expect(released.ok).toBe(true);
}

describe('the etcd source retries an unreachable etcd on its injected timers and clock', () => {
  it('GIVEN etcd unreachable twice THEN it claims on the third attempt, after backoffs of 250 and 500 ms', async () => {
    const w = world(['unreachable', 'unreachable', 'ok'], sortUnreachable);
    const outcome = await settle(claimOn(w, 30_000), w.time);
    if (!outcome.ok) throw outcome.error;
    expect(outcome.value.node).toEqual({ datacenterId: 3, workerId: 0 });
    expect(w.opened).toEqual([0, 250, 750]);
    // A failed attempt closes its connection before the next one opens.
    expect(w.closed).toEqual([0, 1]);
    const retries = w.lines.filter((l) => l.msg === 'etcd unreachable while claiming a worker ID; retrying');
    expect(retries.map((l) => [l.retryInMs, l.endpoints])).toEqual([
      [250, 'http://fake-etcd:2379'],
      [500, 'http://fake-etcd:2379'],
    ]);
    await release(outcome.value, w.time);
  });

  it('GIVEN etcd unreachable for the whole window THEN it rejects with CoordinatorUnreachableError, the last attempt started within the window', async () => {
    const w = world(['unreachable'], sortUnreachable);
    const outcome = await settle(claimOn(w, 2000), w.time);
    if (outcome.ok) throw new Error('expected the claim to fail');
    // Backoffs 250, 500, 1000; the next (2000 ms) would start at 3750, past the 2000 ms window.
    expect(w.opened).toEqual([0, 250, 750, 1750]);
    expect(outcome.error).toBeInstanceOf(CoordinatorUnreachableError);
    const err = outcome.error as CoordinatorUnreachableError;
    expect(err.code).toBe('COORDINATION_FAILED');
    expect(err.message).toContain('connect ECONNREFUSED');
    expect(err.cause).toBeInstanceOf(Unreachable);
    expect(w.time.pendingCount).toBe(0);
  });

  it('GIVEN a retry window of 0 THEN exactly one attempt is made', async () => {
    const w = world(['unreachable'], sortUnreachable);
    const outcome = await settle(claimOn(w, 0), w.time);
    expect(outcome.ok).toBe(false);
    expect(w.opened).toEqual([0]);
  });

  it('GIVEN a final error THEN it rejects at once with it: one attempt, no backoff', async () => {
    const w = world(['denied', 'ok'], sortUnreachable);
    const outcome = await settle(claimOn(w, 30_000), w.time);
    if (outcome.ok) throw new Error('expected the claim to fail');
    expect(outcome.error).toBeInstanceOf(CoordinationError);
    expect(outcome.error).not.toBeInstanceOf(CoordinatorUnreachableError);
    expect((outcome.error as Error).message).toContain('permission denied');
    expect(w.opened).toEqual([0]);
    expect(w.time.nowMs).toBe(0);
    expect(w.time.pendingCount).toBe(0);
  });

  it('GIVEN the abort signal fires during a backoff THEN it rejects at once with its reason and tries no more', async () => {
    const w = world(['unreachable', 'ok'], sortUnreachable);
    const abort = new AbortController();
    const claim = claimOn(w, 30_000, abort.signal);
    let outcome: unknown;
    claim.catch((err: unknown) => (outcome = err));
    await flush();
    // The first attempt failed; its backoff timer is the only one pending.
    expect([w.opened, w.time.pendingCount]).toEqual([[0], 1]);
    const reason = new Error('stopping');
    abort.abort(reason);
    await flush();
    expect(outcome).toBe(reason);
    expect(w.time.pendingCount).toBe(0);
    expect(w.opened).toEqual([0]);
  });

  it('GIVEN the abort signal fires while an attempt waits on etcd THEN it rejects at once with its reason', async () => {
    const w = world(['silent'], sortUnreachable);
    const abort = new AbortController();
    const claim = claimOn(w, 30_000, abort.signal);
    let outcome: unknown;
    claim.catch((err: unknown) => (outcome = err));
    await flush();
    const reason = new Error('stopping');
    abort.abort(reason);
    await flush();
    expect(outcome).toBe(reason);
    expect(w.opened).toEqual([0]);
    expect(w.closed).toEqual([0]);
    expect(w.time.nowMs).toBe(0);
  });

  it('GIVEN the default sorter and calls etcd never answers THEN each times out on the injected timers and is retried', async () => {
    const w = world(['silent', 'silent', 'ok']);
    const outcome = await settle(claimOn(w, 30_000), w.time);
    if (!outcome.ok) throw outcome.error;
    // Each silent attempt ends at its 100 ms call timeout, then backs off 250 and 500 ms.
    expect(w.opened).toEqual([0, 350, 950]);
    await release(outcome.value, w.time);
  });

  it('GIVEN the default sorter and a client error THEN it is final', async () => {
    const w = world(['unreachable', 'ok']);
    const outcome = await settle(claimOn(w, 30_000), w.time);
    expect(outcome.ok).toBe(false);
    expect(w.opened).toEqual([0]);
  });

  it('GIVEN a held claim THEN each keepalive round reaches the keepalive hook', async () => {
    const w = world(['ok']);
    const outcome = await settle(claimOn(w, 30_000), w.time);
    if (!outcome.ok) throw outcome.error;
    expect(w.keepalives).toEqual([]);
    // The next pending timer is the first keepalive round.
    expect(w.time.fireNext()).toBe(true);
    await flush();
    expect(w.keepalives).toEqual([true]);
    await release(outcome.value, w.time);
  });
});

describe('retryUnansweredCalls (the default sorter)', () => {
  it.each<[string, boolean, unknown]>([
    ['a call without an answer in time', true, new CoordinationError('Range: no answer from etcd')],
    ['a client error', false, new CoordinationError('Range failed', new Error('permission denied'))],
    ['a reservation etcd holds that is no Unix ms', false, new CoordinationDataError('bad reservation')],
    ['another error', false, new Error('boom')],
  ])('GIVEN %s THEN retry is %p', (_what, retry, err) => {
    const failure = retryUnansweredCalls(err);
    expect(failure.retry).toBe(retry);
    if (!failure.retry) expect(failure.error).toBe(err);
  });
});
