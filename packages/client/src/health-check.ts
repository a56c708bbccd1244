import * as grpc from '@grpc/grpc-js';
import { ACCEPTED_TARGETS, targetProblem } from './target';
import { DEFAULT_BACKOFF } from './backoff';
import { Balancer } from './balancer';
import { SERVICE_NAME } from './contract';
import { IdClientError } from './errors';
import { FailoverCaller } from './failover';
import { HEALTH_CHECK } from './health-wire';
import type { ServingStatus } from './messages';
import { Transport } from './transport';

export type { ServingStatus } from './messages';

/** Options of {@link checkHealth}. */
export interface HealthCheckOptions {
  /** Service to ask about; `""` means the whole server. Default `snowflake.v1.IdGenerator`. */
  readonly service?: string;
  /** Deadline of the check, in ms. Default 3,000. */
  readonly timeoutMs?: number;
  /** Channel credentials. Default: insecure (plaintext). */
  readonly credentials?: grpc.ChannelCredentials;
}

/**
 * One grpc.health.v1.Health/Check of `address` (`host:port`), without retries. Resolves with the status
 * the server reports; rejects with IdClientError (`ALL_SERVERS_UNAVAILABLE` when it cannot be reached,
 * `DEADLINE_EXCEEDED`, or `SERVER_ERROR` e.g. NOT_FOUND for a service the server does not know).
 */
export async function checkHealth(address: string, options: HealthCheckOptions = {}): Promise<ServingStatus> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const transport = new Transport(options.credentials ?? grpc.credentials.createInsecure());
  const caller = new FailoverCaller(
    transport,
    new Balancer([address], 'pick-first', 0),
    { timeoutMs, attemptTimeoutMs: timeoutMs, maxAttempts: 1, backoff: DEFAULT_BACKOFF },
    {},
    new AbortController().signal,
  );
  try {
    const { value } = await caller.call('Health/Check', HEALTH_CHECK, {
      service: options.service ?? SERVICE_NAME,
    });
    return value.status;
  } finally {
    transport.close();
  }
}

/** Options of {@link probeHealth}: those of {@link checkHealth}, and channel options. */
export interface HealthProbeOptions extends HealthCheckOptions {
  /** grpc-js channel options, passed through unchanged (e.g. `grpc.ssl_target_name_override`). Default none. */
  readonly channelOptions?: grpc.ChannelOptions;
}

/**
 * What {@link probeHealth} found, in grpc_health_probe's classes: the server `answered` with a status
 * (SERVING or not); the `connection-failed` (refused, unresolvable, TLS handshake failed, or not
 * connected before the deadline; also a connection lost during the call); or the `rpc-failed` on an
 * open connection (e.g. NOT_FOUND for a service the server does not know, UNIMPLEMENTED without a
 * health service, DEADLINE_EXCEEDED). `details` is grpc-js's or the server's text.
 */
export type HealthProbeResult =
  | { readonly outcome: 'answered'; readonly status: ServingStatus }
  | { readonly outcome: 'connection-failed'; readonly grpcCode: grpc.status; readonly details: string }
  | { readonly outcome: 'rpc-failed'; readonly grpcCode: grpc.status; readonly details: string };

/**
 * One grpc.health.v1.Health/Check of `address` (`host:port`) on a channel of its own, without retries,
 * classified as grpc_health_probe does (see {@link HealthProbeResult}); never rejects for a failed
 * check. `timeoutMs` (1…600,000, default 3,000) bounds connecting and the call together. Throws
 * {@link IdClientError} `INVALID_OPTIONS` for a malformed address or timeout.
 */
export function probeHealth(address: string, options: HealthProbeOptions = {}): Promise<HealthProbeResult> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const problem = targetProblem(address);
  if (problem !== undefined) {
    throw new IdClientError(
      'INVALID_OPTIONS',
      `address ${JSON.stringify(address)} is not a server address (${problem}); accepted: ${ACCEPTED_TARGETS}`,
    );
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) {
    throw new IdClientError(
      'INVALID_OPTIONS',
      `timeoutMs must be an integer from 1 to 600000; got ${String(timeoutMs)}`,
    );
  }
  const client = new grpc.Client(
    address,
    options.credentials ?? grpc.credentials.createInsecure(),
    options.channelOptions ?? {},
  );
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      HEALTH_CHECK.path,
      HEALTH_CHECK.requestSerialize,
      HEALTH_CHECK.responseDeserialize,
      { service: options.service ?? SERVICE_NAME },
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + timeoutMs) },
      (err, value) => {
        // Read before close(): a call that failed while the channel was not READY never had a connection.
        const connected = client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
        client.close();
        if (err === null && value !== undefined) resolve({ outcome: 'answered', status: value.status });
        else {
          resolve({
            outcome: connected ? 'rpc-failed' : 'connection-failed',
            grpcCode: err?.code ?? grpc.status.INTERNAL,
            details: err?.details ?? 'empty response',
          });
        }
      },
    );
  });
}
