import { status } from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs, type BackoffOptions } from './backoff';
import type { Balancer } from './balancer';
import {
  cancelledError,
  deadlinePassedError,
  NO_CALL_OPTIONS,
  type ResolvedCallOptions,
} from './call-options';
import {
  attemptFailure,
  IdClientError,
  isServiceError,
  statusName,
  terminalError,
  type AttemptFailure,
} from './errors';
import { fire, type IdClientHooks } from './hooks';
import type { UnaryCaller, UnaryMethod } from './transport';

/** Limits of one call across servers. */
export interface FailoverOptions {
  /** Deadline of a whole call (every attempt and every wait), in ms; 1…600,000. */
  readonly timeoutMs: number;
  /** Deadline of one attempt, in ms, capped by what is left of timeoutMs; 1…600,000. */
  readonly attemptTimeoutMs: number;
  /** Most attempts per call, counting the first; 1…100. */
  readonly maxAttempts: number;
  /** Wait between rounds over the addresses. */
  readonly backoff: BackoffOptions;
}

/**
 * Statuses after which another attempt may succeed: UNAVAILABLE (connection refused, unreachable, or the
 * server cannot guarantee uniqueness right now) and DEADLINE_EXCEEDED of one attempt (a hung server).
 * Retrying an ID call is safe: a lost answer leaves a gap, never a duplicate.
 */
const RETRYABLE: ReadonlySet<status> = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]);

/** Also retryable: that server holds too many unread answers for this connection (or for all); it issued nothing. */
const BACKLOG_FULL = 'RESPONSE_BACKLOG_FULL';

function retryable(failure: AttemptFailure): boolean {
  return (
    RETRYABLE.has(failure.grpcCode) ||
    (failure.grpcCode === status.RESOURCE_EXHAUSTED && failure.serverCode === BACKLOG_FULL)
  );
}

/**
 * Runs one unary call with failover: tries the addresses in the {@link Balancer}'s order, moves on at
 * once after a retryable failure, and waits (exponential backoff with jitter) only before going round
 * the addresses again. Never retries INVALID_ARGUMENT or other statuses, nor anything thrown that is not
 * a gRPC status (`INTERNAL`). Rejects with {@link IdClientError} only.
 */
export class FailoverCaller {
  private readonly transport: UnaryCaller;
  private readonly balancer: Balancer;
  private readonly options: FailoverOptions;
  private readonly hooks: IdClientHooks;
  private readonly signal: AbortSignal;
  private readonly random: () => number;
  private readonly now: () => number;

  /**
   * `signal` aborts every call (the client closing); `random` (uniform in [0, 1)) drives jitter; `now`
   * is a monotonic ms clock.
   */
  constructor(
    transport: UnaryCaller,
    balancer: Balancer,
    options: FailoverOptions,
    hooks: IdClientHooks,
    signal: AbortSignal,
    random: () => number = Math.random,
    now: () => number = () => performance.now(),
  ) {
    this.transport = transport;
    this.balancer = balancer;
    this.options = options;
    this.hooks = hooks;
    this.signal = signal;
    this.random = random;
    this.now = now;
  }

  /**
   * Calls `method` (named `name` in hooks and errors) and resolves with the answer and who gave it.
   * `call` adds the caller's signal (abort: `CANCELLED` at once), deadline (caps `timeoutMs`) and
   * metadata (sent with every attempt).
   */
  async call<Req, Res>(
    name: string,
    method: UnaryMethod<Req, Res>,
    request: Req,
    call: ResolvedCallOptions = NO_CALL_OPTIONS,
  ): Promise<{ value: Res; address: string }> {
    if (this.closed()) throw closedError([]);
    if (call.signal?.aborted === true) throw cancelledError(name, call.signal);
    const callTimeoutMs = Math.min(this.options.timeoutMs, call.deadlineMs - Date.now());
    if (callTimeoutMs <= 0) throw deadlinePassedError(name, call.deadlineMs, 'before it started');
    // One signal for everything this call waits on: the client closing or the caller aborting.
    const abort = new AbortController();
    const onAbort = () => {
      abort.abort();
    };
    this.signal.addEventListener('abort', onAbort, { once: true });
    call.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.attempts(name, method, request, call, callTimeoutMs, abort.signal);
    } finally {
      this.signal.removeEventListener('abort', onAbort);
      call.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async attempts<Req, Res>(
    name: string,
    method: UnaryMethod<Req, Res>,
    request: Req,
    call: ResolvedCallOptions,
    callTimeoutMs: number,
    signal: AbortSignal,
  ): Promise<{ value: Res; address: string }> {
    const { attemptTimeoutMs, maxAttempts, backoff } = this.options;
    const started = this.now();
    const deadlineAt = started + callTimeoutMs;
    const order = this.balancer.order(started);
    const failures: AttemptFailure[] = [];
    /** The error of a call that was stopped: by close() first, else by the caller's signal. */
    const stopped = () =>
      this.closed() ? closedError(failures) : cancelledError(name, call.signal as AbortSignal);
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      if (attempt > 0 && attempt % order.length === 0) {
        const delayMs = backoffDelayMs(attempt / order.length - 1, backoff, this.random);
        if (this.now() + delayMs >= deadlineAt) break;
        fire(this.hooks.onRetry, { method: name, failedAttempts: failures.length, delayMs });
        try {
          await sleep(delayMs, undefined, { signal });
        } catch {
          throw stopped();
        }
      }
      const remainingMs = deadlineAt - this.now();
      if (remainingMs <= 0) break;
      if (signal.aborted) throw stopped();
      const address = order[attempt % order.length] as string;
      const sentAt = this.now();
      try {
        // The caller's absolute deadline caps the attempt directly: `remainingMs` comes from the
        // monotonic clock, and a pause between the two clock reads must not stretch the caller's deadline.
        const deadline = new Date(
          Math.min(Date.now() + Math.min(remainingMs, attemptTimeoutMs), call.deadlineMs),
        );
        const value = await untilAborted(
          this.transport.unary(address, method, request, deadline, signal, call.metadata),
          signal,
        );
        fire(this.hooks.onAttempt, { method: name, address, code: 'OK', durationMs: this.now() - sentAt });
        this.balancer.succeeded(address);
        return { value, address };
      } catch (err) {
        if (aborted(signal)) {
          // Reported like any attempt (code CANCELLED, as grpc-js ends a cancelled call) for metrics.
          fire(this.hooks.onAttempt, {
            method: name,
            address,
            code: 'CANCELLED',
            durationMs: this.now() - sentAt,
          });
          throw stopped();
        }
        if (!isServiceError(err)) {
          // Not an answer of any server: a bug or a misuse (e.g. credentials of another grpc-js copy).
          // Retrying cannot help, and calling it "unavailable" would send its reader after the servers.
          throw new IdClientError(
            'INTERNAL',
            `${name}: calling ${address} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
            { attempts: failures, cause: err },
          );
        }
        const failure = attemptFailure(address, err);
        fire(this.hooks.onAttempt, {
          method: name,
          address,
          code: statusName(failure.grpcCode),
          durationMs: this.now() - sentAt,
        });
        failures.push(failure);
        if (!retryable(failure)) throw terminalError(failure, failures);
        this.balancer.failed(address, this.now());
      }
    }
    throw exhaustedError(name, failures, this.now() - started, callTimeoutMs);
  }

  private closed(): boolean {
    return this.signal.aborted;
  }
}

/**
 * `promise`, or a rejection as soon as `signal` aborts: a call must not wait for its transport to notice
 * the abort (a cancelled RPC's callback, a fake that never answers).
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err); // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors -- passed on as it is
      },
    );
  });
}

/** `signal.aborted`, read afresh: it may have changed while the call awaited. */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

function closedError(failures: readonly AttemptFailure[]): IdClientError {
  return new IdClientError('CLIENT_CLOSED', 'the ID client was closed', { attempts: failures });
}

function exhaustedError(
  name: string,
  failures: readonly AttemptFailure[],
  elapsedMs: number,
  timeoutMs: number,
): IdClientError {
  const last = failures.at(-1);
  // Only when no server refused: a last attempt cut short by the call deadline is no news. No attempt
  // at all: the call's deadline left no time for one.
  const timedOut = failures.every((f) => f.grpcCode === status.DEADLINE_EXCEEDED);
  const perAddress = new Map<string, AttemptFailure>();
  for (const f of failures) perAddress.set(f.address, f);
  const summary = [...perAddress.values()]
    // grpc-js ends connection errors with an empty "Resolution note:"; it only adds noise here.
    .map((f) => `${f.address}: ${statusName(f.grpcCode)} ${f.details.replace(/\s*Resolution note:\s*$/, '')}`)
    .join('; ');
  const what = timedOut
    ? 'no server answered in time'
    : 'every server refused, was unreachable or did not answer in time';
  return new IdClientError(
    timedOut ? 'DEADLINE_EXCEEDED' : 'ALL_SERVERS_UNAVAILABLE',
    `${name}: ${what} (${failures.length} attempt${failures.length === 1 ? '' : 's'} in ${Math.round(elapsedMs)} ms, ` +
      `deadline ${timeoutMs} ms)${summary === '' ? '' : `; last errors: ${summary}`}`,
    {
      grpcCode: last?.grpcCode,
      serverCode: last?.serverCode,
      errorInfo: last?.errorInfo,
      attempts: failures,
    },
  );
}
