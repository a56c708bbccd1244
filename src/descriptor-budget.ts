import * as fs from 'node:fs';
import type { Config } from './config';
import { InvalidConfigError } from './errors';

/**
 * Descriptors kept out of both connection caps: the state file and its lock, etcd connections, stdio,
 * the two listening sockets and Node's own (event loop, signal pipes, /proc reads of the metrics).
 * A Node process uses about 25 of them; the rest is margin.
 */
export const RESERVED_DESCRIPTORS = 64;

/**
 * The soft open-file limit (`ulimit -n`, RLIMIT_NOFILE) of this process, read from `limitsText`
 * (default /proc/self/limits); undefined when unlimited or unknown (no /proc: not Linux).
 */
export function openFileLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  return soft === undefined || !/^\d+$/.test(soft) ? undefined : Number(soft);
}

/**
 * Throws {@link InvalidConfigError} when the gRPC and /metrics connection caps together leave fewer than
 * {@link RESERVED_DESCRIPTORS} of `limit` open files: connections could then take the descriptor a
 * state-file write needs, and the service would refuse IDs. No check when `limit` is undefined.
 */
export function checkDescriptorBudget(
  config: Pick<Config, 'grpcLimits' | 'metricsMaxConnections'>,
  limit: number | undefined,
): void {
  if (limit === undefined) return;
  const caps = config.grpcLimits.maxConnections + config.metricsMaxConnections;
  if (caps + RESERVED_DESCRIPTORS <= limit) return;
  throw new InvalidConfigError(
    `invalid configuration:\n  SNOWFLAKE_GRPC_MAX_CONNECTIONS=${config.grpcLimits.maxConnections} + ` +
      `SNOWFLAKE_METRICS_MAX_CONNECTIONS=${config.metricsMaxConnections} must be at most ` +
      `${Math.max(0, limit - RESERVED_DESCRIPTORS)}: the open-file limit of this process is ${limit} ` +
      `(ulimit -n) and ${RESERVED_DESCRIPTORS} descriptors stay free for the state file, etcd and Node; ` +
      'lower the caps or raise the limit',
  );
}
