import pino, { type Logger } from 'pino';
import type { Config } from './config';

/** JSON logger on stdout (synchronous, so nothing is lost when the process exits), ISO timestamps. */
export function createLogger(level: Config['logLevel']): Logger {
  return pino(
    { level, base: { service: 'snowflake' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: 1, sync: true }),
  );
}
