import * as grpc from '@grpc/grpc-js';
import { DEFAULT_BACKOFF } from './backoff';
import { Balancer } from './balancer';
import { SERVICE_NAME } from './contract';
import { FailoverCaller } from './failover';
import type { ServingStatus } from './messages';
import { clientMethods } from './proto';
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
  const check = clientMethods().HealthCheck;
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
    const { value } = await caller.call('Health/Check', check, { service: options.service ?? SERVICE_NAME });
    return value.status;
  } finally {
    transport.close();
  }
}
