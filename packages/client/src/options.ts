import * as grpc from '@grpc/grpc-js';
import type { BackoffOptions } from './backoff';
import type { BalancingPolicy } from './balancer';
import { layoutProblem, type Layout, type LayoutFieldNames } from './contract';
import { IdClientError } from './errors';
import type { IdClientHooks } from './hooks';
import { ACCEPTED_TARGETS, targetProblem } from './target';
import { tlsChannel, type TlsOptions } from './tls';

/** Retry behaviour of every call; see {@link IdClientOptions.retry}. */
export interface RetryOptions {
  /** Most attempts per call, counting the first, over all addresses; 1…100. Default 6. */
  readonly maxAttempts?: number;
  /** Wait before the second round over the addresses, in ms; 0…60,000. Default 50. */
  readonly initialBackoffMs?: number;
  /** Longest wait between rounds, in ms; initialBackoffMs…60,000. Default 1,000. */
  readonly maxBackoffMs?: number;
  /** Growth of the wait per round; 1…10. Default 2. */
  readonly multiplier?: number;
  /** Random spread of each wait, ±jitter × wait; 0…1. Default 0.2. */
  readonly jitter?: number;
}

/**
 * The client-side ID buffer behind `nextId()`; see {@link IdClientOptions.prefetch}. By default it adapts
 * to the demand: refill size and refills in flight follow the observed rate and round trip, within
 * `maxBufferedIds`, the servers' max_batch_size and `maxAgeMs`. Setting `bufferSize` or `lowWaterMark`
 * chooses a fixed buffer instead.
 */
export interface PrefetchOptions {
  /**
   * Fixed buffer: IDs it holds when full; each refill (one at a time) is one BatchIds call for the free
   * space, so keep it at most the servers' max_batch_size (default 10,000). 1…100,000. Unset: adaptive.
   */
  readonly bufferSize?: number;
  /**
   * Fixed buffer: a background refill starts when fewer IDs than this remain; 0…bufferSize − 1. Default
   * bufferSize / 2 (rounded down); bufferSize defaults to 1,000 when only this is set. Unset: adaptive.
   */
  readonly lowWaterMark?: number;
  /**
   * Adaptive buffer's memory cap: most IDs held, buffered plus requested by refills in flight (8 bytes
   * each). 1…10,000,000. Default 250,000 (2 MB). Not allowed with bufferSize or lowWaterMark.
   */
  readonly maxBufferedIds?: number;
  /**
   * Buffered IDs older than this many ms (counted from the start of the BatchIds call that fetched them)
   * are dropped unused. `0` turns the buffer off: every `nextId()` is one NextId call, so each ID's
   * timestamp is the time of the call. `Infinity` never drops. ≥ 0. Default 5,000.
   */
  readonly maxAgeMs?: number;
}

/** How `nextId()` gets its IDs, with every default filled in. */
export type ResolvedPrefetch =
  /** maxAgeMs 0: one NextId call per ID. */
  | { readonly mode: 'off' }
  /** The default: refills sized from demand and round trip (see AdaptiveRefillPolicy). */
  | { readonly mode: 'adaptive'; readonly maxAgeMs: number; readonly maxBufferedIds: number }
  /** bufferSize / lowWaterMark set: one refill at a time, topping up to bufferSize. */
  | {
      readonly mode: 'fixed';
      readonly maxAgeMs: number;
      readonly bufferSize: number;
      readonly lowWaterMark: number;
    };

/** Default memory cap of the adaptive buffer, in IDs (2 MB as 8-byte IDs). */
const DEFAULT_MAX_BUFFERED_IDS = 250_000;

/** Options of `createIdClient`; only `addresses` is required. */
export interface IdClientOptions {
  /**
   * Servers as gRPC targets, distinct, 1…100 of them: `host:port` (IPv6 as `[::1]:50051`),
   * `dns:///host:port` (every address the name resolves to, re-resolved, calls spread over them),
   * `ipv4:a.b.c.d:port,…` or `ipv6:[addr]:port,…` (a fixed list, calls spread over it), or
   * `unix:/path` / `unix:///path`. Failover, retries and `policy` work between these entries; within one
   * `dns:`/`ipv4:`/`ipv6:` entry grpc-js's `round_robin` sends each call to the next connected server.
   */
  readonly addresses: readonly string[];
  /** How each call picks its first server. Default `round-robin`. */
  readonly policy?: BalancingPolicy;
  /** Deadline of each call including retries and waits, in ms; 1…600,000. Default 5,000. */
  readonly timeoutMs?: number;
  /** Deadline of each attempt (so a hung server is left for another one), in ms; 1…600,000. Default 2,000. */
  readonly attemptTimeoutMs?: number;
  /** After a failure, a server is tried last by later calls for this long, in ms; 0…600,000. Default 1,000. */
  readonly cooldownMs?: number;
  /** Retries on UNAVAILABLE, RESPONSE_BACKLOG_FULL and connection failures with exponential backoff and jitter. */
  readonly retry?: RetryOptions;
  /** The ID buffer behind `nextId()`. */
  readonly prefetch?: PrefetchOptions;
  /** Optional metrics callbacks. */
  readonly hooks?: IdClientHooks;
  /**
   * TLS to the servers: a CA, and a client certificate and key for mutual TLS, as PEM or file paths.
   * Not with `credentials`. Default: neither, plaintext.
   */
  readonly tls?: TlsOptions;
  /**
   * grpc-js channel credentials, for what `tls` does not cover; they must come from the `@grpc/grpc-js`
   * this client uses (its peer dependency), not from another copy. Not with `tls`. Default: plaintext.
   */
  readonly credentials?: grpc.ChannelCredentials;
  /**
   * The layout `decode()` splits IDs by, when the servers' is known in advance. Default: the one a
   * server reports, once `layout()` fetched it; before that the default layout (`DEFAULT_LAYOUT`).
   */
  readonly layout?: Layout;
  /**
   * grpc-js channel options (keepalive, message sizes…), passed through unchanged; the one default is
   * `grpc-node.flow_control_window` = {@link FLOW_CONTROL_WINDOW_BYTES}.
   */
  readonly channelOptions?: grpc.ChannelOptions;
  /** Monotonic clock in ms used to age buffered IDs. Default `performance.now()`; tests inject a fake. */
  readonly clock?: () => number;
}

/** The `layout` option's fields as messages name them. */
const LAYOUT_OPTION_NAMES: LayoutFieldNames = {
  epochMs: 'layout.epochMs',
  timeUnitMs: 'layout.timeUnitMs',
  timestampBits: 'layout.timestampBits',
  datacenterBits: 'layout.datacenterBits',
  workerBits: 'layout.workerBits',
  sequenceBits: 'layout.sequenceBits',
};

/** {@link IdClientOptions} with every default filled in and every value checked. */
export interface ResolvedClientOptions {
  readonly addresses: readonly string[];
  readonly policy: BalancingPolicy;
  readonly timeoutMs: number;
  readonly attemptTimeoutMs: number;
  readonly cooldownMs: number;
  readonly maxAttempts: number;
  readonly backoff: BackoffOptions;
  readonly prefetch: ResolvedPrefetch;
  readonly hooks: IdClientHooks;
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions: grpc.ChannelOptions;
  /** The layout given in the options, if any (checked). */
  readonly layout: Layout | undefined;
  readonly clock: () => number;
}

/** grpc-js channel option: the HTTP/2 flow-control window the client grants, per stream and per connection, in bytes. */
const FLOW_CONTROL_WINDOW = 'grpc-node.flow_control_window';

/**
 * Default for {@link FLOW_CONTROL_WINDOW}: 4 MiB, room for dozens of BatchIds(10,000) responses (80 kB
 * each). grpc-js's default, 64 KiB, is less than one of them, so the server would stall on every large
 * batch until the client's WINDOW_UPDATE arrives.
 */
const FLOW_CONTROL_WINDOW_BYTES = 4 * 2 ** 20;

/** Fills in defaults and checks every option; throws {@link IdClientError} `INVALID_OPTIONS` naming the first bad one. */
export function resolveClientOptions(options: IdClientOptions): ResolvedClientOptions {
  const { addresses } = options;
  // Checked at run time too: JavaScript callers get no compile-time check.
  const list: unknown = addresses;
  if (!Array.isArray(list) || list.length < 1 || list.length > 100) {
    throw invalid(`addresses must list 1 to 100 servers, each one of: ${ACCEPTED_TARGETS}`);
  }
  for (const a of addresses) {
    const problem = targetProblem(a);
    if (problem !== undefined) {
      throw invalid(
        `addresses: ${JSON.stringify(a)} is not a server address (${problem}); accepted: ${ACCEPTED_TARGETS}`,
      );
    }
  }
  if (new Set(addresses).size !== addresses.length) throw invalid('addresses must be distinct');
  const { credentials, channelOptions: tlsChannelOptions } = channelSecurity(options);
  const layout = options.layout;
  if (layout !== undefined) {
    const problem = layoutProblem(layout, LAYOUT_OPTION_NAMES);
    if (problem !== undefined) throw invalid(problem);
  }
  // Checked at run time too: JavaScript callers get no compile-time check.
  const policy = (options.policy ?? 'round-robin') as string;
  if (policy !== 'round-robin' && policy !== 'pick-first') {
    throw invalid(`policy must be round-robin or pick-first; got ${JSON.stringify(policy)}`);
  }
  const retry = options.retry ?? {};
  const prefetch = options.prefetch ?? {};
  const initialMs = integer('retry.initialBackoffMs', retry.initialBackoffMs, 50, 0, 60_000);
  return {
    addresses: [...addresses],
    policy,
    timeoutMs: integer('timeoutMs', options.timeoutMs, 5000, 1, 600_000),
    attemptTimeoutMs: integer('attemptTimeoutMs', options.attemptTimeoutMs, 2000, 1, 600_000),
    cooldownMs: integer('cooldownMs', options.cooldownMs, 1000, 0, 600_000),
    maxAttempts: integer('retry.maxAttempts', retry.maxAttempts, 6, 1, 100),
    backoff: {
      initialMs,
      maxMs: integer('retry.maxBackoffMs', retry.maxBackoffMs, Math.max(1000, initialMs), initialMs, 60_000),
      multiplier: real('retry.multiplier', retry.multiplier, 2, 1, 10),
      jitter: real('retry.jitter', retry.jitter, 0.2, 0, 1),
    },
    prefetch: resolvePrefetch(prefetch),
    hooks: options.hooks ?? {},
    credentials,
    channelOptions: {
      [FLOW_CONTROL_WINDOW]: FLOW_CONTROL_WINDOW_BYTES,
      ...tlsChannelOptions,
      ...options.channelOptions,
    },
    layout: layout === undefined ? undefined : Object.freeze({ ...layout }),
    clock: options.clock ?? (() => performance.now()),
  };
}

function resolvePrefetch(prefetch: PrefetchOptions): ResolvedPrefetch {
  const maxAgeMs = prefetch.maxAgeMs ?? 5000;
  if (typeof maxAgeMs !== 'number' || Number.isNaN(maxAgeMs) || maxAgeMs < 0) {
    throw invalid(`prefetch.maxAgeMs must be a number of ms ≥ 0 (or Infinity); got ${String(maxAgeMs)}`);
  }
  const fixed = prefetch.bufferSize !== undefined || prefetch.lowWaterMark !== undefined;
  if (fixed && prefetch.maxBufferedIds !== undefined) {
    throw invalid(
      'prefetch.maxBufferedIds caps the adaptive buffer; it cannot be combined with bufferSize or lowWaterMark (a fixed buffer)',
    );
  }
  if (fixed) {
    const bufferSize = integer('prefetch.bufferSize', prefetch.bufferSize, 1000, 1, 100_000);
    const lowWaterMark = integer(
      'prefetch.lowWaterMark',
      prefetch.lowWaterMark,
      Math.floor(bufferSize / 2),
      0,
      bufferSize - 1,
    );
    return maxAgeMs === 0 ? { mode: 'off' } : { mode: 'fixed', maxAgeMs, bufferSize, lowWaterMark };
  }
  const maxBufferedIds = integer(
    'prefetch.maxBufferedIds',
    prefetch.maxBufferedIds,
    DEFAULT_MAX_BUFFERED_IDS,
    1,
    10_000_000,
  );
  return maxAgeMs === 0 ? { mode: 'off' } : { mode: 'adaptive', maxAgeMs, maxBufferedIds };
}

/** The channel credentials from `tls` or `credentials` (at most one of them), plaintext by default. */
function channelSecurity(options: IdClientOptions): {
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
} {
  const { tls, credentials } = options;
  if (tls !== undefined && credentials !== undefined) {
    throw invalid(
      'tls and credentials exclude each other: give one (credentials for what tls does not cover)',
    );
  }
  if (tls !== undefined) return tlsChannel(tls);
  if (credentials === undefined)
    return { credentials: grpc.credentials.createInsecure(), channelOptions: {} };
  if (!(credentials instanceof grpc.ChannelCredentials)) {
    // grpc-js checks with instanceof: credentials made by another copy of @grpc/grpc-js (a second
    // version in node_modules) would fail every call, which retries could never fix.
    throw invalid(
      `credentials must be a ChannelCredentials of the @grpc/grpc-js this client uses (${grpcJsPath()}); got ` +
        `${describeCredentials(credentials)}. Another copy of @grpc/grpc-js made it? Install one version ` +
        '(npm ls @grpc/grpc-js), or pass tls: { ca, cert, key } instead',
    );
  }
  return { credentials, channelOptions: {} };
}

/** Where the client's grpc-js lives, to tell two copies apart in a message. */
function grpcJsPath(): string {
  try {
    return require.resolve('@grpc/grpc-js');
  } catch {
    return '@grpc/grpc-js';
  }
}

function describeCredentials(value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value);
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' ? `an instance of ${name}` : 'an object';
}

function integer(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw invalid(`${name} must be an integer from ${min} to ${max}; got ${String(v)}`);
  }
  return v;
}

function real(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !(v >= min && v <= max)) {
    throw invalid(`${name} must be a number from ${min} to ${max}; got ${String(v)}`);
  }
  return v;
}

function invalid(message: string): IdClientError {
  return new IdClientError('INVALID_OPTIONS', message);
}
