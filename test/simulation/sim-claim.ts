import type { NodeId } from '../../src/core/codec';
import {
  CoordinationError,
  SnowflakeError,
  WorkerIdsExhaustedError,
  WorkerLeaseLostError,
} from '../../src/errors';
import type { WorkerIdClaim } from '../../src/worker-id/claim';
import { defaultFenceMarginMs, LeaseFence } from '../../src/worker-id/fence';
import type { SimTimer } from './event-loop';
import type { SimEtcd, SimKv } from './sim-etcd';

/** How many times storeReservation re-reads after another writer changed the key (as etcd-claim.ts). */
const MAX_STORE_ATTEMPTS = 5;

/** What a simulated claim runs on: one process's monotonic clock, timers, and its link to etcd. */
export interface ClaimEnv {
  /** One etcd request/answer, raced against `timeoutMs` (rejects with CoordinationError). */
  call<T>(what: string, op: (etcd: SimEtcd) => T, timeoutMs: number): Promise<T>;
  /** The process's monotonic clock, ms (the fence's clock). */
  now(): number;
  /** Runs `fn` after `ms` of the process's monotonic clock, unless the process died. */
  after(ms: number, fn: () => void): SimTimer;
  cancel(timer: SimTimer | undefined): void;
  readonly prefix: string;
  readonly datacenterId: number;
  readonly workerIdCount: number;
  readonly ttlMs: number;
  readonly owner: string;
  /** Time limit of the whole claim, ms (etcd-claim.ts: 30 s by default). */
  readonly claimTimeoutMs: number;
}

/** A worker ID held through a simulated etcd lease. */
export interface SimWorkerIdClaim extends WorkerIdClaim {
  readonly source: 'etcd';
  readonly leaseId: number;
  readonly held: boolean;
}

/** `${prefix}dc/${dc}/worker/${id}`, the key holding a worker ID (as etcdWorkerKey). */
export function workerKey(prefix: string, datacenterId: number, workerId: number): string {
  return `${prefix}dc/${datacenterId}/worker/${workerId}`;
}

/** `${prefix}dc/${dc}/reservation/${id}`, the reservation of a worker ID; not leased (as etcdReservationKey). */
export function reservationKey(prefix: string, datacenterId: number, workerId: number): string {
  return `${prefix}dc/${datacenterId}/reservation/${workerId}`;
}

interface Phase {
  readonly env: ClaimEnv;
  readonly leaseId: number;
  readonly fence: LeaseFence;
  readonly callTimeoutMs: number;
  readonly giveUpAtMs: number;
}

/**
 * The claim protocol of src/worker-id/etcd-claim.ts (claimEtcdWorkerId and its EtcdClaim), step for
 * step, over {@link SimEtcd} instead of the etcd3 client and over simulated timers instead of
 * setTimeout — etcd-claim.ts takes neither as a parameter, so it cannot be driven directly. The fence is
 * the real {@link LeaseFence}.
 *
 * Grant a lease (its send time starts the fence), list the held worker keys, then for each free ID from
 * 0 up try `if create_revision(key) == 0 then put(key, owner, lease), get(reservation)`; renew once
 * whenever the fence lapsed meanwhile. Rejects with WorkerIdsExhaustedError or CoordinationError,
 * revoking the lease first.
 */
export async function claimSimWorkerId(env: ClaimEnv): Promise<SimWorkerIdClaim> {
  const { ttlMs } = env;
  const marginMs = defaultFenceMarginMs(ttlMs);
  const callTimeoutMs = Math.min(5000, ttlMs - marginMs);
  const startedMs = env.now();
  const grantSentAtMs = env.now();
  let leaseId: number | undefined;
  try {
    leaseId = await env.call('LeaseGrant', (etcd) => etcd.grant(ttlMs), callTimeoutMs);
    const phase: Phase = {
      env,
      leaseId,
      fence: new LeaseFence({ ttlMs, marginMs, grantSentAtMs }),
      callTimeoutMs,
      giveUpAtMs: startedMs + env.claimTimeoutMs,
    };
    const won = await claimLowestFree(phase);
    await renewIfLapsed(phase);
    return new SimEtcdClaim(phase, won);
  } catch (err) {
    if (leaseId !== undefined) await revokeQuietly(env, leaseId, callTimeoutMs);
    throw err instanceof SnowflakeError
      ? err
      : new CoordinationError(`claiming a worker ID failed: ${String(err)}`, err);
  }
}

interface Won {
  readonly workerId: number;
  readonly createRevision: number;
  readonly previousReservationMs: number;
}

async function claimLowestFree(phase: Phase): Promise<Won> {
  const { env, leaseId, callTimeoutMs } = phase;
  const { prefix, datacenterId, workerIdCount, owner } = env;
  const workerPrefix = `${prefix}dc/${datacenterId}/worker/`;
  const heldKeys = await env.call('Range', (etcd) => etcd.keys(workerPrefix), callTimeoutMs);
  const held = new Set(heldKeys.map((key) => key.slice(workerPrefix.length)));
  for (let workerId = 0; workerId < workerIdCount && held.size < workerIdCount; workerId++) {
    if (held.has(String(workerId))) continue;
    await renewIfLapsed(phase);
    const key = workerKey(prefix, datacenterId, workerId);
    const resKey = reservationKey(prefix, datacenterId, workerId);
    const res = await env.call(
      'Txn (claim)',
      (etcd) => etcd.putIfAbsent(key, owner, leaseId, resKey),
      callTimeoutMs,
    );
    if (res.succeeded) {
      return {
        workerId,
        createRevision: res.revision,
        previousReservationMs: parseReservation(res.read),
      };
    }
    held.add(String(workerId));
  }
  throw new WorkerIdsExhaustedError(`all ${workerIdCount} worker IDs of datacenter ${datacenterId} are held`);
}

async function renewIfLapsed(phase: Phase): Promise<void> {
  const { env, fence, leaseId, callTimeoutMs } = phase;
  if (env.now() >= phase.giveUpAtMs) {
    throw new CoordinationError(`claiming a worker ID took longer than ${env.claimTimeoutMs} ms`);
  }
  if (fence.isValid(env.now())) return;
  const sentAtMs = env.now();
  fence.keepaliveSent(sentAtMs);
  const ttl = await env.call('LeaseKeepAlive', (etcd) => etcd.keepAlive(leaseId), callTimeoutMs);
  if (ttl <= 0) throw new CoordinationError(`lease ${leaseId} expired while claiming`);
  fence.keepaliveAcked(sentAtMs);
}

/** A held claim: keepalive rounds, guarded reservation stores, loss and release, as EtcdClaim. */
class SimEtcdClaim implements SimWorkerIdClaim {
  readonly source = 'etcd';
  readonly node: NodeId;
  readonly previousReservationMs: number;
  readonly leaseId: number;
  private readonly key: string;
  private readonly reservationKey: string;
  private readonly createRevision: number;
  private readonly phase: Phase;
  private state: 'held' | 'lost' | 'released' = 'held';
  private lostReason = '';
  private readonly listeners: ((reason: string) => void)[] = [];
  private timer: SimTimer | undefined;
  private closing: Promise<void> | undefined;
  private highestStoredMs: number;
  private storeQueue: Promise<void> = Promise.resolve();

  constructor(phase: Phase, won: Won) {
    const { env } = phase;
    this.phase = phase;
    this.node = { datacenterId: env.datacenterId, workerId: won.workerId };
    this.previousReservationMs = won.previousReservationMs;
    this.highestStoredMs = won.previousReservationMs;
    this.leaseId = phase.leaseId;
    this.createRevision = won.createRevision;
    this.key = workerKey(env.prefix, env.datacenterId, won.workerId);
    this.reservationKey = reservationKey(env.prefix, env.datacenterId, won.workerId);
    this.scheduleRound(phase.fence.lastAckedSentAtMs + phase.fence.keepaliveIntervalMs - env.now());
  }

  get held(): boolean {
    return this.state === 'held';
  }

  safeUntilMs(): number {
    return this.phase.fence.safeUntilMs();
  }

  onLost(listener: (reason: string) => void): void {
    if (this.state === 'held') {
      this.listeners.push(listener);
    } else if (this.state === 'lost') {
      const reason = this.lostReason;
      void Promise.resolve().then(() => {
        listener(reason);
      });
    }
  }

  storeReservation(untilMs: number): Promise<void> {
    if (!Number.isSafeInteger(untilMs) || untilMs < 0) {
      return Promise.reject(
        new RangeError(`reservation must be a non-negative integer of Unix ms; got ${untilMs}`),
      );
    }
    const stored = this.storeQueue.then(() => this.storeNow(untilMs));
    this.storeQueue = stored.catch(() => undefined);
    return stored;
  }

  release(): Promise<void> {
    if (this.state === 'held') {
      this.state = 'released';
      this.stop();
    }
    return this.close();
  }

  private async storeNow(untilMs: number): Promise<void> {
    this.assertHeld();
    if (untilMs <= this.highestStoredMs) return;
    const { env, callTimeoutMs, leaseId } = this.phase;
    const { key, reservationKey: resKey, createRevision } = this;
    for (let attempt = 1; attempt <= MAX_STORE_ATTEMPTS; attempt++) {
      const read = await env.call(
        'Txn (read reservation)',
        (etcd) => etcd.guarded(key, createRevision, leaseId, resKey),
        callTimeoutMs,
      );
      if (!read.succeeded) throw this.lostByTakeover(read.kv);
      const currentMs = parseReservation(read.kv);
      if (currentMs >= untilMs) {
        this.highestStoredMs = Math.max(this.highestStoredMs, currentMs);
        return;
      }
      const modRevision = read.kv?.modRevision ?? 0;
      const write = await env.call(
        'Txn (store reservation)',
        (etcd) => etcd.guarded(key, createRevision, leaseId, resKey, { modRevision, value: String(untilMs) }),
        callTimeoutMs,
      );
      if (write.succeeded) {
        this.highestStoredMs = Math.max(this.highestStoredMs, untilMs);
        return;
      }
      if (!this.carriesOurLease(write.kv)) throw this.lostByTakeover(write.kv);
    }
    throw new CoordinationError(`reservation key ${resKey} changed under us ${MAX_STORE_ATTEMPTS} times`);
  }

  private carriesOurLease(kv: SimKv | undefined): boolean {
    return kv !== undefined && kv.createRevision === this.createRevision && kv.lease === this.leaseId;
  }

  private lostByTakeover(kv: SimKv | undefined): WorkerLeaseLostError {
    const reason =
      kv === undefined
        ? `worker key ${this.key} is gone`
        : `worker key ${this.key} now carries lease ${kv.lease}`;
    this.markLost(reason);
    return new WorkerLeaseLostError(reason);
  }

  private assertHeld(): void {
    if (this.state === 'lost') throw new WorkerLeaseLostError(`worker ID claim is lost: ${this.lostReason}`);
    if (this.state === 'released') throw new WorkerLeaseLostError(`worker ID claim ${this.key} was released`);
  }

  private scheduleRound(delayMs: number): void {
    this.timer = this.phase.env.after(Math.max(0, delayMs), () => {
      void this.runRound();
    });
  }

  private async runRound(): Promise<void> {
    const { env, fence } = this.phase;
    const startedMs = env.now();
    await this.keepaliveRound(startedMs);
    if (this.state === 'held') this.scheduleRound(startedMs + fence.keepaliveIntervalMs - env.now());
  }

  private async keepaliveRound(sentAtMs: number): Promise<void> {
    const { env, fence, leaseId } = this.phase;
    fence.keepaliveSent(sentAtMs);
    const key = this.key;
    try {
      const answer = await env.call(
        'LeaseKeepAlive + Range',
        (etcd) => {
          const ttl = etcd.keepAlive(leaseId);
          return { ttl, kv: ttl > 0 ? etcd.get(key) : undefined };
        },
        2 * fence.keepaliveIntervalMs,
      );
      if (this.state !== 'held') return;
      if (answer.ttl <= 0) {
        this.markLost(`etcd says lease ${leaseId} has expired or was revoked`);
        return;
      }
      if (!this.carriesOurLease(answer.kv)) {
        this.lostByTakeover(answer.kv);
        return;
      }
      fence.keepaliveAcked(sentAtMs);
    } catch {
      // A round without an answer: the fence lapses unless a later round is acknowledged.
    }
  }

  private markLost(reason: string): void {
    if (this.state !== 'held') return;
    this.state = 'lost';
    this.lostReason = reason;
    this.stop();
    for (const listener of this.listeners.splice(0)) listener(reason);
    void this.close();
  }

  private stop(): void {
    this.phase.fence.invalidate();
    this.phase.env.cancel(this.timer);
  }

  private close(): Promise<void> {
    this.closing ??= revokeQuietly(this.phase.env, this.leaseId, this.phase.callTimeoutMs);
    return this.closing;
  }
}

async function revokeQuietly(env: ClaimEnv, leaseId: number, timeoutMs: number): Promise<void> {
  try {
    await env.call(
      'LeaseRevoke',
      (etcd) => {
        etcd.revoke(leaseId);
      },
      timeoutMs,
    );
  } catch {
    // Best effort, as revokeAndClose: the lease expires after its TTL instead.
  }
}

function parseReservation(kv: SimKv | undefined): number {
  return kv === undefined ? 0 : Number(kv.value);
}
