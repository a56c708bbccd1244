import { CoordinationDataError, CoordinationError, CoordinatorUnreachableError } from '../../errors';
import { redactCredentials } from '../../redact';
import type { Timers } from '../../timers';
import type { WorkerIdClaim, WorkerIdSource } from '../claim';
import type { WorkerIdSourceDeps } from '../source-registration';
import { claimEtcdWorkerIdVia, ETCD_CAPABILITIES, type EtcdClaimOptions } from './etcd-claim';
import type { EtcdPort } from './etcd-port';

/** Backoff between claim attempts while etcd is unreachable, in ms: doubled up to the max. */
const RETRY_BACKOFF_MS = { first: 250, max: 2000 } as const;

/** A claim attempt's options, except what the source's deps and each call supply (clock, timers, logger, hooks, signal). */
export type EtcdSourceOptions = Omit<
  EtcdClaimOptions,
  'monotonicNowMs' | 'timers' | 'signal' | 'logger' | 'hooks'
>;

/** What becomes of a failed claim attempt: tried again (within the retry window), or the claim rejects with `error`. */
export type EtcdAttemptFailure =
  { readonly retry: true } | { readonly retry: false; readonly error: unknown };

/** What the etcd source works with: the common deps, and how it reaches etcd. */
export interface EtcdSourceDeps extends WorkerIdSourceDeps {
  /**
   * Opens a new connection for one claim attempt; the attempt owns it (the claim closes it when it
   * fails, is lost or is released). Production: an etcd3 client; the simulation: its simulated etcd.
   */
  readonly openPort: () => Promise<EtcdPort>;
  /**
   * Sorts a failed attempt: retry it when etcd may answer later (unreachable, no answer in time), else
   * reject with the error it returns. Default {@link retryUnansweredCalls}; production also retries the
   * etcd3 client's connection errors and explains TLS failures.
   */
  readonly sortFailure?: (err: unknown) => EtcdAttemptFailure;
}

/**
 * Retries only an attempt that ended because a call got no answer in time (a {@link CoordinationError}
 * without a cause, raised by the claim's own timers); every other failure is final.
 */
export function retryUnansweredCalls(err: unknown): EtcdAttemptFailure {
  const unanswered =
    err instanceof CoordinationError && !(err instanceof CoordinationDataError) && err.cause === undefined;
  return unanswered ? { retry: true } : { retry: false, error: err };
}

/**
 * The etcd worker-ID source: each {@link WorkerIdSource.claim} opens a connection with `deps.openPort`
 * and claims the lowest free worker ID of `options.datacenterId` through it (see
 * {@link claimEtcdWorkerIdVia} for the protocol and its errors), on `deps.monotonicNowMs` and
 * `deps.timers`. A failed attempt that `deps.sortFailure` retries is tried again after a backoff (250 ms,
 * doubled up to 2 s) while the next attempt would start within `retryWindowMs` of the call; then the
 * claim rejects with {@link CoordinatorUnreachableError}. Aborting `signal` ends the call at once (the
 * attempt in flight revokes its lease, bounded by the etcd call timeout) and rejects with its reason.
 */
export function etcdWorkerIdSource(options: EtcdSourceOptions, deps: EtcdSourceDeps): WorkerIdSource {
  const { monotonicNowMs, timers, logger, hooks } = deps;
  const sortFailure = deps.sortFailure ?? retryUnansweredCalls;
  const claim = async (signal: AbortSignal | undefined, retryWindowMs: number): Promise<WorkerIdClaim> => {
    const giveUpAt = monotonicNowMs() + retryWindowMs;
    // Where the last attempt went, for the retry log line (the port redacts credentials).
    let target = '';
    // Bounded by the retry window: each attempt is bounded by the claim's own timeouts.
    for (
      let backoffMs: number = RETRY_BACKOFF_MS.first;
      ;
      backoffMs = Math.min(2 * backoffMs, RETRY_BACKOFF_MS.max)
    ) {
      try {
        const port = await deps.openPort();
        target = port.target;
        return await claimEtcdWorkerIdVia(port, {
          ...options,
          monotonicNowMs,
          timers,
          logger,
          signal,
          hooks,
        });
      } catch (err) {
        if (signal?.aborted === true) throw signal.reason;
        const failure = sortFailure(err);
        if (!failure.retry) throw failure.error;
        if (monotonicNowMs() + backoffMs >= giveUpAt) {
          throw err instanceof CoordinationError
            ? new CoordinatorUnreachableError(err.message, err.cause)
            : err;
        }
        logger.warn(
          {
            err: redactCredentials(err instanceof Error ? err.message : String(err)),
            retryInMs: backoffMs,
            endpoints: target,
          },
          'etcd unreachable while claiming a worker ID; retrying',
        );
        await sleep(timers, backoffMs, signal);
        signal?.throwIfAborted();
      }
    }
  };
  return { name: 'etcd', capabilities: ETCD_CAPABILITIES, workerIdDefaulted: false, claim };
}

/** Resolves after `ms` on `timers`, or as soon as `signal` is aborted. */
function sleep(timers: Timers, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const done = () => {
      timers.cancel(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = timers.after(ms, done);
    signal?.addEventListener('abort', done, { once: true });
  });
}
