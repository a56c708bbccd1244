import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffOptions } from '../../packages/client/src/backoff';

const noJitter: BackoffOptions = { ...DEFAULT_BACKOFF, jitter: 0 };

describe('backoffDelayMs', () => {
  it.each<[string, number, BackoffOptions, number, number]>([
    ['first wait is initialMs', 0, noJitter, 0.5, 50],
    ['grows by the multiplier per round', 3, noJitter, 0.5, 400],
    ['is capped at maxMs', 10, noJitter, 0.5, 1000],
    ['random 0.5 means no jitter', 1, DEFAULT_BACKOFF, 0.5, 100],
    ['random 0 takes jitter off', 1, DEFAULT_BACKOFF, 0, 80],
    ['random near 1 adds jitter', 1, DEFAULT_BACKOFF, 0.999999, 119.99996],
    ['jitter never lifts a delay above maxMs', 10, DEFAULT_BACKOFF, 0.999999, 1000],
    ['a zero initial delay stays zero', 4, { ...DEFAULT_BACKOFF, initialMs: 0 }, 0.9, 0],
    ['multiplier 1 keeps the delay constant', 7, { ...noJitter, multiplier: 1 }, 0.3, 50],
  ])('%s', (_name, round, options, random, expected) => {
    expect(backoffDelayMs(round, options, () => random)).toBeCloseTo(expected, 3);
  });

  it('stays within ±jitter of the exponential delay for any random value', () => {
    for (let i = 0; i <= 100; i++) {
      const d = backoffDelayMs(2, DEFAULT_BACKOFF, () => i / 101);
      expect(d).toBeGreaterThanOrEqual(200 * 0.8);
      expect(d).toBeLessThan(200 * 1.2);
    }
  });
});
