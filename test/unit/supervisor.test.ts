import { IdCodec, type NodeId } from '../../src/core/codec';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import type { LocalReservationFile } from '../../src/engine/session';
import {
  HOUSEKEEPING_MS,
  RECLAIM_BACKOFF_MS,
  RECLAIM_RETRY_WINDOW_MS,
  Supervisor,
} from '../../src/engine/supervisor';
import { CoordinationError, RefusalError, StateFileError } from '../../src/errors';
import type { ClaimCapabilities, WorkerIdClaim, WorkerIdSource } from '../../src/worker-id/claim';
import { batchOf } from '../helpers/batch';
import { recordingObserver } from '../helpers/engine-observer';
import { FakeTime } from '../helpers/fake-time';

const T0 = Date.UTC(2026, 0, 1, 12);
const codec = new IdCodec(DEFAULT_LAYOUT);
const RESERVATION_MS = 2000;
const MAX_STARTUP_WAIT_MS = 60_000;

/** Capabilities of a leased source (etcd-like): the node may change, a remote record, claims wait. */
const LEASED: ClaimCapabilities = {
  nodeMayChange: true,
  remoteReservation: 'the coordinator',
  claimWaits: true,
};
/** Capabilities of a fixed source (static-like). */
const FIXED: ClaimCapabilities = { nodeMayChange: false, remoteReservation: undefined, claimWaits: false };

/** What happened, in order, across the claims, the state file and the test's drain. */
type Journal = string[];

/** A claim the test controls: its fence, its loss, and what it stores and releases (in the journal). */
class FakeClaim implements WorkerIdClaim {
  safeUntil = Infinity;
  released = false;
  readonly stored: number[] = [];
  private readonly listeners: ((reason: string) => void)[] = [];

  constructor(
    readonly node: NodeId,
    readonly capabilities: ClaimCapabilities,
    readonly previousReservationMs: number,
    private readonly journal: Journal,
  ) {}

  storeReservation(untilMs: number): Promise<void> {
    this.stored.push(untilMs);
    this.journal.push(`store w${this.node.workerId} ${untilMs}`);
    return Promise.resolve();
  }

  safeUntilMs(): number {
    return this.safeUntil;
  }

  onLost(listener: (reason: string) => void): void {
    this.listeners.push(listener);
  }

  release(): Promise<void> {
    if (!this.released) this.journal.push(`release w${this.node.workerId}`);
    this.released = true;
    return Promise.resolve();
  }

  /** The source notices the claim is gone (lease expired). */
  lose(reason: string): void {
    for (const listener of this.listeners) listener(reason);
  }
}

interface ClaimCall {
  readonly atMs: number;
  readonly retryWindowMs: number;
  readonly signal: AbortSignal | undefined;
  grant(workerId: number, previousReservationMs?: number): FakeClaim;
  fail(err: Error): void;
}

/** A worker-ID source whose claims wait until the test grants or fails them (or their signal aborts). */
class FakeSource implements WorkerIdSource {
  readonly name = 'fake';
  readonly workerIdDefaulted = false;
  readonly calls: ClaimCall[] = [];
  /** Answers claim() at once when set: with a claim of this worker ID, or with this error. */
  autoAnswer: { workerId: number } | Error | undefined;

  constructor(
    readonly capabilities: ClaimCapabilities,
    private readonly time: FakeTime,
    private readonly journal: Journal,
  ) {}

  claim(signal: AbortSignal | undefined, retryWindowMs: number): Promise<WorkerIdClaim> {
    return new Promise((resolve, reject) => {
      signal?.addEventListener('abort', () => {
        reject(signal.reason as Error);
      });
      const call: ClaimCall = {
        atMs: this.time.nowMs,
        retryWindowMs,
        signal,
        grant: (workerId, previousReservationMs = 0) => {
          const claim = new FakeClaim(
            { datacenterId: 1, workerId },
            this.capabilities,
            previousReservationMs,
            this.journal,
          );
          resolve(claim);
          return claim;
        },
        fail: reject,
      };
      this.calls.push(call);
      const auto = this.autoAnswer;
      if (auto instanceof Error) call.fail(auto);
      else if (auto !== undefined) call.grant(auto.workerId);
    });
  }

  /** The latest claim() call. */
  get last(): ClaimCall {
    const call = this.calls.at(-1);
    if (call === undefined) throw new Error('no claim was asked for');
    return call;
  }
}

/**
 * The machine's state file, in memory: one record, of one node, as StateFile keeps it. `remembers`
 * false: reads find nothing (a fresh disk), to isolate the other floors.
 */
function memoryStateFile(journal: Journal, remembers = true) {
  const record: { node: NodeId | undefined; untilMs: number } = { node: undefined, untilMs: 0 };
  const open = (node: NodeId): LocalReservationFile => ({
    path: 'memory:/state.json',
    read(nodeMayChange) {
      if (!remembers || record.node === undefined) return { reservedUntilMs: 0 };
      if (record.node.workerId === node.workerId) return { reservedUntilMs: record.untilMs };
      if (!nodeMayChange) throw new StateFileError('state file of another node');
      return { reservedUntilMs: 0, ignoredNode: record.node };
    },
    write(untilMs) {
      record.node = node;
      record.untilMs = untilMs;
      journal.push(`file w${node.workerId} ${untilMs}`);
      return Promise.resolve();
    },
  });
  return { open, record };
}

function setup(options: { capabilities?: ClaimCapabilities; fileRemembers?: boolean } = {}) {
  const time = new FakeTime(T0);
  const journal: Journal = [];
  const source = new FakeSource(options.capabilities ?? LEASED, time, journal);
  const file = memoryStateFile(journal, options.fileRemembers);
  const recorded = recordingObserver();
  // The wall clock follows the virtual time unless a test steps it.
  const wall = { offsetMs: 0 };
  const supervisor = new Supervisor({
    source,
    codec,
    clockSources: { wallMs: () => time.nowMs + wall.offsetMs, monotonicMs: () => time.nowMs },
    maxClockSkewMs: 1000,
    maxClockBackwardsMs: 10,
    reservationMs: RESERVATION_MS,
    maxStartupWaitMs: MAX_STARTUP_WAIT_MS,
    scheduler: time.scheduler,
    timers: time.timers,
    openStateFile: file.open,
    observer: recorded.observer,
  });
  /** The codes availabilityChanged reported, in order ('serving' for undefined). */
  const availability = () => recorded.of('availabilityChanged').map(([r]) => r?.code ?? 'serving');
  /** The code a NextId call gets now ('ok' when it gets an ID). */
  const callOutcome = async () => {
    try {
      await supervisor.issuer.next();
      return 'ok';
    } catch (err) {
      if (err instanceof RefusalError) return err.code;
      throw err;
    }
  };
  return { time, journal, source, file, recorded, wall, supervisor, availability, callOutcome };
}

describe('Supervisor', () => {
  it('GIVEN each step of a lifecycle THEN refusal(), a call and the availability reported agree on its code', async () => {
    const t = setup();
    const { supervisor, source, time } = t;
    const ready = supervisor.start();
    let claim: FakeClaim | undefined;
    let reclaim: FakeClaim | undefined;
    const steps: [string, () => Promise<void> | void, string][] = [
      ['no claim yet', () => undefined, 'STARTING'],
      [
        'claimed; the coordinator reservation is 500 ms ahead',
        () => void (claim = source.last.grant(1, T0 + 500)),
        'STARTING',
      ],
      ['the clock has passed it and the first write landed', () => time.advance(600), 'serving'],
      [
        'the fence lapses (no keepalive answered)',
        () => void (claim!.safeUntil = time.nowMs),
        'WORKER_LEASE_LOST',
      ],
      ['a keepalive answers again', () => void (claim!.safeUntil = time.nowMs + 5000), 'serving'],
      [
        'the claim is lost',
        () => {
          claim!.lose('lease expired');
        },
        'WORKER_LEASE_LOST',
      ],
      [
        "re-claimed; the new worker ID's reservation is 300 ms ahead",
        () => void (reclaim = source.last.grant(2, time.nowMs + 300)),
        'WORKER_LEASE_LOST',
      ],
      ['the re-claimed session activated', () => time.advance(400), 'serving'],
    ];
    const seen: [string, string | undefined, string][] = [];
    for (const [what, step, code] of steps) {
      await step();
      await time.settle();
      seen.push([what, supervisor.refusal()?.code ?? 'serving', await t.callOutcome()]);
      expect(seen.at(-1)).toEqual([what, code, code === 'serving' ? 'ok' : code]);
    }
    await ready;
    expect(supervisor.node()).toEqual(reclaim!.node);

    // Stop: SHUTTING_DOWN for health at once; a call still in flight issues during the drain; a call
    // after the stop is refused on the closed session.
    let duringDrain: [string | undefined, string] | undefined;
    await supervisor.stop(async () => {
      duringDrain = [supervisor.refusal()?.code, await t.callOutcome()];
    });
    expect(duringDrain).toEqual(['SHUTTING_DOWN', 'ok']);
    expect(await t.callOutcome()).toBe('SHUTTING_DOWN');
    expect(t.availability()).toEqual([
      'STARTING',
      'serving',
      'WORKER_LEASE_LOST',
      'serving',
      'WORKER_LEASE_LOST',
      'serving',
      'SHUTTING_DOWN',
    ]);
  });

  it('GIVEN no claim yet THEN calls are refused with STARTING naming the source, and counted', async () => {
    const t = setup();
    void t.supervisor.start();
    await t.time.settle();
    await expect(t.supervisor.issuer.next()).rejects.toThrow('waiting for fake to grant a worker ID');
    await expect(batchOf(t.supervisor.issuer, 3)).rejects.toMatchObject({ code: 'STARTING' });
    expect(t.recorded.of('refused').map(([err]) => err.code)).toEqual(['STARTING', 'STARTING']);
    expect(t.supervisor.node()).toBeUndefined();
    await t.supervisor.stop(() => Promise.resolve());
  });

  // With the clock frozen, the re-claimed session would issue in the very tick the lost one issued in.
  // When neither the state file nor the coordinator remembers that tick, only the supervisor's floor at
  // what this process issued keeps the same worker ID's new IDs above the old ones.
  it.each([
    ['the state file remembers', true, true],
    ['the coordinator remembers', false, true],
    ['neither remembers', false, false],
  ])(
    'GIVEN the same worker ID is re-claimed and %s THEN the new session starts after every ID the lost one issued',
    async (_what, fileRemembers, coordinatorRemembers) => {
      const t = setup({ fileRemembers });
      const { supervisor, source, time } = t;
      const ready = supervisor.start();
      const first = source.last.grant(3);
      await ready;
      const before = await batchOf(supervisor.issuer, 10);
      const issuedUntilMs = supervisor.session!.generator.issuedUntilMs;

      first.lose('lease expired');
      source.last.grant(3, coordinatorRemembers ? Math.max(...first.stored) : 0);
      await time.settle();
      const lost = supervisor.session!;
      // Time moves in 1 ms steps, so the new session's first IDs are those of the first tick it may use.
      for (let i = 0; i < 3 * RESERVATION_MS && supervisor.refusal() !== undefined; i++)
        await time.advance(1);
      expect(supervisor.session).not.toBe(lost);
      expect(supervisor.session!.floorMs).toBeGreaterThanOrEqual(issuedUntilMs);

      const after = await batchOf(supervisor.issuer, 10);
      expect(codec.decode(after[0]!).workerId).toBe(3);
      expect(after[0]! > before.at(-1)!).toBe(true);
      expect(codec.decode(after[0]!).timestampMs).toBeGreaterThanOrEqual(issuedUntilMs);
      await supervisor.stop(() => Promise.resolve());
    },
  );

  it('GIVEN every re-claim fails THEN attempts are spaced by a backoff doubling from 500 ms to at most 10 s, each with the re-claim retry window', async () => {
    const t = setup();
    const { supervisor, source, time } = t;
    const ready = supervisor.start();
    const claim = source.last.grant(0);
    await ready;
    source.autoAnswer = new CoordinationError('coordinator unreachable');
    claim.lose('lease expired');
    await time.advance(60_000);
    const attempts = source.calls.slice(1);
    const gaps = attempts.slice(1).map((call, i) => call.atMs - attempts[i]!.atMs);
    expect(gaps.slice(0, 7)).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(
      t.recorded
        .of('reclaimFailed')
        .map(([, retryInMs]) => retryInMs)
        .slice(0, 6),
    ).toEqual([500, 1000, 2000, 4000, 8000, 10_000]);
    expect(new Set(attempts.map((call) => call.retryWindowMs))).toEqual(new Set([RECLAIM_RETRY_WINDOW_MS]));
    expect(RECLAIM_BACKOFF_MS).toEqual({ first: 500, max: 10_000 });
    expect(supervisor.refusal()?.code).toBe('WORKER_LEASE_LOST');
    await supervisor.stop(() => Promise.resolve());
  });

  it.each([
    {
      during: 'the re-claim asks the source',
      reach: () => Promise.resolve(),
      released: ['release w0'],
    },
    {
      during: 'the backoff after a failed attempt',
      reach: async (t: ReturnType<typeof setup>) => {
        t.source.last.fail(new CoordinationError('coordinator unreachable'));
        await t.time.settle();
      },
      released: ['release w0'],
    },
    {
      during: 'the re-claimed session waits 30 s for the clock to pass its floor',
      reach: async (t: ReturnType<typeof setup>) => {
        t.source.last.grant(1, t.time.nowMs + 30_000);
        await t.time.settle();
      },
      released: ['release w0', 'release w1'],
    },
  ])(
    'GIVEN stop() during $during THEN it ends at once (no time passes), releases every claim and never serves again',
    async ({ reach, released }) => {
      const t = setup();
      const { supervisor, source, time } = t;
      const ready = supervisor.start();
      const first = source.last.grant(0);
      await ready;
      first.lose('lease expired');
      await time.settle();
      await reach(t);
      const stoppedAt = time.nowMs;
      let stopped = false;
      const stopping = supervisor
        .stop(() => Promise.resolve())
        .then(() => {
          stopped = true;
        });
      await time.settle();
      expect(stopped).toBe(true);
      await stopping;
      expect(time.nowMs).toBe(stoppedAt);
      expect(source.last.signal?.aborted).toBe(true);
      expect(t.journal.filter((line) => line.startsWith('release'))).toEqual(released);
      expect(t.recorded.of('serving').map(([, cause]) => cause)).toEqual(['start']);
      expect(supervisor.refusal()?.code).toBe('SHUTTING_DOWN');
      // Nothing is left to run: no housekeeping, no backoff, no claim.
      const calls = source.calls.length;
      await time.advance(60_000);
      expect(source.calls.length).toBe(calls);
      expect(t.recorded.of('serving')).toHaveLength(1);
    },
  );

  it.each([
    {
      what: 'serving with its lease proven',
      lapse: false,
      serve: true,
      journal: ['drain', 'file w5 <issued>', 'store w5 <issued>', 'release w5'],
    },
    {
      what: 'serving, but its lease no longer proven',
      lapse: true,
      serve: true,
      journal: ['drain', 'release w5'],
    },
    {
      what: 'not serving yet (waiting for the clock)',
      lapse: false,
      serve: false,
      journal: ['drain', 'release w5'],
    },
  ])(
    'GIVEN stop() while $what THEN it drains first, then persists exactly what was issued only if it may, then releases',
    async ({ lapse, serve, journal }) => {
      const t = setup();
      const { supervisor, source, time } = t;
      const ready = supervisor.start();
      const claim = source.last.grant(5, serve ? 0 : T0 + 30_000);
      await time.settle();
      if (serve) {
        await ready;
        await batchOf(supervisor.issuer, 5);
      }
      const issuedUntilMs = supervisor.session!.generator.issuedUntilMs;
      if (lapse) claim.safeUntil = time.nowMs;
      t.journal.length = 0;
      await supervisor.stop(() => {
        t.journal.push('drain');
        return Promise.resolve();
      });
      expect(t.journal).toEqual(journal.map((line) => line.replace('<issued>', String(issuedUntilMs))));
    },
  );

  it('GIVEN the first claim is lost before the session serves THEN start() rejects with WORKER_LEASE_LOST and no re-claim starts', async () => {
    const t = setup();
    const ready = t.supervisor.start();
    const claim = t.source.last.grant(2, T0 + 5000);
    await t.time.settle();
    claim.lose('lease expired');
    await t.time.advance(6000);
    await expect(ready).rejects.toMatchObject({ code: 'WORKER_LEASE_LOST' });
    expect(t.source.calls).toHaveLength(1);
    expect(claim.released).toBe(true);
    await t.supervisor.stop(() => Promise.resolve());
  });

  it('GIVEN a source that waits THEN the first claim gets what is left of maxStartupWaitMs since construction', async () => {
    const t = setup();
    await t.time.advance(1500);
    void t.supervisor.start();
    await t.time.settle();
    expect(t.source.last.retryWindowMs).toBe(MAX_STARTUP_WAIT_MS - 1500);
    t.source.last.fail(new CoordinationError('coordinator unreachable'));
    await expect(t.supervisor.start()).rejects.toThrow('coordinator unreachable');
    await t.supervisor.stop(() => Promise.resolve());
  });

  it('GIVEN a source that settles at once THEN open() claims before start(), and a bad state file fails open() and gives the claim back', async () => {
    const good = setup({ capabilities: FIXED });
    good.source.autoAnswer = { workerId: 4 };
    await good.supervisor.open();
    expect(good.supervisor.node()).toEqual({ datacenterId: 1, workerId: 4 });
    await good.supervisor.start();
    expect(await good.callOutcome()).toBe('ok');
    await good.supervisor.stop(() => Promise.resolve());

    const bad = setup({ capabilities: FIXED });
    bad.file.record.node = { datacenterId: 1, workerId: 9 };
    bad.source.autoAnswer = { workerId: 4 };
    await expect(bad.supervisor.open()).rejects.toBeInstanceOf(StateFileError);
    expect(bad.journal).toEqual(['release w4']);
    expect(bad.supervisor.node()).toBeUndefined();
  });

  it('GIVEN no calls THEN housekeeping renews the reservation before it runs out, and reports the clock every tick', async () => {
    const t = setup();
    const ready = t.supervisor.start();
    const claim = t.source.last.grant(1);
    await ready;
    const firstWrite = claim.stored.length;
    const ticks = t.recorded.of('clockRead').length;
    await t.time.advance(3 * RESERVATION_MS);
    expect(claim.stored.length).toBeGreaterThan(firstWrite);
    expect(Math.max(...claim.stored)).toBeGreaterThan(t.time.nowMs);
    expect(t.recorded.of('clockRead').length - ticks).toBe((3 * RESERVATION_MS) / HOUSEKEEPING_MS);
    expect(t.availability()).toEqual(['STARTING', 'serving']);
    await t.supervisor.stop(() => Promise.resolve());
  });

  it('GIVEN the wall clock steps back beyond the skew bound with no call THEN the next tick reports CLOCK_SKEW, and serving again once it has caught up', async () => {
    const t = setup();
    const ready = t.supervisor.start();
    t.source.last.grant(1);
    await ready;
    await t.supervisor.issuer.next();
    t.wall.offsetMs = -5000;
    await t.time.advance(HOUSEKEEPING_MS);
    expect(t.availability().at(-1)).toBe('CLOCK_SKEW');
    expect(await t.callOutcome()).toBe('CLOCK_SKEW');
    await t.time.advance(5000 + 2 * HOUSEKEEPING_MS);
    expect(t.availability()).toEqual(['STARTING', 'serving', 'CLOCK_SKEW', 'serving']);
    expect(await t.callOutcome()).toBe('ok');
    await t.supervisor.stop(() => Promise.resolve());
  });
});
