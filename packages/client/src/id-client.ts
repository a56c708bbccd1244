import { setMaxListeners } from 'node:events';
import { decodeBatchIdsResponse, DEFAULT_LAYOUT, layoutProblem, type Layout } from './contract';
import { Balancer } from './balancer';
import {
  bounded,
  cancelledError,
  deadlinePassedError,
  NO_CALL_OPTIONS,
  resolveCallOptions,
  type CallOptions,
  type ResolvedCallOptions,
} from './call-options';
import { decode as decodeLocally } from './decode';
import { IdClientError } from './errors';
import { FailoverCaller } from './failover';
import { decodeBatchIdsToArray } from './id-array';
import { UINT64_MAX } from './id-text';
import { resolveClientOptions, type IdClientOptions } from './options';
import { refillPolicy } from './prefetch-policy';
import { PrefetchPool, type PrefetchStats } from './prefetch-pool';
import { clientMethods } from './proto';
import { Transport } from './transport';

/** An ID split into its fields: offline by a layout (`decode`), or by a server (`decodeRemote`, DecodeId). */
export interface DecodeResult {
  /** The ID that was decoded. */
  readonly id: bigint;
  /** The ID's timestamp in ms since the Unix epoch (a safe integer: layouts end before year 10000). */
  readonly timestampMs: number;
  /** `timestampMs` as RFC 3339 UTC with milliseconds, e.g. `2024-05-01T12:00:00.000Z`. */
  readonly timestamp: string;
  /** The datacenter ID field. */
  readonly datacenterId: number;
  /** The worker ID field. */
  readonly workerId: number;
  /** The sequence field: the ID's position among its worker's IDs of one time unit. */
  readonly sequence: number;
}

/** One server's layout, node IDs and limits (GetInfo). */
export interface ServerInfo {
  /** The entry of `addresses` whose server answered (for a `dns:`/`ipv4:`/`ipv6:` entry, that entry). */
  readonly address: string;
  /** The layout's epoch in ms since the Unix epoch. */
  readonly epochMs: number;
  /** Width of the timestamp field in bits. */
  readonly timestampBits: number;
  /** Width of the datacenter ID field in bits. */
  readonly datacenterBits: number;
  /** Width of the worker ID field in bits. */
  readonly workerBits: number;
  /** Width of the sequence field in bits. */
  readonly sequenceBits: number;
  /** Length of one timestamp unit in ms. */
  readonly timeUnitMs: number;
  /** The datacenter ID this server stamps into its IDs. */
  readonly datacenterId: number;
  /** The worker ID this server stamps into its IDs; 0 while an etcd-sourced server has not claimed one yet (NOT_SERVING). */
  readonly workerId: number;
  /** The largest count its BatchIds accepts. */
  readonly maxBatchSize: number;
}

/**
 * A client of one or more snowflake ID servers. Every method fails with {@link IdClientError} only:
 * `decode` throws, the others reject. The RPC methods take {@link CallOptions} (an AbortSignal, a
 * deadline, metadata) for the one call.
 */
export interface IdClient {
  /**
   * One new ID. With prefetch on (the default) it usually comes from the client's buffer without a round
   * trip; IDs are unique but, drawn from batches of several servers, not ordered across calls.
   * With `prefetch.maxAgeMs: 0` it is one NextId call. `options.metadata` needs the buffer off.
   */
  nextId(options?: CallOptions): Promise<bigint>;
  /**
   * A buffered ID at once, for hot loops: undefined when none is buffered (the buffer is empty or off,
   * callers are already waiting, or the client is closed). It never waits and never makes a call
   * itself, but starts a refill when the buffer wants one; fall back to `await nextId()`, which also
   * says why when the client cannot get IDs.
   */
  tryNextId(): bigint | undefined;
  /**
   * Counters and levels of the ID buffer: IDs handed out, calls that waited for a refill, IDs dropped
   * for age, lost with failed refills or at close, what is buffered and in flight, the current plan.
   * All zero with `prefetch.maxAgeMs: 0`.
   */
  prefetchStats(): PrefetchStats;
  /**
   * `count` new IDs from one BatchIds call on one server, strictly ascending. `count` must be an integer
   * from 1 to the server's max_batch_size (default 10,000); otherwise `INVALID_ARGUMENT` (not retried).
   */
  batch(count: number, options?: CallOptions): Promise<bigint[]>;
  /**
   * The fields of `id` (0…2^63 − 1), computed offline: by `options.layout`, else by the layout
   * {@link IdClient.layout} fetched from a server, else by the default layout. No server is asked;
   * works after `close()` too. Throws `INVALID_ARGUMENT` for an `id` out of range.
   */
  decode(id: bigint): DecodeResult;
  /** The fields of `id` by a server's own layout (DecodeId); `id` must be 0…2^64 − 1, and the server refuses bit 63 set. */
  decodeRemote(id: bigint, options?: CallOptions): Promise<DecodeResult>;
  /** The layout, node IDs and limits of the server that answers. */
  info(options?: CallOptions): Promise<ServerInfo>;
  /**
   * The layout `decode` uses from now on: `options.layout` if it was given (no RPC), else the one a
   * server reports (GetInfo), fetched on the first call and cached; a failed fetch is not cached.
   * `INVALID_RESPONSE` if the server reports a layout that cannot split IDs.
   */
  layout(options?: CallOptions): Promise<Layout>;
  /**
   * Closes every connection, cancels calls in flight and drops buffered IDs; pending and later calls
   * reject with `CLIENT_CLOSED`. Idempotent.
   */
  close(): Promise<void>;
}

/** Largest count a BatchIds request can carry (uint32 on the wire). */
const MAX_WIRE_COUNT = 2 ** 32 - 1;

/**
 * Creates a client for the servers in `options.addresses` with failover, retries and an ID buffer; no
 * connection is made before the first call. Throws {@link IdClientError} `INVALID_OPTIONS` for an option
 * out of range.
 */
export function createIdClient(options: IdClientOptions): IdClient {
  const o = resolveClientOptions(options);
  const abort = new AbortController();
  // Every call in flight listens on this signal (the buffer alone runs up to 4 refills per address):
  // Node's default limit of 10 listeners would print a false "memory leak" warning.
  setMaxListeners(0, abort.signal);
  const transport = new Transport(o.credentials, o.channelOptions);
  const caller = new FailoverCaller(
    transport,
    new Balancer(o.addresses, o.policy, o.cooldownMs),
    {
      timeoutMs: o.timeoutMs,
      attemptTimeoutMs: o.attemptTimeoutMs,
      maxAttempts: o.maxAttempts,
      backoff: o.backoff,
    },
    o.hooks,
    abort.signal,
  );
  const methods = clientMethods();
  // IDs straight from their fixed64 bytes to bigint: proto-loader would build a Long and a decimal
  // string per ID first (most of a 10,000-ID batch's client CPU).
  const batchIds = { ...methods.BatchIds, responseDeserialize: decodeBatchIdsResponse };
  const closedError = () => new IdClientError('CLIENT_CLOSED', 'the ID client was closed');

  const fetchBatch = async (
    count: number,
    call: ResolvedCallOptions = NO_CALL_OPTIONS,
  ): Promise<bigint[]> => {
    const { value, address } = await caller.call('BatchIds', batchIds, { count }, call);
    return checkCount(value.ids, count, address);
  };
  // The buffer keeps 8 bytes per ID and makes a bigint only when an ID is handed out.
  const batchIdArray = { ...methods.BatchIds, responseDeserialize: decodeBatchIdsToArray };
  const fetchIdArray = async (count: number): Promise<BigUint64Array> => {
    const { value, address } = await caller.call('BatchIds', batchIdArray, { count });
    return checkCount(value.ids, count, address);
  };
  const maxBatchSize = async (): Promise<number> =>
    (await caller.call('GetInfo', methods.GetInfo, {})).value.max_batch_size;

  const pool =
    o.prefetch.mode === 'off'
      ? undefined
      : new PrefetchPool(refillPolicy(o.prefetch, o.addresses.length), o.prefetch.maxAgeMs, {
          fetch: fetchIdArray,
          maxBatchSize,
          now: o.clock,
          onRefill: o.hooks.onRefill,
          onExpired: o.hooks.onExpired,
          onWaste: o.hooks.onWaste,
        });

  /** Runs `fn` unless closed; async so that a synchronous throw in `fn` becomes a rejection. */
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (abort.signal.aborted) throw closedError();
    return fn();
  };

  const info = (options?: CallOptions): Promise<ServerInfo> =>
    guard(async () => {
      const call = resolveCallOptions('GetInfo', options);
      const { value, address } = await caller.call('GetInfo', methods.GetInfo, {}, call);
      return {
        address,
        epochMs: wireSafeInteger(value.epoch_ms, address, 'GetInfo epoch_ms'),
        timestampBits: value.timestamp_bits,
        datacenterBits: value.datacenter_bits,
        workerBits: value.worker_bits,
        sequenceBits: value.sequence_bits,
        timeUnitMs: value.time_unit_ms,
        datacenterId: value.datacenter_id,
        workerId: value.worker_id,
        maxBatchSize: value.max_batch_size,
      };
    });

  /** The servers' layout once `layout()` fetched it; kept: a fleet does not change its layout while it issues IDs. */
  let fetchedLayout: Layout | undefined;

  return {
    nextId: (options) => {
      // Straight to the pool, not through guard: an ID from the buffer costs one resolved promise.
      if (options === undefined && pool !== undefined) return pool.take();
      return guard(async () => {
        const call = resolveCallOptions('NextId', options);
        if (pool === undefined) {
          const { value, address } = await caller.call('NextId', methods.NextId, {}, call);
          return wireUint64(value.id, address, 'NextId id');
        }
        if (call.metadata !== undefined) {
          throw new IdClientError(
            'INVALID_ARGUMENT',
            'NextId: options.metadata cannot go with the ID buffer (its IDs come from refills shared by ' +
              'every caller); turn it off with prefetch.maxAgeMs: 0, or use batch(1, { metadata })',
          );
        }
        // Checked before taking: an ID taken for a call that is already over would be lost for nothing.
        if (call.signal?.aborted === true) throw cancelledError('NextId', call.signal);
        if (call.deadlineMs <= Date.now())
          throw deadlinePassedError('NextId', call.deadlineMs, 'before it started');
        return bounded('NextId', pool.take(), call);
      });
    },

    tryNextId: () => pool?.tryTake(),

    prefetchStats: () => pool?.stats() ?? NO_PREFETCH_STATS,

    batch: (count, options) =>
      guard(() => {
        if (!Number.isInteger(count) || count < 1 || count > MAX_WIRE_COUNT) {
          throw new IdClientError(
            'INVALID_ARGUMENT',
            `batch count must be an integer from 1 to the server's max_batch_size; got ${String(count)}`,
          );
        }
        return fetchBatch(count, resolveCallOptions('BatchIds', options));
      }),

    decode: (id) => decodeLocally(id, o.layout ?? fetchedLayout ?? DEFAULT_LAYOUT),

    decodeRemote: (id, options) =>
      guard(async () => {
        if (typeof id !== 'bigint' || id < 0n || id > UINT64_MAX) {
          throw new IdClientError(
            'INVALID_ARGUMENT',
            `decodeRemote takes a bigint from 0 to ${UINT64_MAX}; got ${String(id)}`,
          );
        }
        const call = resolveCallOptions('DecodeId', options);
        const { value, address } = await caller.call(
          'DecodeId',
          methods.DecodeId,
          { id: id.toString() },
          call,
        );
        return {
          id: wireUint64(value.id, address, 'DecodeId id'),
          timestampMs: wireSafeInteger(value.timestamp_ms, address, 'DecodeId timestamp_ms'),
          timestamp: value.timestamp,
          datacenterId: value.datacenter_id,
          workerId: value.worker_id,
          sequence: value.sequence,
        };
      }),

    info,

    layout: (options) =>
      guard(async () => {
        if (o.layout !== undefined) return o.layout;
        if (fetchedLayout !== undefined) return fetchedLayout;
        const i = await info(options);
        const layout: Layout = Object.freeze({
          epochMs: i.epochMs,
          timeUnitMs: i.timeUnitMs,
          timestampBits: i.timestampBits,
          datacenterBits: i.datacenterBits,
          workerBits: i.workerBits,
          sequenceBits: i.sequenceBits,
        });
        const problem = layoutProblem(layout);
        if (problem !== undefined) {
          throw new IdClientError(
            'INVALID_RESPONSE',
            `${i.address} reported a layout that cannot split IDs: ${problem}`,
          );
        }
        fetchedLayout ??= layout;
        return fetchedLayout;
      }),

    close() {
      if (!abort.signal.aborted) {
        abort.abort();
        pool?.close(closedError());
        transport.close();
      }
      return Promise.resolve();
    },
  };
}

/** Stats of a client without a buffer (`prefetch.maxAgeMs: 0`). */
const NO_PREFETCH_STATS: PrefetchStats = {
  handedOut: 0,
  waited: 0,
  refills: 0,
  failedRefills: 0,
  droppedForAge: 0,
  lostWithFailedCalls: 0,
  droppedOnClose: 0,
  buffered: 0,
  inFlightIds: 0,
  inFlightRefills: 0,
  plan: { lowWaterMark: 0, batchSize: 0, maxRefillsInFlight: 0 },
};

/** `ids` if it holds exactly the `count` IDs asked of `address`, else INVALID_RESPONSE. */
function checkCount<T extends ArrayLike<bigint>>(ids: T, count: number, address: string): T {
  if (ids.length !== count) {
    throw new IdClientError(
      'INVALID_RESPONSE',
      `${address} returned ${ids.length} IDs for BatchIds(count=${count})`,
    );
  }
  return ids;
}

/** A 64-bit field as proto-loader delivers it (decimal text) turned into a bigint, never a number. */
function wireUint64(text: string, address: string, field: string): bigint {
  if (!/^[0-9]+$/.test(text)) {
    throw new IdClientError('INVALID_RESPONSE', `${address} sent ${field} ${JSON.stringify(text)}`);
  }
  return BigInt(text);
}

/** A 64-bit field that holds ms since the Unix epoch, as a number (checked to be a safe integer). */
function wireSafeInteger(text: string, address: string, field: string): number {
  const n = Number(wireUint64(text, address, field));
  if (!Number.isSafeInteger(n)) {
    throw new IdClientError('INVALID_RESPONSE', `${address} sent ${field} ${text}, beyond 2^53 − 1`);
  }
  return n;
}
