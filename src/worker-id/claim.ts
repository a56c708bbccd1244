import type { NodeId } from '../core/codec';

/**
 * A (datacenter ID, worker ID) pair this instance holds, wherever it came from (static config, a
 * Kubernetes ordinal, an etcd lease). The generator may stamp `node` into IDs only while
 * {@link WorkerIdClaim.safeUntilMs} is in the future.
 */
export interface WorkerIdClaim {
  /** The node IDs to stamp into IDs. */
  readonly node: NodeId;
  /** Where the claim came from, for logs and GetInfo: `static`, `ordinal` or `etcd`. */
  readonly source: 'static' | 'ordinal' | 'etcd';
  /**
   * Unix ms high-water mark left by earlier holders of this node ID in the coordinator (0 when the
   * source keeps none): every ID they issued has a timestamp before it.
   */
  readonly previousReservationMs: number;
  /** Records a reservation (Unix ms) for this node ID so a later holder starts after it; no-op for static sources. */
  storeReservation(untilMs: number): Promise<void>;
  /**
   * Monotonic-clock ms (the same clock passed to the source) until which the claim is proven valid:
   * Infinity for sources without leases.
   */
  safeUntilMs(): number;
  /** Registers a listener called once when the claim is known lost (lease expired or revoked). */
  onLost(listener: (reason: string) => void): void;
  /** Gives the node ID back (revokes the lease) so another instance can take it at once. */
  release(): Promise<void>;
}

/** A claim that never expires: static configuration or a Kubernetes ordinal. */
export function fixedClaim(node: NodeId, source: 'static' | 'ordinal'): WorkerIdClaim {
  return {
    node,
    source,
    previousReservationMs: 0,
    storeReservation: () => Promise.resolve(),
    safeUntilMs: () => Infinity,
    onLost: () => undefined,
    release: () => Promise.resolve(),
  };
}
