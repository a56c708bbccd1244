import { defaultFenceMarginMs, LeaseFence } from '../../src/worker-id/etcd/fence';

type Step = ['sent', number] | ['acked', number] | ['invalidate'];

interface Case {
  name: string;
  ttlMs: number;
  marginMs?: number;
  grantSentAtMs: number;
  steps: Step[];
  safeUntilMs: number;
  /** [nowMs, isValid(nowMs)] pairs checked after the steps. */
  validAt: [number, boolean][];
}

function run(c: Pick<Case, 'ttlMs' | 'marginMs' | 'grantSentAtMs' | 'steps'>): LeaseFence {
  const fence = new LeaseFence({ ttlMs: c.ttlMs, marginMs: c.marginMs, grantSentAtMs: c.grantSentAtMs });
  for (const step of c.steps) {
    if (step[0] === 'sent') fence.keepaliveSent(step[1]);
    else if (step[0] === 'acked') fence.keepaliveAcked(step[1]);
    else fence.invalidate();
  }
  return fence;
}

describe('LeaseFence', () => {
  it.each<Case>([
    {
      name: 'GIVEN only the grant THEN the deadline is grant send time + TTL − margin',
      ttlMs: 10_000,
      marginMs: 2000,
      grantSentAtMs: 500,
      steps: [],
      safeUntilMs: 8500,
      validAt: [
        [500, true],
        [8499, true],
        [8500, false],
      ],
    },
    {
      name: 'GIVEN an acked keepalive THEN the deadline counts from its SEND time, not the ack time',
      ttlMs: 10_000,
      marginMs: 2000,
      grantSentAtMs: 0,
      steps: [
        ['sent', 3000],
        ['acked', 3000],
      ],
      safeUntilMs: 11_000,
      validAt: [
        [10_999, true],
        [11_000, false],
      ],
    },
    {
      name: 'GIVEN a keepalive sent but never acked THEN the deadline stays at the last acked send',
      ttlMs: 10_000,
      marginMs: 2000,
      grantSentAtMs: 0,
      steps: [
        ['sent', 3000],
        ['acked', 3000],
        ['sent', 6000],
      ],
      safeUntilMs: 11_000,
      validAt: [[11_000, false]],
    },
    {
      name: 'GIVEN a late ack of an older keepalive after a newer one THEN the deadline does not move back',
      ttlMs: 10_000,
      marginMs: 2000,
      grantSentAtMs: 0,
      steps: [
        ['sent', 3000],
        ['sent', 6000],
        ['acked', 6000],
        ['acked', 3000],
      ],
      safeUntilMs: 14_000,
      validAt: [[13_999, true]],
    },
    {
      name: 'GIVEN keepalives keep failing THEN the fence lapses before the TTL can end on etcd',
      ttlMs: 2000,
      marginMs: 1000,
      grantSentAtMs: 100,
      steps: [
        ['sent', 433],
        ['sent', 766],
        ['sent', 1099],
      ],
      safeUntilMs: 1100,
      validAt: [
        [1099, true],
        [1100, false],
        [2099, false],
      ],
    },
    {
      name: 'GIVEN margin 0 THEN the deadline is exactly send time + TTL',
      ttlMs: 1000,
      marginMs: 0,
      grantSentAtMs: 0,
      steps: [
        ['sent', 250],
        ['acked', 250],
      ],
      safeUntilMs: 1250,
      validAt: [[1249.5, true]],
    },
    {
      name: 'GIVEN the default margin for 10 s THEN it is 2 s',
      ttlMs: 10_000,
      grantSentAtMs: 0,
      steps: [],
      safeUntilMs: 8000,
      validAt: [],
    },
    {
      name: 'GIVEN invalidate THEN it is invalid at once and later acks do not revive it',
      ttlMs: 10_000,
      marginMs: 2000,
      grantSentAtMs: 0,
      steps: [['sent', 1000], ['invalidate'], ['acked', 1000]],
      safeUntilMs: -Infinity,
      validAt: [
        [0, false],
        [1000, false],
      ],
    },
  ])('$name', (c) => {
    const fence = run(c);
    expect(fence.safeUntilMs()).toBe(c.safeUntilMs);
    for (const [now, valid] of c.validAt) expect([now, fence.isValid(now)]).toEqual([now, valid]);
  });

  it.each<[number, number]>([
    [1000, 500],
    [2000, 1000],
    [3000, 1000],
    [5000, 1000],
    [10_000, 2000],
    [60_000, 12_000],
  ])('GIVEN a TTL of %d ms THEN the default margin is %d ms', (ttlMs, marginMs) => {
    expect(defaultFenceMarginMs(ttlMs)).toBe(marginMs);
  });

  it.each<[number, number, number]>([
    [10_000, 2000, 8000 / 3],
    [2000, 1000, 1000 / 3],
  ])('GIVEN TTL %d ms and margin %d ms THEN keepalives go every %d ms', (ttlMs, marginMs, interval) => {
    expect(new LeaseFence({ ttlMs, marginMs, grantSentAtMs: 0 }).keepaliveIntervalMs).toBeCloseTo(interval);
  });

  it('GIVEN acks THEN lastAckedSentAtMs is the newest acknowledged send time', () => {
    const fence = run({
      ttlMs: 10_000,
      grantSentAtMs: 7,
      steps: [
        ['sent', 100],
        ['sent', 200],
        ['acked', 200],
        ['acked', 100],
      ],
    });
    expect(fence.lastAckedSentAtMs).toBe(200);
  });

  it.each<[string, () => unknown]>([
    ['TTL 0', () => new LeaseFence({ ttlMs: 0, grantSentAtMs: 0 })],
    ['margin = TTL', () => new LeaseFence({ ttlMs: 1000, marginMs: 1000, grantSentAtMs: 0 })],
    ['negative margin', () => new LeaseFence({ ttlMs: 1000, marginMs: -1, grantSentAtMs: 0 })],
    ['NaN grant time', () => new LeaseFence({ ttlMs: 1000, grantSentAtMs: NaN })],
    [
      'a send before the previous one',
      () =>
        run({
          ttlMs: 1000,
          grantSentAtMs: 0,
          steps: [
            ['sent', 500],
            ['sent', 400],
          ],
        }),
    ],
    [
      'an ack for a time after the newest send',
      () => run({ ttlMs: 1000, grantSentAtMs: 0, steps: [['acked', 1]] }),
    ],
  ])('GIVEN %s THEN it throws RangeError', (_name, act) => {
    expect(act).toThrow(RangeError);
  });
});
