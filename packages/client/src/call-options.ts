import * as grpc from '@grpc/grpc-js';
import { IdClientError } from './errors';

/** One metadata value: text, or bytes for a key ending in `-bin` (gRPC's rule). */
export type MetadataValue = string | Buffer;

/** Metadata as a plain object: key (lower case, `-bin` for bytes) → value or values. */
export type MetadataRecord = Readonly<Record<string, MetadataValue | readonly MetadataValue[]>>;

/**
 * Per-call control of the client's RPC methods (`nextId`, `batch`, `decodeRemote`, `info`, `layout`).
 * Everything is optional; without it a call is bounded by the client's `timeoutMs` alone.
 */
export interface CallOptions {
  /**
   * Aborting it rejects the call at once with `CANCELLED` (the signal's `reason` as `cause`) and
   * cancels the RPC in flight; IDs an aborted call would have received are never handed out, not to
   * this call nor to a later one (they are gaps). Already aborted: rejects before any RPC.
   */
  readonly signal?: AbortSignal;
  /**
   * Absolute deadline of the whole call, retries and backoff waits included: a Date, or ms since the
   * Unix epoch (as grpc-js takes it). The call ends at the earlier of this and the client's `timeoutMs`
   * from its start, rejecting with `DEADLINE_EXCEEDED` (or `ALL_SERVERS_UNAVAILABLE` when a server
   * refused); a deadline already past rejects before any RPC. `Infinity`: `timeoutMs` alone.
   */
  readonly deadline?: Date | number;
  /**
   * gRPC metadata (request headers) sent with every attempt, e.g. a trace context: a grpc-js `Metadata`
   * of the `@grpc/grpc-js` the client uses, or a plain object. Not with `nextId()` while the ID buffer
   * is on (its IDs come from refills shared by every caller): that is `INVALID_ARGUMENT`.
   */
  readonly metadata?: grpc.Metadata | MetadataRecord;
}

/** {@link CallOptions} checked: what the failover loop needs. */
export interface ResolvedCallOptions {
  /** The caller's signal, if any. */
  readonly signal: AbortSignal | undefined;
  /** The caller's deadline in ms since the Unix epoch; Infinity when none. */
  readonly deadlineMs: number;
  /** The metadata to send (cloned for each attempt), if any. */
  readonly metadata: grpc.Metadata | undefined;
}

/** No per-call control: the client's own limits only. */
export const NO_CALL_OPTIONS: ResolvedCallOptions = {
  signal: undefined,
  deadlineMs: Infinity,
  metadata: undefined,
};

/**
 * Checks the options of a call to `method`; throws {@link IdClientError} `INVALID_ARGUMENT` naming the
 * bad one (a signal that is not an AbortSignal, a deadline that is not a date, metadata that grpc-js
 * refuses or that comes from another copy of grpc-js).
 */
export function resolveCallOptions(method: string, options: CallOptions | undefined): ResolvedCallOptions {
  if (options === undefined) return NO_CALL_OPTIONS;
  // Checked at run time too: JavaScript callers get no compile-time check.
  if (!isObject(options)) throw invalid(method, `options must be an object; got ${describe(options)}`);
  const { signal, deadline, metadata } = options;
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw invalid(method, `options.signal must be an AbortSignal; got ${describe(signal)}`);
  }
  return { signal, deadlineMs: deadlineMs(method, deadline), metadata: toMetadata(method, metadata) };
}

/** The error of a call its caller aborted: `CANCELLED`, with the signal's reason as `cause`. */
export function cancelledError(method: string, signal: AbortSignal): IdClientError {
  return new IdClientError('CANCELLED', `${method}: cancelled by the caller's AbortSignal`, {
    cause: signal.reason,
  });
}

/** The error of a call whose own deadline passed before it could start or finish, without an RPC failing. */
export function deadlinePassedError(method: string, deadlineMs: number, what: string): IdClientError {
  return new IdClientError(
    'DEADLINE_EXCEEDED',
    `${method}: the call's deadline ${new Date(deadlineMs).toISOString()} passed ${what}`,
  );
}

/**
 * `promise`, unless `call.signal` aborts first (rejects with {@link cancelledError}) or `call.deadlineMs`
 * passes first (rejects with {@link deadlinePassedError}); what `promise` settles with later is dropped.
 */
export function bounded<T>(method: string, promise: Promise<T>, call: ResolvedCallOptions): Promise<T> {
  const { signal, deadlineMs } = call;
  if (signal === undefined && deadlineMs === Infinity) return promise;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      settle(() => {
        reject(cancelledError(method, signal as AbortSignal));
      });
    };
    const settle = (finish: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      finish();
    };
    if (signal?.aborted === true) {
      reject(cancelledError(method, signal));
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    if (deadlineMs !== Infinity) {
      timer = setTimeout(
        () => {
          settle(() => {
            reject(deadlinePassedError(method, deadlineMs, 'while it waited'));
          });
        },
        Math.max(0, deadlineMs - Date.now()),
      );
    }
    promise.then(
      (value) => {
        settle(() => {
          resolve(value);
        });
      },
      (err: unknown) => {
        settle(() => {
          reject(err); // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors -- passed on as it is
        });
      },
    );
  });
}

function deadlineMs(method: string, deadline: Date | number | undefined): number {
  if (deadline === undefined) return Infinity;
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms === -Infinity) {
    throw invalid(
      method,
      `options.deadline must be a Date or ms since the Unix epoch (Infinity for none); got ${describe(deadline)}`,
    );
  }
  return ms;
}

function toMetadata(method: string, metadata: CallOptions['metadata']): grpc.Metadata | undefined {
  if (metadata === undefined) return undefined;
  if (metadata instanceof grpc.Metadata) return metadata;
  if (!isObject(metadata) || Array.isArray(metadata)) {
    throw invalid(
      method,
      `options.metadata must be a grpc-js Metadata or an object; got ${describe(metadata)}`,
    );
  }
  if (Object.getPrototypeOf(metadata) !== Object.prototype && Object.getPrototypeOf(metadata) !== null) {
    throw invalid(
      method,
      'options.metadata is not a Metadata of the @grpc/grpc-js this client uses (another copy of ' +
        'grpc-js?); pass a plain object of key → value instead',
    );
  }
  const result = new grpc.Metadata();
  for (const [key, values] of Object.entries(metadata)) {
    for (const value of Array.isArray(values) ? (values as readonly MetadataValue[]) : [values]) {
      try {
        result.add(key, value as MetadataValue);
      } catch (err) {
        throw invalid(
          method,
          `options.metadata ${JSON.stringify(key)}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }
  return result;
}

function isAbortSignal(value: unknown): value is AbortSignal {
  // Duck-typed: a signal of another realm (a vm context, a test runner) is as good as a local one.
  const s = value as Partial<AbortSignal> | null;
  return (
    typeof value === 'object' &&
    s !== null &&
    typeof s.aborted === 'boolean' &&
    typeof s.addEventListener === 'function' &&
    typeof s.removeEventListener === 'function'
  );
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`;
  if (typeof value === 'bigint') return `bigint ${value.toString()}`;
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' ? `an instance of ${name}` : 'an object';
}

function invalid(method: string, message: string): IdClientError {
  return new IdClientError('INVALID_ARGUMENT', `${method}: ${message}`);
}
