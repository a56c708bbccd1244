/**
 * How a call picks its first server:
 * - `round-robin`: each call starts at the next address in turn, spreading load over all servers;
 * - `pick-first`: every call goes to one server (initially the first address) until it fails, then
 *   sticks to the next one that answers.
 */
export type BalancingPolicy = 'round-robin' | 'pick-first';

/**
 * Decides the order in which one call tries the addresses. An address that just failed is "cooling
 * down" for `cooldownMs`: calls still may use it, but only after every address that is not cooling down.
 * Pure bookkeeping, no I/O; time comes from the caller (monotonic ms).
 */
export class Balancer {
  private readonly addresses: readonly string[];
  private readonly policy: BalancingPolicy;
  private readonly cooldownMs: number;
  /** Monotonic ms until which each address is cooling down (absent: healthy). */
  private readonly coolingUntil = new Map<string, number>();
  /** round-robin: index of the next call's first address; pick-first: index of the preferred address. */
  private cursor = 0;

  /** `addresses` must be non-empty and distinct; `cooldownMs` ≥ 0 (0 = never demote an address). */
  constructor(addresses: readonly string[], policy: BalancingPolicy, cooldownMs: number) {
    this.addresses = [...addresses];
    this.policy = policy;
    this.cooldownMs = cooldownMs;
  }

  /** Every address once, in the order one call should try them at `nowMs`; advances round-robin. */
  order(nowMs: number): string[] {
    const n = this.addresses.length;
    const start = this.cursor;
    if (this.policy === 'round-robin') this.cursor = (this.cursor + 1) % n;
    const rotated = this.addresses.map((_, i) => this.addresses[(start + i) % n] as string);
    const cooling = (a: string) => (this.coolingUntil.get(a) ?? -Infinity) > nowMs;
    return [...rotated.filter((a) => !cooling(a)), ...rotated.filter(cooling)];
  }

  /** Records that `address` answered: it is healthy again and, for pick-first, becomes the preferred one. */
  succeeded(address: string): void {
    this.coolingUntil.delete(address);
    if (this.policy === 'pick-first') this.cursor = Math.max(0, this.addresses.indexOf(address));
  }

  /** Records that `address` failed at `nowMs` (refused, unreachable or UNAVAILABLE). */
  failed(address: string, nowMs: number): void {
    if (this.cooldownMs > 0) this.coolingUntil.set(address, nowMs + this.cooldownMs);
  }
}
