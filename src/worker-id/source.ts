import * as os from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { layoutEndMs } from '../core/layout';
import { CoordinationError, InvalidConfigError } from '../errors';
import type { Metrics } from '../metrics/metrics';
import { redactCredentials } from '../redact';
import { fixedSource, type WorkerIdSource } from './claim';
import {
  claimEtcdWorkerIdVia,
  ETCD_CAPABILITIES,
  type EtcdClaimOptions,
  type EtcdWorkerIdClaim,
} from './etcd-claim';
import {
  isEtcdTlsFailure,
  isTransientEtcdError,
  openEtcd3Port,
  type EtcdConnectionOptions,
} from './etcd3-adapter';

/** Whether a claim failure may heal by waiting (etcd unreachable, no answer in time); see the adapter. */
export { isTransientEtcdError };

/** Backoff between claim attempts while etcd is unreachable, in ms: doubled up to the max. */
const RETRY_BACKOFF_MS = { first: 250, max: 2000 } as const;

/** Inputs of {@link claimEtcdWorkerId}: where etcd is, and the claim's own options. */
export type EtcdWorkerIdOptions = EtcdConnectionOptions & EtcdClaimOptions;

/**
 * Claims a worker ID in the etcd at `options.endpoints` over a new etcd3 client: see
 * {@link claimEtcdWorkerIdVia} for the protocol and its errors, and {@link openEtcd3Port} for the
 * connection's. The client is closed when the claim rejects, is lost or is released.
 */
export async function claimEtcdWorkerId(options: EtcdWorkerIdOptions): Promise<EtcdWorkerIdClaim> {
  return claimEtcdWorkerIdVia(await openEtcd3Port(options), options);
}

/**
 * The worker-ID source of `config`, which claims a node ID each time it is asked: the
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
): WorkerIdSource {
  const { workerIdSource: source, etcd } = config;
  if (source !== 'etcd') return fixedSource(config.node, source);
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
  const claim = async (signal: AbortSignal | undefined, retryWindowMs: number) => {
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
        if (err instanceof CoordinationError && isEtcdTlsFailure(err)) {
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
  return { name: 'etcd', capabilities: ETCD_CAPABILITIES, claim };
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
