import { Balancer, type BalancingPolicy } from '../../packages/client/src/balancer';

const A = 'a:1';
const B = 'b:1';
const C = 'c:1';

type Step = { order: string[] } | { ok: string } | { fail: string; at: number } | { at: number };

/** Runs steps in sequence; `{ at }` moves the clock, `{ order }` checks the next call's order. */
function run(policy: BalancingPolicy, cooldownMs: number, steps: Step[]): void {
  const balancer = new Balancer([A, B, C], policy, cooldownMs);
  let now = 0;
  for (const step of steps) {
    if ('order' in step) expect(balancer.order(now)).toEqual(step.order);
    else if ('ok' in step) balancer.succeeded(step.ok);
    else if ('fail' in step) balancer.failed(step.fail, step.at);
    else now = step.at;
  }
}

describe('Balancer', () => {
  it.each<[string, BalancingPolicy, number, Step[]]>([
    [
      'round-robin starts each call at the next address',
      'round-robin',
      1000,
      [{ order: [A, B, C] }, { order: [B, C, A] }, { order: [C, A, B] }, { order: [A, B, C] }],
    ],
    [
      'pick-first starts every call at the first address while it works',
      'pick-first',
      1000,
      [{ order: [A, B, C] }, { ok: A }, { order: [A, B, C] }, { order: [A, B, C] }],
    ],
    [
      'pick-first sticks to the address that answered after a failure',
      'pick-first',
      1000,
      [{ fail: A, at: 0 }, { ok: B }, { order: [B, C, A] }, { at: 5000 }, { order: [B, C, A] }],
    ],
    [
      'a failed address goes last while it cools down, then returns to its place',
      'round-robin',
      1000,
      [
        { fail: B, at: 0 },
        { order: [A, C, B] },
        { at: 999 },
        { order: [C, A, B] },
        { at: 1001 },
        { order: [C, A, B] },
        { order: [A, B, C] },
      ],
    ],
    [
      'success ends the cool-down at once',
      'round-robin',
      1000,
      [{ fail: A, at: 0 }, { ok: A }, { order: [A, B, C] }],
    ],
    [
      'when every address cools down, all are still tried in policy order',
      'round-robin',
      1000,
      [
        { fail: A, at: 0 },
        { fail: B, at: 0 },
        { fail: C, at: 0 },
        { order: [A, B, C] },
        { order: [B, C, A] },
      ],
    ],
    ['cooldown 0 never demotes an address', 'pick-first', 0, [{ fail: A, at: 0 }, { order: [A, B, C] }]],
  ])('%s', (_name, policy, cooldownMs, steps) => {
    run(policy, cooldownMs, steps);
  });
});
