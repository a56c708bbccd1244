import pino from 'pino';
import type { Timers } from '../../src/timers';
import { claimEtcdWorkerIdVia, type EtcdWorkerIdClaim } from '../../src/worker-id/etcd/etcd-claim';
import type { EtcdKv, EtcdPort } from '../../src/worker-id/etcd/etcd-port';

/** Timers that never fire: a claim that waits for its call timeout never settles. */
const frozenTimers: Timers = { after: () => undefined, cancel: () => undefined };

/** Turns of the event loop a settled promise needs at most to be seen here (bounded wait, no clock). */
const TURNS = 20;

type Step = 'grant' | 'list' | 'claim';

/**
 * A scripted port: `hangAt` is the first call that never answers; every other call answers as an empty
 * etcd would. Records what was sent.
 */
function scriptedPort(hangAt: Step | undefined): { port: EtcdPort; sent: string[] } {
  const sent: string[] = [];
  const never = new Promise<never>(() => undefined);
  const reservation: { kv: EtcdKv | undefined } = { kv: undefined };
  const port: EtcdPort = {
    target: 'scripted-etcd',
    secrets: [],
    grantLease() {
      sent.push('grant');
      return hangAt === 'grant' ? never : Promise.resolve('7');
    },
    keepaliveOnce() {
      sent.push('keepalive');
      return Promise.resolve(10);
    },
    listKeys() {
      sent.push('list');
      return hangAt === 'list' ? never : Promise.resolve([]);
    },
    get(key) {
      sent.push(`get ${key}`);
      return Promise.resolve({ value: 'owner', lease: '7', createRevision: '5', modRevision: '5' });
    },
    claimKey() {
      sent.push('claim');
      return hangAt === 'claim'
        ? never
        : Promise.resolve({ succeeded: true, createRevision: '5', read: undefined });
    },
    readGuarded() {
      sent.push('read');
      return Promise.resolve({ succeeded: true, kv: reservation.kv });
    },
    writeGuarded(txn) {
      sent.push(`write ${txn.value}`);
      reservation.kv = { value: txn.value, lease: '0', createRevision: '6', modRevision: '6' };
      return Promise.resolve({ succeeded: true });
    },
    revokeLease(leaseId) {
      sent.push(`revoke ${leaseId}`);
      return Promise.resolve();
    },
    close() {
      sent.push('close');
    },
  };
  return { port, sent };
}

function claimVia(port: EtcdPort, signal: AbortSignal): Promise<EtcdWorkerIdClaim> {
  return claimEtcdWorkerIdVia(port, {
    datacenterId: 0,
    workerBits: 2,
    owner: 'abort-test',
    leaseTtlSeconds: 10,
    callTimeoutMs: 1000,
    timers: frozenTimers,
    monotonicNowMs: () => 0,
    signal,
    logger: pino({ level: 'silent' }),
  });
}

type Settled<T> = { value: T } | { error: unknown } | 'pending';

/** What `promise` settled with within a few event-loop turns, or 'pending'. */
async function settledWithin<T>(promise: Promise<T>): Promise<Settled<T>> {
  const state: { result: Settled<T> } = { result: 'pending' };
  promise.then(
    (value) => (state.result = { value }),
    (error: unknown) => (state.result = { error }),
  );
  for (let i = 0; i < TURNS && state.result === 'pending'; i++) await new Promise((r) => setImmediate(r));
  return state.result;
}

describe('claimEtcdWorkerIdVia with an abort signal (the port calls race the signal)', () => {
  it.each<[string, Step, string[]]>([
    ['the grant never answers', 'grant', ['grant', 'close']],
    ['the range never answers', 'list', ['grant', 'list', 'revoke 7', 'close']],
    ['the claim transaction never answers', 'claim', ['grant', 'list', 'claim', 'revoke 7', 'close']],
  ])(
    'GIVEN %s THEN an abort rejects with its reason at once, revoking only a granted lease',
    async (_what, hangAt, expected) => {
      const { port, sent } = scriptedPort(hangAt);
      const controller = new AbortController();
      const claim = claimVia(port, controller.signal);
      // Without the abort, the frozen timers mean the claim never ends.
      expect(await settledWithin(claim)).toBe('pending');

      const reason = new Error('SIGTERM');
      controller.abort(reason);

      expect(await settledWithin(claim)).toEqual({ error: reason });
      expect(sent).toEqual(expected);
    },
  );

  it('GIVEN a signal aborted before the claim THEN nothing is sent and the port is closed', async () => {
    const { port, sent } = scriptedPort(undefined);
    const reason = new Error('already stopping');

    const result = await settledWithin(claimVia(port, AbortSignal.abort(reason)));

    expect(result).toEqual({ error: reason });
    expect(sent).toEqual(['close']);
  });

  it('GIVEN the claim resolved THEN aborting its signal leaves the held claim working', async () => {
    const { port, sent } = scriptedPort(undefined);
    const controller = new AbortController();
    const result = await settledWithin(claimVia(port, controller.signal));
    if (result === 'pending' || !('value' in result)) throw new Error('the claim did not resolve');
    const claim = result.value;

    controller.abort(new Error('too late'));

    expect(await settledWithin(claim.storeReservation(1_700_000_000_000))).toEqual({ value: undefined });
    expect(claim.held).toBe(true);
    expect(sent).toContain('write 1700000000000');
    await claim.release();
  });
});
