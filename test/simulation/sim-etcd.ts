import { EtcdLeaseNotFoundError } from '../../src/worker-id/etcd/etcd-port';
import type { World } from './world';
import { count } from './world';

/** One key-value, with etcd's revision bookkeeping. */
export interface SimKv {
  readonly value: string;
  /** Lease ID the key is attached to; 0 for none. */
  readonly lease: number;
  readonly createRevision: number;
  readonly modRevision: number;
}

interface LeaseRecord {
  readonly ttlMs: number;
  /** etcd-clock ms at which the lease expires unless kept alive. */
  expiresAtMs: number;
}

/**
 * An in-memory etcd: keys with create/mod revisions, and leases whose TTL runs on etcd's own clock (which
 * may run faster than a node's monotonic clock). A lease expires when that clock passes its deadline;
 * expiry is applied lazily, before every operation, which is indistinguishable from outside. Keys attached
 * to an expired or revoked lease are deleted. Operations are atomic (a transaction is one call here).
 */
export class SimEtcd {
  private readonly clockMs: () => number;
  private readonly leases = new Map<number, LeaseRecord>();
  private readonly kvs = new Map<string, SimKv>();
  private revision = 1;
  private nextLeaseId = 1;
  private readonly world: World;

  /** `clockMs`: etcd's clock in ms (true time scaled by its rate). */
  constructor(world: World, clockMs: () => number) {
    this.world = world;
    this.clockMs = clockMs;
  }

  /** LeaseGrant: a new lease of `ttlMs`, counted from now on etcd's clock. */
  grant(ttlMs: number): number {
    this.expire();
    const id = this.nextLeaseId++;
    this.leases.set(id, { ttlMs, expiresAtMs: this.clockMs() + ttlMs });
    return id;
  }

  /** LeaseKeepAlive: restarts the TTL; returns it, or 0 when the lease is unknown (expired or revoked). */
  keepAlive(id: number): number {
    this.expire();
    const lease = this.leases.get(id);
    if (lease === undefined) return 0;
    lease.expiresAtMs = this.clockMs() + lease.ttlMs;
    return lease.ttlMs;
  }

  /** LeaseRevoke: the lease and its keys are gone at once. */
  revoke(id: number): void {
    this.expire();
    if (this.leases.has(id)) this.dropLease(id);
  }

  /** For the checker (no side effects): is lease `id` alive on etcd's side right now? */
  isAlive(id: number): boolean {
    const lease = this.leases.get(id);
    return lease !== undefined && lease.expiresAtMs > this.clockMs();
  }

  /** Range over a prefix: the keys. */
  keys(prefix: string): string[] {
    this.expire();
    const out: string[] = [];
    for (const key of this.kvs.keys()) if (key.startsWith(prefix)) out.push(key);
    return out;
  }

  /** Range of one key. */
  get(key: string): SimKv | undefined {
    this.expire();
    return this.kvs.get(key);
  }

  /**
   * Txn `if <every compare: create_revision(key) == createRevision> then put(key, owner, lease),
   * get(readKey)`; an absent key's create_revision is 0. Throws {@link EtcdLeaseNotFoundError} (etcd's
   * "requested lease not found") when the lease is gone. A put over an existing key keeps its
   * create_revision, as etcd does.
   */
  claimTxn(
    compares: readonly { readonly key: string; readonly createRevision: number }[],
    key: string,
    owner: string,
    leaseId: number,
    readKey: string,
  ): { succeeded: true; revision: number; read: SimKv | undefined } | { succeeded: false } {
    this.expire();
    if (compares.some((c) => (this.kvs.get(c.key)?.createRevision ?? 0) !== c.createRevision)) {
      return { succeeded: false };
    }
    if (!this.leases.has(leaseId)) throw new EtcdLeaseNotFoundError(String(leaseId));
    const revision = ++this.revision;
    const createRevision = this.kvs.get(key)?.createRevision ?? revision;
    this.kvs.set(key, { value: owner, lease: leaseId, createRevision, modRevision: revision });
    return { succeeded: true, revision, read: this.kvs.get(readKey) };
  }

  /**
   * Txn `if create_revision(guard) == createRevision and lease(guard) == leaseId [and mod_revision(key)
   * == modRevision] then (put(key, value) | get(key)) else get(guard)`: the guarded read or write of a
   * worker's reservation. `value` undefined means read.
   */
  guarded(
    guard: string,
    createRevision: number,
    leaseId: number,
    key: string,
    write?: { readonly modRevision: number; readonly value: string },
  ): { succeeded: boolean; kv: SimKv | undefined } {
    this.expire();
    const g = this.kvs.get(guard);
    const ours = g !== undefined && g.createRevision === createRevision && g.lease === leaseId;
    const current = this.kvs.get(key);
    if (!ours || (write !== undefined && (current?.modRevision ?? 0) !== write.modRevision)) {
      return { succeeded: false, kv: g };
    }
    if (write === undefined) return { succeeded: true, kv: current };
    const revision = ++this.revision;
    this.kvs.set(key, {
      value: write.value,
      lease: 0,
      createRevision: current?.createRevision ?? revision,
      modRevision: revision,
    });
    return { succeeded: true, kv: undefined };
  }

  /** For the checker: the value of `key` right now, without applying expiry. */
  peek(key: string): SimKv | undefined {
    return this.kvs.get(key);
  }

  private expire(): void {
    const now = this.clockMs();
    for (const [id, lease] of this.leases) {
      if (lease.expiresAtMs <= now) {
        count(this.world.counters, 'event.lease expired in etcd');
        this.dropLease(id);
      }
    }
  }

  private dropLease(id: number): void {
    this.leases.delete(id);
    let deleted = false;
    for (const [key, kv] of this.kvs) {
      if (kv.lease === id) {
        this.kvs.delete(key);
        deleted = true;
      }
    }
    if (deleted) this.revision++;
  }
}

/** The network between one machine and etcd: partitions and lost keepalives are faults on it. */
export interface LinkState {
  /** Until this true time, every message either way is dropped. */
  partitionedUntilMs: number;
  /** Until this true time, keepalive requests are dropped (other calls get through). */
  keepaliveLossUntilMs: number;
  /** Until this true time, each message is dropped with probability {@link FLAKY_DROP}. */
  flakyUntilMs: number;
  /** Until this true time, each message takes {@link SLOW_DELAY_MS} (a stalled etcd, a congested link). */
  slowUntilMs: number;
}

const FLAKY_DROP = 0.3;

/** One-way delay of a message on a slow link, ms: answers come back up to 3 s after the request. */
const SLOW_DELAY_MS = { min: 100, max: 1500 } as const;

/** A new link with no fault. */
export function healthyLink(): LinkState {
  return {
    partitionedUntilMs: -Infinity,
    keepaliveLossUntilMs: -Infinity,
    flakyUntilMs: -Infinity,
    slowUntilMs: -Infinity,
  };
}

/**
 * Sends `op` to etcd over `link`: it runs at etcd after a network delay (even if the sender has died
 * meanwhile), and its answer comes back after another, unless a message is dropped (the promise then
 * never settles: the caller's own timer ends the call, as EtcdCalls does in etcd-claim.ts). `what` names
 * the RPC (`LeaseKeepAlive` requests are the ones lost keepalives drop). Nothing settles once `alive()`
 * is false.
 */
export function etcdCall<T>(
  world: World,
  etcd: SimEtcd,
  link: LinkState,
  what: string,
  op: (etcd: SimEtcd) => T,
  alive: () => boolean,
): Promise<T> {
  const { loop, rng } = world;
  const dropped = (keepalive: boolean): boolean =>
    loop.now < link.partitionedUntilMs ||
    (keepalive && loop.now < link.keepaliveLossUntilMs) ||
    (loop.now < link.flakyUntilMs && rng.chance(FLAKY_DROP));
  const delay = (): number => {
    if (loop.now < link.slowUntilMs) return rng.range(SLOW_DELAY_MS.min, SLOW_DELAY_MS.max);
    return !world.calm && rng.chance(0.03) ? rng.range(20, 600) : rng.range(0.1, 3);
  };
  return new Promise<T>((resolve, reject) => {
    if (dropped(what === 'LeaseKeepAlive')) {
      count(world.counters, 'event.etcd request lost');
      return;
    }
    loop.after(delay(), () => {
      let outcome: { ok: true; value: T } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, value: op(etcd) };
      } catch (error) {
        outcome = { ok: false, error };
      }
      if (dropped(false)) {
        count(world.counters, 'event.etcd answer lost');
        return;
      }
      loop.after(delay(), () => {
        if (!alive()) return;
        world.dirty = true;
        if (outcome.ok) resolve(outcome.value);
        else reject(outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error)));
      });
    });
  });
}
