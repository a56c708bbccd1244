import { loadConfig, helpText } from './config';
import { InvalidConfigError, SnowflakeError } from './errors';
import { createLogger } from './logger';
import { startServer, type RunningServer } from './server';
import { systemClock } from './system-clock';

/** Process entry: parse flags, validate config, start, and stop gracefully on SIGTERM/SIGINT. */
async function main(argv: readonly string[]): Promise<number | undefined> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`unknown argument: ${argv.join(' ')}\n\n${helpText()}\n`);
    return 2;
  }
  let loaded;
  try {
    loaded = loadConfig(process.env, systemClock.nowMs());
  } catch (err) {
    if (!(err instanceof InvalidConfigError)) throw err;
    process.stderr.write(
      `${err.message}\n\nRun with --help to list every variable and its allowed values.\n`,
    );
    return 1;
  }
  const logger = createLogger(loaded.config.logLevel);
  for (const warning of loaded.warnings) logger.warn(warning);
  /** Start failures go to the log and to stderr (even at log level silent), as one line without a stack. */
  const startFailed = (err: unknown): number => {
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof SnowflakeError ? err.code : undefined;
    logger.fatal({ err: message, code }, 'failed to start');
    process.stderr.write(`failed to start: ${code === undefined ? '' : `${code}: `}${message}\n`);
    return 1;
  };

  // Signals are handled from the start: one that arrives while starting (e.g. during the etcd claim)
  // stops the server as soon as it exists, so a claimed worker ID is released, not left to its TTL.
  let server: RunningServer | undefined;
  let signalled = false;
  /** Read through a function: the flag is set by a signal during the await below, unseen by flow analysis. */
  const wasSignalled = () => signalled;
  const stopAndExit = (running: RunningServer) => {
    void running.stop().then(({ forced }) => {
      process.exit(forced ? 1 : 0);
    });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal, starting: server === undefined }, 'signal received');
    if (server !== undefined) stopAndExit(server);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    server = await startServer(loaded.config, { logger });
  } catch (err) {
    return startFailed(err);
  }
  if (wasSignalled()) {
    stopAndExit(server);
    return undefined;
  }
  try {
    await server.ready;
  } catch (err) {
    await server.stop();
    return startFailed(err);
  }
  return undefined;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
