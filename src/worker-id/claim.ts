import type { NodeId } from '../core/codec';

/**
 * A (datacenter ID, worker ID) pair this instance holds, wherever it came from (static config, a
 * Kubernetes ordinal, an etcd lease). The generator may stamp `node` into IDs only while
 * {@link WorkerIdClaim.safeUntilMs} is in the future.
 */
export interface WorkerIdClaim {
  /** The node IDs to stamp into IDs. */
  readonly node: NodeId;
  /** What this claim's source can do (the same for every claim of one source). */
  readonly capabilities: ClaimCapabilities;
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

/**
 * What the claims of one worker-ID source can do. The layers above read these instead of comparing source
 * names, so adding a source does not touch them.
 */
export interface ClaimCapabilities {
  /**
   * The node ID may differ from one claim to the next (a lease): a state file written for another node is
   * ignored instead of refused, and a lost claim is followed by a new claim rather than the end.
   */
  readonly nodeMayChange: boolean;
  /**
   * Where the source also keeps the reservation, off this machine (e.g. `etcd`), for messages; undefined
   * when the state file is the only record. With a remote record, nothing is known durable in both places
   * when a claim starts, so the first grant waits for a write.
   */
  readonly remoteReservation: string | undefined;
  /**
   * Claiming may wait on a coordinator (seconds to minutes): the server binds its ports first and claims
   * in the background, NOT_SERVING until then. False: a claim settles at once, before the ports open.
   */
  readonly claimWaits: boolean;
}

/**
 * Where worker IDs come from: one per configured `SNOWFLAKE_WORKER_ID_SOURCE`, built by its registration
 * (see `registry.ts`). {@link WorkerIdSource.claim} is called for the first claim and again after a claim
 * is lost.
 */
export interface WorkerIdSource {
  /** The source's name (its `SNOWFLAKE_WORKER_ID_SOURCE` value), for logs. */
  readonly name: string;
  /** What every claim of this source can do. */
  readonly capabilities: ClaimCapabilities;
  /**
   * True when the node is a built-in default rather than configured (the static source without
   * SNOWFLAKE_WORKER_ID): two such instances issue the same IDs. Exported as
   * `snowflake_worker_id_defaulted`, so it can be alerted on.
   */
  readonly workerIdDefaulted: boolean;
  /**
   * Claims a node ID. While the coordinator is unreachable it retries for up to `retryWindowMs` (ms from
   * the call; at least one attempt), then rejects with `CoordinatorUnreachableError` (the last
   * attempt's message and cause); final errors reject at once. Aborting `signal` ends it at once,
   * rejecting with the signal's reason.
   */
  claim(signal: AbortSignal | undefined, retryWindowMs: number): Promise<WorkerIdClaim>;
}

/** Capabilities of a source whose node is fixed by configuration and never lost. */
export const FIXED_CAPABILITIES: ClaimCapabilities = {
  nodeMayChange: false,
  remoteReservation: undefined,
  claimWaits: false,
};

/**
 * The source `name` of a node fixed by configuration (static, or a Kubernetes ordinal): claims never
 * expire. `workerIdDefaulted`: see {@link WorkerIdSource.workerIdDefaulted}; default false.
 */
export function fixedSource(node: NodeId, name: string, workerIdDefaulted = false): WorkerIdSource {
  return {
    name,
    capabilities: FIXED_CAPABILITIES,
    workerIdDefaulted,
    claim: () => Promise.resolve(fixedClaim(node)),
  };
}

/** A claim that never expires: static configuration or a Kubernetes ordinal. */
export function fixedClaim(node: NodeId): WorkerIdClaim {
  return {
    node,
    capabilities: FIXED_CAPABILITIES,
    previousReservationMs: 0,
    storeReservation: () => Promise.resolve(),
    safeUntilMs: () => Infinity,
    onLost: () => undefined,
    release: () => Promise.resolve(),
  };
}
