import * as fs from 'node:fs';
import { IdCodec, type NodeId } from '../../src/core/codec';
import { DEFAULT_LAYOUT, layoutEndMs } from '../../src/core/layout';
import { TimeBase } from '../../src/core/time-base';
import { NodeSession, type SessionDeps } from '../../src/engine/session';
import { RefusalError, ShuttingDownError, WorkerLeaseLostError } from '../../src/errors';
import { StateFile } from '../../src/state/state-file';
import type { WorkerIdClaim } from '../../src/worker-id/claim';
import { ETCD_CAPABILITIES } from '../../src/worker-id/etcd/etcd-claim';
import { batchOf } from '../helpers/batch';
import { recordingObserver } from '../helpers/engine-observer';
import { FakeClock, fastForwardScheduler } from '../helpers/fake-clock';
import { tempStateDir } from '../helpers/server';

const T0 = Date.UTC(2026, 10, 26, 12);
const codec = new IdCodec(DEFAULT_LAYOUT);

/** A claim whose fence and stored reservations the test controls. */
function fakeClaim(node: NodeId, previousReservationMs: number, safeUntilMs: () => number) {
  const stored: number[] = [];
  const claim: WorkerIdClaim = {
    node,
    capabilities: ETCD_CAPABILITIES,
    previousReservationMs,
    storeReservation: (ms) => {
      stored.push(ms);
      return Promise.resolve();
    },
    safeUntilMs,
    onLost: () => undefined,
    release: () => Promise.resolve(),
  };
  return { claim, stored };
}

function setup() {
  const clock = new FakeClock(T0); // wall and monotonic move together here
  const dir = tempStateDir();
  const recorded = recordingObserver();
  const deps: SessionDeps = {
    codec,
    timeBase: new TimeBase({ wallMs: () => clock.nowMs(), monotonicMs: () => clock.nowMs() }, 1000),
    monotonicNowMs: () => clock.nowMs(),
    scheduler: fastForwardScheduler(clock),
    // Real time: the state file's writes take real time, which the fake clock does not see.
    writeTimeout: (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
    openStateFile: (node) => new StateFile(dir, codec.layout, node),
    maxClockBackwardsMs: 10,
    reservationMs: 2000,
    observer: recorded.observer,
  };
  return { clock, dir, deps, recorded };
}

async function refusalOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    expect(err).toBeInstanceOf(RefusalError);
    return (err as RefusalError).code;
  }
  throw new Error('expected a refusal');
}

describe('NodeSession', () => {
  it.each([
    ['the state file', 5000, 0, 0, 5000],
    ['the reservation left in etcd by an earlier holder', 0, 7000, 0, 7000],
    ['what this process issued before a re-claim', 1000, 2000, 9000, 9000],
    ['nothing (a first start)', 0, 0, 0, 0],
  ])(
    'GIVEN the highest floor is %s THEN no ID has a timestamp before it',
    async (_what, fileAheadMs, etcdAheadMs, issuedAheadMs, floorAheadMs) => {
      const { clock, dir, deps } = setup();
      const node = { datacenterId: 0, workerId: 3 };
      if (fileAheadMs > 0) await new StateFile(dir, codec.layout, node).write(T0 + fileAheadMs);
      const { claim } = fakeClaim(node, etcdAheadMs > 0 ? T0 + etcdAheadMs : 0, () => Infinity);
      const session = new NodeSession(deps, claim, issuedAheadMs > 0 ? T0 + issuedAheadMs : 0);
      expect(session.floorMs).toBe(floorAheadMs > 0 ? T0 + floorAheadMs : 0);
      expect(await refusalOf(session.issuer.next())).toBe('STARTING');

      await session.activate(60_000, 'in the test'); // the fast-forward scheduler moves the clock past the floor
      expect(clock.nowMs()).toBeGreaterThanOrEqual(session.floorMs);
      const ids = await batchOf(session.issuer, 5000);
      const floor = session.floorMs;
      expect(ids.every((id) => codec.decode(id).timestampMs >= floor)).toBe(true);
      expect(ids.every((id) => codec.decode(id).workerId === 3)).toBe(true);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  );

  it('GIVEN the claim cannot be proven any more THEN it refuses with WORKER_LEASE_LOST, and serves again once it is', async () => {
    const { clock, dir, deps } = setup();
    let safeUntil = T0 + 1000;
    const { claim, stored } = fakeClaim({ datacenterId: 1, workerId: 2 }, 0, () => safeUntil);
    const session = new NodeSession(deps, claim, 0);
    await session.activate(0, 'in the test');
    expect(stored.length).toBeGreaterThan(0); // the reservation reached the coordinator before any ID
    const first = await session.issuer.next();

    clock.advance(1000); // now == safeUntil: no longer proven (the deadline is exclusive)
    expect(session.leaseValid).toBe(false);
    expect(await refusalOf(session.issuer.next())).toBe('WORKER_LEASE_LOST');

    safeUntil = T0 + 5000; // a keepalive got through
    const again = await session.issuer.next();
    expect(again > first).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GIVEN the clock is further behind the floor than the wait allowed THEN activate refuses to start', async () => {
    const { dir, deps } = setup();
    const { claim } = fakeClaim({ datacenterId: 0, workerId: 0 }, T0 + 120_000, () => Infinity);
    const session = new NodeSession(deps, claim, 0);
    await expect(session.activate(60_000, 'left in etcd')).rejects.toThrow(
      /120000 ms behind the timestamp reservation left in etcd .* more than SNOWFLAKE_MAX_STARTUP_WAIT_MS=60000/,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GIVEN a reservation write fails in the coordinator THEN activation refuses instead of issuing past what is durable', async () => {
    const { dir, deps } = setup();
    const { claim } = fakeClaim({ datacenterId: 0, workerId: 1 }, 0, () => Infinity);
    const failing: WorkerIdClaim = {
      ...claim,
      storeReservation: () => Promise.reject(new Error('etcd down')),
    };
    const session = new NodeSession(deps, failing, 0);
    await expect(session.activate(0, 'in the test')).rejects.toThrow(/and etcd: etcd down/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    {
      what: 'fails twice, then lands',
      failures: 2,
      lease: () => Infinity,
      close: false,
      outcome: 'serves',
      writes: 3, // ensureCovers tries twice per round: round 1 fails twice, round 2 (at T0 + 100) lands
    },
    {
      what: 'keeps failing',
      failures: Infinity,
      lease: () => Infinity,
      close: false,
      outcome: 'RESERVATION_UNAVAILABLE',
      writes: 12, // rounds at T0 + 0, 100, 300, 700, 1500, 3100 ms; the next (5100) is past the 5 s wait
    },
    {
      what: 'keeps failing while the lease lapses',
      failures: Infinity,
      lease: () => T0 + 250,
      close: false,
      outcome: 'RESERVATION_UNAVAILABLE',
      writes: 6, // rounds at T0 + 0, 100, 300; by then the fence (T0 + 250) has lapsed: no further round
    },
    {
      what: 'would fail, but the session was closed first (stop during start-up)',
      failures: Infinity,
      lease: () => Infinity,
      close: true,
      outcome: 'SHUTTING_DOWN',
      writes: 0, // a closed session writes nothing
    },
  ])(
    'GIVEN the first reservation write $what THEN activation retries within the startup wait and $outcome',
    async ({ failures, lease, close, outcome, writes }) => {
      const { clock, dir, deps } = setup();
      const { claim, stored } = fakeClaim({ datacenterId: 0, workerId: 4 }, 0, lease);
      let calls = 0;
      const flaky: WorkerIdClaim = {
        ...claim,
        storeReservation: (ms) => {
          calls++;
          return calls <= failures ? Promise.reject(new Error('circuit open')) : claim.storeReservation(ms);
        },
      };
      const session = new NodeSession(deps, flaky, 0);
      if (close) session.close(new ShuttingDownError());
      const activation = session.activate(5_000, 'in the test');
      if (outcome === 'serves') {
        await activation;
        expect(stored.length).toBe(1);
        const id = await session.issuer.next();
        expect(codec.decode(id).workerId).toBe(4);
      } else {
        expect(await refusalOf(activation)).toBe(outcome);
        expect(await refusalOf(session.issuer.next())).not.toBe('');
        expect(stored).toEqual([]);
      }
      expect(calls).toBe(writes);
      expect(clock.nowMs() - T0).toBeLessThanOrEqual(5_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  );

  it('GIVEN the reservation cannot be renewed THEN calls are refused with RESERVATION_UNAVAILABLE, as refusal() says, until a write lands', async () => {
    const { clock, dir, deps } = setup();
    const { claim } = fakeClaim({ datacenterId: 0, workerId: 4 }, 0, () => Infinity);
    let failing = false;
    const flaky: WorkerIdClaim = {
      ...claim,
      storeReservation: (ms) =>
        failing ? Promise.reject(new Error('etcd down')) : claim.storeReservation(ms),
    };
    const session = new NodeSession(deps, flaky, 0);
    await session.activate(0, 'in the test');
    await session.issuer.next();
    expect(session.refusal()).toBeUndefined();

    failing = true;
    clock.advance(2500); // past the 2000 ms reservation
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) codes.push(await refusalOf(session.issuer.next()));
    expect(new Set(codes)).toEqual(new Set(['RESERVATION_UNAVAILABLE']));
    expect(session.refusal()?.code).toBe('RESERVATION_UNAVAILABLE');

    failing = false;
    await session.keeper.maybeRenew(); // what housekeeping does every 100 ms
    expect(session.keeper.failure).toBeUndefined();
    expect(session.refusal()).toBeUndefined();
    await session.issuer.next();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each<[string, string, RefusalError]>([
    ['its claim was lost', 'WORKER_LEASE_LOST', new WorkerLeaseLostError('lost')],
    ['the service stops', 'SHUTTING_DOWN', new ShuttingDownError()],
  ])(
    'GIVEN a serving session is closed because %s THEN every later call, and one waiting for the next tick, is refused with %s',
    async (_why, code, reason) => {
      const { clock, dir, deps } = setup();
      const sleeps: (() => void)[] = [];
      const { claim } = fakeClaim({ datacenterId: 0, workerId: 2 }, 0, () => Infinity);
      const session = new NodeSession(
        { ...deps, scheduler: { sleep: () => new Promise<void>((wake) => sleeps.push(wake)) } },
        claim,
        0,
      );
      await session.activate(0, 'in the test');
      await batchOf(session.issuer, 4096); // the tick's sequence is used up
      const waiting = refusalOf(batchOf(session.issuer, 10));
      for (let i = 0; i < 20 && sleeps.length === 0; i++) await Promise.resolve();
      expect(sleeps).toHaveLength(1);

      session.close(reason);
      expect(session.refusal()).toBe(reason);
      clock.advance(1);
      sleeps[0]!();
      expect(await waiting).toBe(code);
      expect(await refusalOf(session.issuer.next())).toBe(code);
      expect(session.active).toBe(false);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  );

  it('GIVEN the layout ends within the reservation lead THEN the reservation written stops at its end, which a restart reads back', async () => {
    const { dir, deps } = setup();
    const endMs = T0 + 1000; // the lead is 2000 ms
    const layout = { ...DEFAULT_LAYOUT, timestampBits: 30, sequenceBits: 23, epochMs: endMs - 2 ** 30 };
    expect(layoutEndMs(layout)).toBe(endMs);
    const node = { datacenterId: 0, workerId: 1 };
    const { claim, stored } = fakeClaim(node, 0, () => Infinity);
    const session = new NodeSession(
      { ...deps, codec: new IdCodec(layout), openStateFile: (n) => new StateFile(dir, layout, n) },
      claim,
      0,
    );
    await session.activate(0, 'in the test');
    // Beyond the end a reader would take it for damage; at the end it already covers every possible ID.
    expect(stored).toEqual([endMs]);
    const file = new StateFile(dir, layout, node);
    expect(file.read().reservedUntilMs).toBe(endMs);
    await file.write(endMs + 1);
    expect(() => file.read()).toThrow(
      `state file ${file.path} is corrupt: reservedUntilMs ${endMs + 1} lies beyond the end of the layout's time range (allowed: 0 to ${endMs},`,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
