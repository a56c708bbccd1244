/**
 * The etcd operations the worker-ID claim protocol needs, and nothing more: the seam between the
 * protocol (`etcd-claim.ts`) and an etcd client (`etcd3-adapter.ts` in production, the simulated etcd
 * and network in `test/simulation`). etcd's int64s (lease IDs, revisions) are decimal strings.
 */

/** One key's value and revision bookkeeping. */
export interface EtcdKv {
  /** The value, decoded as UTF-8. */
  readonly value: string;
  /** The lease the key is attached to (decimal int64); `'0'` for none. */
  readonly lease: string;
  /** Revision that created the key (decimal int64). */
  readonly createRevision: string;
  /** Revision of the key's last change (decimal int64). */
  readonly modRevision: string;
}

/** One compare of a transaction: `create_revision(key) == createRevision`; `'0'` means the key does not exist. */
export interface EtcdCreateRevisionCompare {
  readonly key: string;
  /** Decimal int64. */
  readonly createRevision: string;
}

/**
 * The claim transaction: `if <every compare> then put(key, value, lease), get(readKey)`. The claim asks
 * `create_revision(key) == 0` (nobody holds the key); a port applies exactly the compares it is given,
 * so what guards the put is the protocol's decision, visible wherever the protocol runs.
 */
export interface EtcdClaimTxn {
  /** All must hold for the put to happen; none: it always happens. */
  readonly compares: readonly EtcdCreateRevisionCompare[];
  readonly key: string;
  readonly value: string;
  /** Lease the new key is attached to (decimal int64). */
  readonly leaseId: string;
  /** Key read in the same transaction (the worker ID's reservation). */
  readonly readKey: string;
}

/** Outcome of {@link EtcdPort.claimKey}. */
export type EtcdClaimTxnResult =
  | {
      readonly succeeded: true;
      /** The new key's create_revision (the transaction's revision; decimal int64). */
      readonly createRevision: string;
      /** `readKey` as of the transaction; undefined when absent. */
      readonly read: EtcdKv | undefined;
    }
  | { readonly succeeded: false };

/** The guard of a holder's transactions: `create_revision(key) == createRevision and lease(key) == leaseId`. */
export interface EtcdHolderGuard {
  /** The worker key. */
  readonly key: string;
  readonly createRevision: string;
  readonly leaseId: string;
}

/**
 * Outcome of {@link EtcdPort.readGuarded}: the key read (undefined when absent) when the guard held, else
 * the guard key as it is now (undefined when gone).
 */
export type EtcdGuardedRead =
  | { readonly succeeded: true; readonly kv: EtcdKv | undefined }
  | { readonly succeeded: false; readonly guard: EtcdKv | undefined };

/** The guarded write: `if guard and mod_revision(key) == modRevision then put(key, value) else get(guard)`. */
export interface EtcdGuardedWriteTxn {
  readonly guard: EtcdHolderGuard;
  readonly key: string;
  /** The mod_revision `key` must still have (decimal int64); `'0'` when it must not exist. */
  readonly modRevision: string;
  readonly value: string;
}

/**
 * Outcome of {@link EtcdPort.writeGuarded}. On failure either the guard or the mod_revision compare
 * failed; `guard` is the guard key as it is now (undefined when gone), which tells them apart.
 */
export type EtcdGuardedWrite =
  { readonly succeeded: true } | { readonly succeeded: false; readonly guard: EtcdKv | undefined };

/** etcd no longer knows the lease (it expired or was revoked): `etcdserver: requested lease not found`. */
export class EtcdLeaseNotFoundError extends Error {
  /** The lease (decimal int64). */
  readonly leaseId: string;

  constructor(leaseId: string) {
    super(`etcd lease ${leaseId} is expired or revoked (lease not found)`);
    this.name = 'EtcdLeaseNotFoundError';
    this.leaseId = leaseId;
  }
}

/**
 * A connection to one etcd cluster, as the claim protocol uses it. Every call takes `timeoutMs` (> 0), the
 * deadline of that call: an adapter passes it on as the request deadline (a call may still take effect
 * at etcd after it, as any request whose answer is lost). Callers bound each call themselves too, so an
 * adapter that cannot enforce a deadline stays correct. Rejections carry the client's own error (for
 * the caller's messages and for retry decisions), or {@link EtcdLeaseNotFoundError} where noted.
 */
export interface EtcdPort {
  /** Where the calls go, for messages: the endpoint URLs, comma-separated, with URL credentials redacted. */
  readonly target: string;
  /**
   * This connection's secrets (credentials in endpoint URLs, the password) as a client error message may
   * quote them: the claim redacts them from every message it passes on. Empty when there are none.
   */
  readonly secrets: readonly string[];
  /** LeaseGrant: a new lease of `ttlSeconds` (whole seconds ≥ 1); resolves with its ID (decimal int64). */
  grantLease(ttlSeconds: number, timeoutMs: number): Promise<string>;
  /**
   * One LeaseKeepAlive: restarts the lease's TTL at etcd; resolves with the TTL in seconds (> 0), or
   * rejects with {@link EtcdLeaseNotFoundError} when the lease expired or was revoked.
   */
  keepaliveOnce(leaseId: string, timeoutMs: number): Promise<number>;
  /** Range over a prefix: the keys (no values). */
  listKeys(prefix: string, timeoutMs: number): Promise<readonly string[]>;
  /** Range of one key; undefined when absent. */
  get(key: string, timeoutMs: number): Promise<EtcdKv | undefined>;
  /**
   * The claim transaction (see {@link EtcdClaimTxn}), atomically. Rejects with
   * {@link EtcdLeaseNotFoundError} when the key is free but the lease is gone.
   */
  claimKey(txn: EtcdClaimTxn, timeoutMs: number): Promise<EtcdClaimTxnResult>;
  /** `if guard then get(key) else get(guard.key)`, atomically. */
  readGuarded(guard: EtcdHolderGuard, key: string, timeoutMs: number): Promise<EtcdGuardedRead>;
  /** The guarded write (see {@link EtcdGuardedWriteTxn}), atomically; the key is written without a lease. */
  writeGuarded(txn: EtcdGuardedWriteTxn, timeoutMs: number): Promise<EtcdGuardedWrite>;
  /** LeaseRevoke: the lease and its keys are gone at once; resolves too when the lease was already gone. */
  revokeLease(leaseId: string, timeoutMs: number): Promise<void>;
  /** Closes the connection; calls made after it fail. Idempotent. */
  close(): void;
}
