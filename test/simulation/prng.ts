// Module-level copies: inside jest's vm context every global lookup (Math.…) is slow.
const { imul, floor, log } = Math;

/**
 * A small seeded PRNG (mulberry32 over a splitmix32-scrambled seed): every choice the simulation makes
 * comes from one of these, so a schedule is a pure function of its seed. Neighbouring seeds give
 * unrelated streams thanks to the scramble.
 */
export class Prng {
  private state: number;

  /** `seed`: any 32-bit unsigned integer. */
  constructor(seed: number) {
    this.state = scramble(seed >>> 0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + floor(this.next() * (hi - lo + 1));
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Exponentially distributed with mean `mean` (inter-arrival times of a Poisson process). */
  exp(mean: number): number {
    return -mean * log(1 - this.next());
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[floor(this.next() * items.length)] as T;
  }

  /** One key of `weights`, with probability proportional to its weight (weights ≥ 0, not all 0). */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const keys = Object.keys(weights) as K[];
    let total = 0;
    for (const k of keys) total += weights[k];
    let r = this.next() * total;
    let last = keys[0] as K;
    for (const k of keys) {
      if (weights[k] <= 0) continue;
      last = k;
      r -= weights[k];
      if (r < 0) return k;
    }
    return last;
  }
}

/** splitmix32 finalizer: spreads consecutive seeds over the whole state space. */
function scramble(seed: number): number {
  let z = (seed + 0x9e3779b9) | 0;
  z = imul(z ^ (z >>> 16), 0x85ebca6b);
  z = imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
