import type { Logger } from 'pino';
import type { NodeId } from '../../core/codec';
import { redactCredentials } from '../../redact';
import {
  CoordinationDataError,
  CoordinationError,
  InvalidConfigError,
  SnowflakeError,
  WorkerIdsExhaustedError,
  WorkerLeaseLostError,
} from '../../errors';
import { realTimers, type Timers } from '../../timers';
import type { ClaimCapabilities, WorkerIdClaim } from '../claim';
import { DEFAULT_ETCD_PREFIX, DEFAULT_LEASE_TTL_SECONDS, MAX_LEASE_TTL_SECONDS } from './etcd-limits';
import { EtcdLeaseNotFoundError, type EtcdHolderGuard, type EtcdKv, type EtcdPort } from './etcd-port';
import { defaultFenceMarginMs, LeaseFence } from './fence';

/** Upper bound of the default per-call etcd timeout, in ms. */
const MAX_DEFAULT_CALL_TIMEOUT_MS = 5000;

/** Default time limit of a whole claim, in ms. */
const DEFAULT_CLAIM_TIMEOUT_MS = 30_000;

/** How many times storeReservation re-reads after another writer changed the reservation key. */
const MAX_STORE_ATTEMPTS = 5;

/** The largest Unix ms a JavaScript Date holds: the default {@link EtcdClaimOptions.maxReservationMs}. */
const MAX_DATE_MS = 8.64e15;

/** What happened in one keepalive round (sent every {@link LeaseFence.keepaliveIntervalMs}). */
export interface EtcdKeepaliveEvent {
  /** True when etcd acknowledged the keepalive and the worker key still carries our lease. */
  readonly ok: boolean;
  /** Monotonic ms at which the keepalive was sent. */
  readonly sentAtMs: number;
  /** The fence deadline (monotonic ms) after this round; see {@link WorkerIdClaim.safeUntilMs}. */
  readonly safeUntilMs: number;
  /** Why the round failed (only when `ok` is false). */
  readonly error?: unknown;
}

/** Optional callbacks for metrics; each is called synchronously and must not throw (errors are logged). */
export interface EtcdClaimHooks {
  /** After every keepalive round of a held claim. */
  keepalive?(event: EtcdKeepaliveEvent): void;
  /** Once, when every worker ID of the datacenter is held, just before the claim rejects. */
  rangeFull?(event: { readonly datacenterId: number; readonly workerIdCount: number }): void;
}

/** Inputs of {@link claimEtcdWorkerIdVia}. Values are validated, never clamped. */
export interface EtcdClaimOptions {
  /** Key prefix; must end with `/`; default {@link DEFAULT_ETCD_PREFIX}. */
  readonly prefix?: string;
  /** Lease TTL in whole seconds, 1 … {@link MAX_LEASE_TTL_SECONDS}; default {@link DEFAULT_LEASE_TTL_SECONDS}. */
  readonly leaseTtlSeconds?: number;
  /** Datacenter whose worker IDs to claim from; a non-negative integer (its width is checked by the codec). */
  readonly datacenterId: number;
  /** Width of the worker field, 0…31: worker IDs 0 … 2^workerBits − 1 are claimable. */
  readonly workerBits: number;
  /** Stored as the worker key's value so operators see who holds it (e.g. `hostname/pid`); non-empty. */
  readonly owner: string;
  /** Monotonic clock in ms for the fence, the keepalive rounds and the claim timeout; default `performance.now`. */
  readonly monotonicNowMs?: () => number;
  /** Timers of the keepalive loop and the call timeouts, on the same clock; default {@link realTimers}. */
  readonly timers?: Timers;
  /** Fence margin in ms, 0 ≤ margin < TTL; default {@link defaultFenceMarginMs} of the TTL. */
  readonly fenceMarginMs?: number;
  /** Timeout of each etcd call during claim/store/release, in ms (≥ 1); default min(5000, TTL − margin). */
  readonly callTimeoutMs?: number;
  /** Time limit of the whole claim in ms (≥ 1): no etcd call starts after it; default 30000. */
  readonly claimTimeoutMs?: number;
  /**
   * Largest reservation (Unix ms) accepted from or written to a reservation key: the end of the ID
   * layout's time range. A stored value beyond it is corrupt ({@link CoordinationDataError}). Default:
   * the largest Date, 8.64e15.
   */
  readonly maxReservationMs?: number;
  /**
   * Aborts the claim: pending etcd calls are abandoned at once (each is raced against the signal as well
   * as its timer), a granted lease is revoked (bounded by `callTimeoutMs`) and the claim rejects with the
   * signal's reason. Has no effect once it has resolved.
   */
  readonly signal?: AbortSignal;
  /** Where claim, loss and keepalive trouble are logged. */
  readonly logger: Logger;
  /** Optional metric callbacks. */
  readonly hooks?: EtcdClaimHooks;
}

/** What etcd claims can do: the worker ID may change, etcd keeps a reservation, claiming waits on etcd. */
export const ETCD_CAPABILITIES: ClaimCapabilities = {
  nodeMayChange: true,
  remoteReservation: 'etcd',
  claimWaits: true,
};

/** A worker ID held through an etcd lease. */
export interface EtcdWorkerIdClaim extends WorkerIdClaim {
  /** The etcd lease ID (decimal int64), for logs. */
  readonly leaseId: string;
  /** The etcd key that holds the worker ID: `${prefix}dc/${datacenterId}/worker/${workerId}`. */
  readonly key: string;
  /** True until the claim is lost or released (independent of the fence: see `safeUntilMs`). */
  readonly held: boolean;
}

/** The etcd key holding worker `workerId` of `datacenterId`; its value is the owner, its lease the holder's. */
export function etcdWorkerKey(prefix: string, datacenterId: number, workerId: number): string {
  return `${prefix}dc/${datacenterId}/worker/${workerId}`;
}

/** The etcd key holding the Unix-ms reservation (decimal) of a worker ID; not leased, it outlives holders. */
export function etcdReservationKey(prefix: string, datacenterId: number, workerId: number): string {
  return `${prefix}dc/${datacenterId}/reservation/${workerId}`;
}

interface Settings {
  readonly prefix: string;
  readonly ttlSeconds: number;
  readonly datacenterId: number;
  readonly workerIdCount: number;
  readonly owner: string;
  readonly fenceMarginMs: number | undefined;
  readonly callTimeoutMs: number | undefined;
  readonly claimTimeoutMs: number;
  readonly maxReservationMs: number;
}

/**
 * Claims the lowest free worker ID of `datacenterId` through `port` and keeps it alive with a lease.
 *
 * Steps: grant a lease (its send time starts the fence), list the held worker keys, then for each free
 * ID from 0 upwards run `if create_revision(key) == 0 then put(key, owner, lease), get(reservation)` until
 * one succeeds. The reservation is read in the same transaction, so it includes everything earlier
 * holders stored. Whenever the fence has lapsed during these steps (a slow etcd), one keepalive renews
 * it before going on, so the claim resolves with a valid fence. Rejects with
 * {@link WorkerIdsExhaustedError} when every ID is held, {@link CoordinationError} when etcd does not
 * answer in time ({@link CoordinationDataError} when it holds a malformed or out-of-range reservation),
 * {@link InvalidConfigError} for bad options, and the signal's reason when `signal` aborts it. The claim
 * owns `port`: on every rejection a granted lease is revoked and the port closed (a lease whose grant
 * never answered holds no key, so the port is closed without waiting for a revoke), and so they are once
 * the claim is lost or released. Every etcd call is bounded by `callTimeoutMs` (on `timers`) and no new
 * call starts after `claimTimeoutMs`. Messages show `port.target` and redact `port.secrets`.
 */
export async function claimEtcdWorkerIdVia(
  port: EtcdPort,
  options: EtcdClaimOptions,
): Promise<EtcdWorkerIdClaim> {
  let settings: Settings;
  try {
    settings = validate(options);
    options.signal?.throwIfAborted();
  } catch (err) {
    port.close();
    throw err;
  }
  const now = options.monotonicNowMs ?? (() => performance.now());
  const startedMs = now();
  const log = options.logger.child({ component: 'worker-id', source: 'etcd' });
  const ttlMs = settings.ttlSeconds * 1000;
  const marginMs = settings.fenceMarginMs ?? defaultFenceMarginMs(ttlMs);
  const callTimeoutMs = settings.callTimeoutMs ?? Math.min(MAX_DEFAULT_CALL_TIMEOUT_MS, ttlMs - marginMs);
  const timers = options.timers ?? realTimers;
  const etcd = new EtcdCalls(port, timers, callTimeoutMs, options.signal);

  const grantSentAtMs = now();
  let leaseId: string | undefined;
  try {
    leaseId = await etcd.call('LeaseGrant', (timeoutMs) => port.grantLease(settings.ttlSeconds, timeoutMs));
    const fence = new LeaseFence({ ttlMs, marginMs, grantSentAtMs });
    const phase: ClaimPhase = {
      leaseId,
      fence,
      etcd,
      now,
      timers,
      log,
      hooks: options.hooks,
      settings,
      giveUpAtMs: startedMs + settings.claimTimeoutMs,
    };
    const won = await claimLowestFree(phase);
    await renewIfLapsed(phase);
    // The held claim's calls (keepalives, reservation writes) outlive the claim and its abort signal.
    const claim = new EtcdClaim({ ...phase, etcd: new EtcdCalls(port, timers, callTimeoutMs) }, won);
    log.info(
      {
        datacenterId: settings.datacenterId,
        workerId: won.workerId,
        leaseId,
        key: claim.key,
        ttlS: settings.ttlSeconds,
        fenceMarginMs: fence.marginMs,
        previousReservationMs: won.previousReservationMs,
      },
      'claimed worker ID in etcd',
    );
    return claim;
  } catch (err) {
    // The claim puts a key only after the grant answered, so an unanswered grant (leaseId undefined)
    // holds nothing to revoke: an abort or a timeout closes the port without waiting for one.
    await revokeAndClose(etcd, leaseId, log);
    if (options.signal?.aborted === true) throw options.signal.reason;
    throw toSnowflakeError('claiming a worker ID', port, err);
  }
}

/** Everything a claim (in progress, then held) works with. */
interface ClaimPhase {
  readonly leaseId: string;
  readonly fence: LeaseFence;
  readonly etcd: EtcdCalls;
  readonly now: () => number;
  readonly timers: Timers;
  readonly log: Logger;
  readonly hooks: EtcdClaimHooks | undefined;
  readonly settings: Settings;
  /** Monotonic ms after which the claim starts no new etcd call. */
  readonly giveUpAtMs: number;
}

interface Won {
  readonly workerId: number;
  readonly createRevision: string;
  readonly previousReservationMs: number;
}

async function claimLowestFree(phase: ClaimPhase): Promise<Won> {
  const { etcd, settings, leaseId, hooks, log } = phase;
  const { port } = etcd;
  const { prefix, datacenterId, workerIdCount, owner } = settings;
  const workerPrefix = `${prefix}dc/${datacenterId}/worker/`;
  const heldKeys = await etcd.call('Range', (timeoutMs) => port.listKeys(workerPrefix, timeoutMs));
  // Only in-range canonical IDs count: stray keys (e.g. from a wider worker field) must not fill the range.
  const held = new Set(
    heldKeys
      .map((key) => key.slice(workerPrefix.length))
      .filter((suffix) => /^(0|[1-9]\d{0,9})$/.test(suffix) && Number(suffix) < workerIdCount),
  );
  // Bounded by the size of the worker range and by claimTimeoutMs; in practice it ends at the first free ID.
  for (let workerId = 0; workerId < workerIdCount && held.size < workerIdCount; workerId++) {
    if (held.has(String(workerId))) continue;
    await renewIfLapsed(phase);
    const key = etcdWorkerKey(prefix, datacenterId, workerId);
    const reservationKey = etcdReservationKey(prefix, datacenterId, workerId);
    const res = await etcd.call('Txn (claim)', (timeoutMs) =>
      port.claimKey(
        { compares: [{ key, createRevision: '0' }], key, value: owner, leaseId, readKey: reservationKey },
        timeoutMs,
      ),
    );
    if (res.succeeded) {
      return {
        workerId,
        createRevision: res.createRevision,
        previousReservationMs: parseReservation(reservationKey, res.read, settings.maxReservationMs),
      };
    }
    log.debug({ datacenterId, workerId }, 'worker ID taken by another instance meanwhile; trying the next');
    held.add(String(workerId));
  }
  log.error(
    { datacenterId, workerIdCount, prefix },
    'every worker ID of the datacenter is held; cannot claim one',
  );
  callHook(log, () => hooks?.rangeFull?.({ datacenterId, workerIdCount }));
  throw new WorkerIdsExhaustedError(
    `all ${workerIdCount} worker IDs (0 to ${workerIdCount - 1}) of datacenter ${datacenterId} are held ` +
      `by live instances under etcd prefix ${prefix}; stop one, use another datacenter ID, or widen the worker field`,
  );
}

/**
 * Before each claim step: gives up after claimTimeoutMs, and renews the lease with one keepalive when
 * the fence has lapsed (etcd was slow), so the claim never carries on with a lease it cannot vouch for.
 */
async function renewIfLapsed(phase: ClaimPhase): Promise<void> {
  const { fence, leaseId, etcd, now, settings } = phase;
  if (now() >= phase.giveUpAtMs) {
    throw new CoordinationError(
      `claiming a worker ID took longer than ${settings.claimTimeoutMs} ms (claim timeout); ` +
        `etcd at ${etcd.port.target} is too slow`,
    );
  }
  if (fence.isValid(now())) return;
  const sentAtMs = now();
  fence.keepaliveSent(sentAtMs);
  await etcd.call('LeaseKeepAlive', (timeoutMs) => etcd.port.keepaliveOnce(leaseId, timeoutMs));
  fence.keepaliveAcked(sentAtMs);
}

/**
 * A held etcd claim: runs its own keepalive loop (one `keepaliveOnce` per round, so each acknowledgement
 * belongs to exactly one known send time) and checks each round that the worker key still carries the
 * lease. Dies once: after loss or release nothing revives it.
 */
class EtcdClaim implements EtcdWorkerIdClaim {
  readonly capabilities = ETCD_CAPABILITIES;
  readonly node: NodeId;
  readonly previousReservationMs: number;
  readonly leaseId: string;
  readonly key: string;
  private readonly reservationKey: string;
  /** The guard of every transaction of the holder: the worker key is still ours. */
  private readonly guard: EtcdHolderGuard;
  private readonly parts: ClaimPhase;
  private state: 'held' | 'lost' | 'released' = 'held';
  private lostReason = '';
  private readonly listeners: ((reason: string) => void)[] = [];
  private timer: unknown;
  private closing: Promise<void> | undefined;
  private highestStoredMs: number;
  private storeQueue: Promise<void> = Promise.resolve();
  private failing = false;

  constructor(parts: ClaimPhase, won: Won) {
    const { settings, leaseId } = parts;
    this.parts = parts;
    this.node = { datacenterId: settings.datacenterId, workerId: won.workerId };
    this.previousReservationMs = won.previousReservationMs;
    this.highestStoredMs = won.previousReservationMs;
    this.leaseId = leaseId;
    this.key = etcdWorkerKey(settings.prefix, settings.datacenterId, won.workerId);
    this.reservationKey = etcdReservationKey(settings.prefix, settings.datacenterId, won.workerId);
    this.guard = { key: this.key, createRevision: won.createRevision, leaseId };
    this.scheduleRound(parts.fence.lastAckedSentAtMs + parts.fence.keepaliveIntervalMs - parts.now());
  }

  get held(): boolean {
    return this.state === 'held';
  }

  safeUntilMs(): number {
    return this.parts.fence.safeUntilMs();
  }

  /** Listeners registered after the loss are called on the next microtask; after release(), never. */
  onLost(listener: (reason: string) => void): void {
    if (this.state === 'held') {
      this.listeners.push(listener);
    } else if (this.state === 'lost') {
      const reason = this.lostReason;
      queueMicrotask(() => {
        this.notify(listener, reason);
      });
    }
  }

  /**
   * Raises the stored reservation to `untilMs` (Unix ms, an integer from 0 to `maxReservationMs`) unless
   * it already is at least that; never lowers it, even with concurrent callers. Rejects with
   * {@link WorkerLeaseLostError} when the worker key no longer carries our lease (and marks the claim
   * lost), {@link CoordinationError} when etcd does not answer within the call timeout, and
   * {@link CoordinationDataError} when the stored value is malformed or out of range.
   */
  storeReservation(untilMs: number): Promise<void> {
    const { maxReservationMs } = this.parts.settings;
    if (!Number.isSafeInteger(untilMs) || untilMs < 0 || untilMs > maxReservationMs) {
      return Promise.reject(
        new RangeError(
          `reservation must be an integer of Unix ms from 0 to ${maxReservationMs}; got ${untilMs}`,
        ),
      );
    }
    // Our own writes go one at a time (most then find themselves covered without a round trip); the
    // mod_revision compare below still guards against any other writer.
    const stored = this.storeQueue.then(() => this.storeNow(untilMs));
    this.storeQueue = stored.catch(() => undefined);
    return stored;
  }

  private async storeNow(untilMs: number): Promise<void> {
    this.assertHeld();
    if (untilMs <= this.highestStoredMs) return;
    const { etcd, settings } = this.parts;
    const { port } = etcd;
    const { guard, reservationKey } = this;
    try {
      for (let attempt = 1; attempt <= MAX_STORE_ATTEMPTS; attempt++) {
        const read = await etcd.call('Txn (read reservation)', (timeoutMs) =>
          port.readGuarded(guard, reservationKey, timeoutMs),
        );
        if (!read.succeeded) throw this.lostByTakeover(read.guard);
        const current = read.kv;
        const currentMs = parseReservation(reservationKey, current, settings.maxReservationMs);
        if (currentMs >= untilMs) {
          this.highestStoredMs = Math.max(this.highestStoredMs, currentMs);
          return;
        }
        const write = await etcd.call('Txn (store reservation)', (timeoutMs) =>
          port.writeGuarded(
            { guard, key: reservationKey, modRevision: current?.modRevision ?? '0', value: String(untilMs) },
            timeoutMs,
          ),
        );
        if (write.succeeded) {
          this.highestStoredMs = Math.max(this.highestStoredMs, untilMs);
          return;
        }
        if (!this.carriesOurLease(write.guard)) throw this.lostByTakeover(write.guard);
      }
    } catch (err) {
      throw toSnowflakeError(`storing the reservation of ${this.key}`, port, err);
    }
    throw new CoordinationError(
      `reservation key ${this.reservationKey} changed under us ${MAX_STORE_ATTEMPTS} times in a row; ` +
        'another writer is updating it',
    );
  }

  /** Revokes the lease (the ID is free at once) and closes the port; idempotent, never rejects. */
  release(): Promise<void> {
    if (this.state === 'held') {
      this.state = 'released';
      this.stop();
      this.parts.log.info({ key: this.key, leaseId: this.leaseId }, 'releasing worker ID');
    }
    return this.close();
  }

  private carriesOurLease(kv: EtcdKv | undefined): boolean {
    return kv !== undefined && kv.createRevision === this.guard.createRevision && kv.lease === this.leaseId;
  }

  private lostByTakeover(kv: EtcdKv | undefined): WorkerLeaseLostError {
    const reason =
      kv === undefined
        ? `worker key ${this.key} is gone (lease ${this.leaseId} expired or the key was deleted)`
        : `worker key ${this.key} no longer carries lease ${this.leaseId} (now lease ${kv.lease}, ` +
          `created at revision ${kv.createRevision})`;
    this.markLost(reason);
    return new WorkerLeaseLostError(reason);
  }

  private assertHeld(): void {
    if (this.state === 'lost') throw new WorkerLeaseLostError(`worker ID claim is lost: ${this.lostReason}`);
    if (this.state === 'released') throw new WorkerLeaseLostError(`worker ID claim ${this.key} was released`);
  }

  private scheduleRound(delayMs: number): void {
    this.timer = this.parts.timers.after(Math.max(0, delayMs), () => {
      void this.runRound();
    });
  }

  private async runRound(): Promise<void> {
    const { now, fence } = this.parts;
    const startedMs = now();
    try {
      await this.keepaliveRound(startedMs);
    } catch (err) {
      // Only a broken clock or a bug gets here; without a working loop the claim cannot stay fenced.
      this.markLost(`keepalive loop failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (this.state === 'held') this.scheduleRound(startedMs + fence.keepaliveIntervalMs - now());
  }

  private async keepaliveRound(sentAtMs: number): Promise<void> {
    const { fence, etcd, log, hooks, now } = this.parts;
    const { port } = etcd;
    fence.keepaliveSent(sentAtMs);
    // A late answer still extends the fence (it counts from the send time), so a round may take two
    // intervals; the next round starts when this one ends if it ran over.
    const budgetMs = 2 * fence.keepaliveIntervalMs;
    let error: unknown;
    try {
      const kv = await etcd.call(
        'LeaseKeepAlive + Range',
        async (timeoutMs) => {
          await port.keepaliveOnce(this.leaseId, timeoutMs);
          // Both calls share the round's budget.
          return port.get(this.key, Math.max(1, sentAtMs + timeoutMs - now()));
        },
        budgetMs,
      );
      if (this.state !== 'held') return;
      if (!this.carriesOurLease(kv)) {
        this.lostByTakeover(kv);
        return;
      }
      fence.keepaliveAcked(sentAtMs);
    } catch (err) {
      if (this.state !== 'held') return;
      if (err instanceof EtcdLeaseNotFoundError) {
        this.markLost(`etcd says lease ${this.leaseId} has expired or was revoked`);
        return;
      }
      error = err;
    }
    const safeUntilMs = fence.safeUntilMs();
    if (error === undefined) {
      if (this.failing) log.info({ key: this.key, safeUntilMs }, 'worker ID lease keepalive recovered');
      this.failing = false;
      callHook(log, () => hooks?.keepalive?.({ ok: true, sentAtMs, safeUntilMs }));
      return;
    }
    if (!this.failing) {
      log.warn(
        { key: this.key, err: error, msLeft: safeUntilMs - now() },
        'worker ID lease keepalive failed; IDs stop when the fence lapses unless etcd answers again',
      );
    }
    this.failing = true;
    callHook(log, () => hooks?.keepalive?.({ ok: false, sentAtMs, safeUntilMs, error }));
  }

  private markLost(reason: string): void {
    if (this.state !== 'held') return;
    this.state = 'lost';
    this.lostReason = reason;
    this.stop();
    this.parts.log.error(
      { key: this.key, leaseId: this.leaseId, reason },
      'worker ID lease lost; this node ID must not be used any more',
    );
    for (const listener of this.listeners.splice(0)) this.notify(listener, reason);
    void this.close();
  }

  private notify(listener: (reason: string) => void, reason: string): void {
    callHook(this.parts.log, () => {
      listener(reason);
    });
  }

  private stop(): void {
    this.parts.fence.invalidate();
    this.parts.timers.cancel(this.timer);
  }

  private close(): Promise<void> {
    const { etcd, log } = this.parts;
    this.closing ??= revokeAndClose(etcd, this.leaseId, log);
    return this.closing;
  }
}

/** Bounded etcd calls: each one is raced against a timer (and the claim's abort signal) and its failure named. */
class EtcdCalls {
  constructor(
    readonly port: EtcdPort,
    private readonly timers: Timers,
    private readonly timeoutMs: number,
    private readonly signal?: AbortSignal,
  ) {}

  /**
   * Resolves with what `send(timeoutMs)` resolves with, or rejects with {@link CoordinationError} after
   * `timeoutMs` (the port gets the same time as its deadline) or as soon as the signal is aborted (unless
   * `abortable` is false: the revoke that follows an abort). An aborted call is not sent.
   */
  async call<T>(
    what: string,
    send: (timeoutMs: number) => PromiseLike<T>,
    timeoutMs = this.timeoutMs,
    abortable = true,
  ): Promise<T> {
    const signal = abortable ? this.signal : undefined;
    if (signal?.aborted === true) throw aborted(what);
    let timer: unknown;
    let onAbort: (() => void) | undefined;
    const cut = new Promise<never>((_resolve, reject) => {
      timer = this.timers.after(timeoutMs, () => {
        reject(
          new CoordinationError(
            `${what}: no answer from etcd at ${this.port.target} within ${Math.round(timeoutMs)} ms`,
          ),
        );
      });
      if (signal !== undefined) {
        onAbort = () => {
          reject(aborted(what));
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    try {
      return await Promise.race([send(timeoutMs), cut]);
    } finally {
      this.timers.cancel(timer);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }
}

function aborted(what: string): CoordinationError {
  return new CoordinationError(`${what}: given up, the claim was aborted`);
}

/** Revokes the lease if there is one (best effort, bounded) and closes the port; never rejects. */
async function revokeAndClose(etcd: EtcdCalls, leaseId: string | undefined, log: Logger): Promise<void> {
  try {
    if (leaseId !== undefined) {
      await etcd.call(
        'LeaseRevoke',
        (timeoutMs) => etcd.port.revokeLease(leaseId, timeoutMs),
        undefined,
        false,
      );
    }
  } catch (err) {
    log.warn({ err }, 'could not revoke the worker ID lease; its keys expire after the TTL instead');
  } finally {
    etcd.port.close();
  }
}

function callHook(log: Logger, hook: () => void): void {
  try {
    hook();
  } catch (err) {
    log.error({ err }, 'worker ID listener or hook threw');
  }
}

/** `err` as a {@link SnowflakeError}; a foreign error's message is shown with the port's secrets redacted. */
function toSnowflakeError(what: string, port: EtcdPort, err: unknown): SnowflakeError {
  if (err instanceof SnowflakeError) return err;
  const detail = redactCredentials(err instanceof Error ? err.message : String(err), port.secrets);
  return new CoordinationError(`${what} failed at etcd ${port.target}: ${detail}`, err);
}

/**
 * The Unix ms in a reservation key (0 when absent); malformed values, and values beyond `maxMs` (the
 * layout's end, which no reservation this service writes exceeds), are refused, not guessed.
 */
function parseReservation(key: string, kv: EtcdKv | undefined, maxMs: number): number {
  if (kv === undefined) return 0;
  const text = kv.value;
  const ms = /^(0|[1-9]\d{0,15})$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(ms) || ms > maxMs) {
    throw new CoordinationDataError(
      `etcd key ${key} holds ${JSON.stringify(text)}, not a reservation: decimal Unix ms from 0 to ${maxMs} ` +
        `(${new Date(maxMs).toISOString()}, the end of the ID layout's time range) are allowed; ` +
        'fix or delete it only after making sure no instance uses this worker ID',
    );
  }
  return ms;
}

function validate(options: EtcdClaimOptions): Settings {
  const {
    prefix = DEFAULT_ETCD_PREFIX,
    leaseTtlSeconds = DEFAULT_LEASE_TTL_SECONDS,
    datacenterId,
    workerBits,
    owner,
    fenceMarginMs,
    callTimeoutMs,
    claimTimeoutMs = DEFAULT_CLAIM_TIMEOUT_MS,
    maxReservationMs = MAX_DATE_MS,
  } = options;
  const fail = (what: string, allowed: string, value: unknown): never => {
    throw new InvalidConfigError(`etcd worker ID ${what} must be ${allowed}; got ${JSON.stringify(value)}`);
  };
  if (!prefix.endsWith('/')) fail('prefix', 'a key prefix ending with "/"', prefix);
  if (!Number.isInteger(leaseTtlSeconds) || leaseTtlSeconds < 1 || leaseTtlSeconds > MAX_LEASE_TTL_SECONDS) {
    fail('lease TTL (s)', `an integer from 1 to ${MAX_LEASE_TTL_SECONDS}`, leaseTtlSeconds);
  }
  if (!Number.isSafeInteger(datacenterId) || datacenterId < 0) {
    fail('datacenter ID', 'a non-negative integer', datacenterId);
  }
  if (!Number.isInteger(workerBits) || workerBits < 0 || workerBits > 31) {
    fail('worker bits', 'an integer from 0 to 31', workerBits);
  }
  if (owner === '') fail('owner', 'a non-empty string', owner);
  const ttlMs = leaseTtlSeconds * 1000;
  if (fenceMarginMs !== undefined && !(fenceMarginMs >= 0 && fenceMarginMs < ttlMs)) {
    fail('fence margin (ms)', `from 0 to less than the TTL (${ttlMs} ms)`, fenceMarginMs);
  }
  if (callTimeoutMs !== undefined && !(Number.isFinite(callTimeoutMs) && callTimeoutMs >= 1)) {
    fail('call timeout (ms)', 'a number ≥ 1', callTimeoutMs);
  }
  if (!(Number.isFinite(claimTimeoutMs) && claimTimeoutMs >= 1)) {
    fail('claim timeout (ms)', 'a number ≥ 1', claimTimeoutMs);
  }
  if (!(Number.isSafeInteger(maxReservationMs) && maxReservationMs >= 0 && maxReservationMs <= MAX_DATE_MS)) {
    fail('largest reservation (Unix ms)', `an integer from 0 to ${MAX_DATE_MS}`, maxReservationMs);
  }
  return {
    prefix,
    ttlSeconds: leaseTtlSeconds,
    datacenterId,
    workerIdCount: 2 ** workerBits,
    owner,
    fenceMarginMs,
    callTimeoutMs,
    claimTimeoutMs,
    maxReservationMs,
  };
}
