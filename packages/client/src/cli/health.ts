import { status } from '@grpc/grpc-js';
import { statusName } from '../errors';
import { probeHealth, type HealthProbeResult } from '../health-check';
import type { Connection } from './args';
import { channelSettings } from './channel';
import { connectionError } from './failure';
import type { CommandIo } from './io';
import { formatRecords, type OutputRecord } from './output';
import { HEALTH_EXIT } from './usage';

/**
 * `health`: one grpc.health.v1 Check of `service` per address, all at once, each bounded by the
 * connection's timeout. Prints `{ address, service, status }` for each address that answered and one
 * stderr line for each that did not. Exit code as grpc_health_probe's ({@link HEALTH_EXIT}): 0 when every
 * address is SERVING, else that of the first address (in the order given) that is not.
 */
export async function runHealth(
  service: string,
  connection: Connection,
  json: boolean,
  io: CommandIo,
): Promise<number> {
  const settings = channelSettings(connection.tls);
  const results = await Promise.all(
    connection.addresses.map((address) =>
      probeHealth(address, { service, timeoutMs: connection.timeoutMs, ...settings }),
    ),
  );
  const records: OutputRecord[] = [];
  let exitCode: number = HEALTH_EXIT.serving;
  results.forEach((result, i) => {
    const address = connection.addresses[i] ?? '';
    if (result.outcome === 'answered') records.push({ address, service, status: result.status });
    else io.err(`snowflake: ${failureLine(address, service, connection.timeoutMs, result)}\n`);
    if (exitCode === HEALTH_EXIT.serving) exitCode = exitCodeOf(result);
  });
  if (records.length > 0) io.out(formatRecords(records, json));
  return exitCode;
}

function exitCodeOf(result: HealthProbeResult): number {
  switch (result.outcome) {
    case 'answered':
      return result.status === 'SERVING' ? HEALTH_EXIT.serving : HEALTH_EXIT.notServing;
    case 'connection-failed':
      return HEALTH_EXIT.connectionFailed;
    case 'rpc-failed':
      return HEALTH_EXIT.rpcFailed;
  }
}

function failureLine(
  address: string,
  service: string,
  timeoutMs: number,
  result: Exclude<HealthProbeResult, { outcome: 'answered' }>,
): string {
  const late = result.grpcCode === status.DEADLINE_EXCEEDED;
  if (result.outcome === 'connection-failed') {
    return late
      ? `${address} could not be reached within ${timeoutMs} ms`
      : `${address} could not be reached: ${connectionError(result.details)}`;
  }
  if (late) return `${address} did not answer the health check within ${timeoutMs} ms`;
  return `${address} answered the health check of ${JSON.stringify(service)} with ${statusName(result.grpcCode)}: ${result.details}`;
}
