import * as os from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { layoutEndMs } from '../core/layout';
import { CoordinationDataError, CoordinationError, InvalidConfigError } from '../errors';
import type { Metrics } from '../metrics/metrics';
import { fixedClaim, type WorkerIdClaim } from './claim';
import { redactCredentials } from '../redact';
import { claimEtcdWorkerId } from './etcd-claim';

/** Backoff between claim attempts while etcd is unreachable, in ms: doubled up to the max. */
const RETRY_BACKOFF_MS = { first: 250, max: 2000 } as const;

/**
 * Certificate and TLS handshake failures, which etcd3 reports as UNAVAILABLE ("No connection
 * established. Last error: … unable to verify the first certificate" / "… alert bad certificate"): a
 * wrong CA, a missing or rejected client certificate, or https against a plain port do not heal by
 * waiting. A plaintext etcd closes the connection on the TLS hello ("Client network socket
 * disconnected before secure TLS connection was established"); another plaintext server answers
 * bytes that are no TLS record ("wrong version number", "packet length too long").
 */
const TLS_FAILURE =
  /certificate|SSL routines|alert (?:bad|unknown|handshake)|ERR_TLS_|ERR_SSL_|wrong version number|packet length too long|before secure TLS connection was established/i;

/**
 * True for failures that say nothing about the claim itself — etcd unreachable, or no answer in time —
 * so trying again may succeed. Authentication, permission, TLS/certificate and malformed-data
 * ({@link CoordinationDataError}) errors are final.
 */
export function isTransientEtcdError(err: unknown): boolean {
  if (!(err instanceof CoordinationError) || err instanceof CoordinationDataError) return false;
  const { cause } = err;
  if (cause === undefined || cause instanceof GRPCDeadlineExceededError) return true;
  return cause instanceof GRPCUnavailableError && !isTlsFailure(err);
}

function isTlsFailure(err: CoordinationError): boolean {
  return err.cause instanceof GRPCUnavailableError && TLS_FAILURE.test(err.cause.message);
}

/**
 * The worker-ID source of `config` as a function that claims a node ID each time it is called: the
 * configured node for `static` and `ordinal` (never lost), or a new etcd lease on the lowest free worker
 * ID of `config.node.datacenterId` for `etcd` (see {@link claimEtcdWorkerId} for its errors). The etcd
 * owner is `hostname/pid`; failed keepalive rounds count in `snowflake_worker_lease_keepalive_failures_total`.
 * `monotonicNowMs` must be the clock the caller compares {@link WorkerIdClaim.safeUntilMs} with.
 * While etcd is unreachable, each call retries with backoff for up to `retryWindowMs` (ms from the call;
 * at least one attempt is made) before rejecting with the last error. Aborting `signal` ends the call at once (the attempt in flight
 * revokes its lease, bounded by the etcd call timeout) and rejects with the signal's reason.
 */
export function workerIdSource(
  config: Config,
  deps: { readonly monotonicNowMs: () => number; readonly metrics: Metrics; readonly logger: Logger },
): (signal: AbortSignal | undefined, retryWindowMs: number) => Promise<WorkerIdClaim> {
  const { workerIdSource: source, etcd } = config;
  if (source !== 'etcd') return () => Promise.resolve(fixedClaim(config.node, source));
  if (etcd === undefined) {
    throw new InvalidConfigError('SNOWFLAKE_WORKER_ID_SOURCE=etcd needs the SNOWFLAKE_ETCD_* settings');
  }
  const claimOnce = (signal: AbortSignal | undefined) =>
    claimEtcdWorkerId({
      endpoints: etcd.endpoints,
      prefix: etcd.prefix,
      leaseTtlSeconds: etcd.leaseTtlSeconds,
      datacenterId: config.node.datacenterId,
      workerBits: config.layout.workerBits,
      owner: `${os.hostname()}/${process.pid}`,
      ...(etcd.tls !== undefined && { tls: etcd.tls }),
      ...(etcd.auth !== undefined && { auth: etcd.auth }),
      monotonicNowMs: deps.monotonicNowMs,
      maxReservationMs: layoutEndMs(config.layout),
      ...(signal !== undefined && { signal }),
      logger: deps.logger,
      hooks: {
        keepalive(event) {
          if (!event.ok) deps.metrics.leaseKeepaliveFailures.inc();
        },
      },
    });
  return async (signal, retryWindowMs) => {
    const giveUpAt = deps.monotonicNowMs() + retryWindowMs;
    // Bounded by the retry window: each attempt is bounded by the claim's own timeouts.
    for (
      let backoffMs: number = RETRY_BACKOFF_MS.first;
      ;
      backoffMs = Math.min(2 * backoffMs, RETRY_BACKOFF_MS.max)
    ) {
      try {
        return await claimOnce(signal);
      } catch (err) {
        if (signal?.aborted === true) throw signal.reason;
        if (err instanceof CoordinationError && isTlsFailure(err)) {
          throw new CoordinationError(
            `${err.message} (TLS with etcd failed, which waiting does not fix: an https:// endpoint in ` +
              'SNOWFLAKE_ETCD_ENDPOINTS must be a TLS port, verifiable with SNOWFLAKE_ETCD_CA_FILE, and ' +
              'accept the client certificate in SNOWFLAKE_ETCD_CERT_FILE if it requires one)',
            err.cause,
          );
        }
        if (!isTransientEtcdError(err) || deps.monotonicNowMs() + backoffMs >= giveUpAt) throw err;
        deps.logger.warn(
          {
            err: redactCredentials((err as Error).message),
            retryInMs: backoffMs,
            endpoints: etcd.endpoints.map((e) => redactCredentials(e)),
          },
          'etcd unreachable while claiming a worker ID; retrying',
        );
        await abortableSleep(backoffMs, signal);
        signal?.throwIfAborted();
      }
    }
  };
}

/** Resolves after `ms`, or as soon as `signal` is aborted. */
function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal?.aborted === true) done();
    else signal?.addEventListener('abort', done, { once: true });
  });
}
