import type { Logger } from 'pino';
import { loadConfig, helpText } from './config';
import { InvalidConfigError, SnowflakeError } from './errors';
import { createLogger } from './logger';
import { startServer, type RunningServer } from './server';
import { systemClock } from './system-clock';

/**
 * Process entry: parse flags, validate config, start, and stop gracefully on SIGTERM/SIGINT. Resolves
 * with the exit code once the process should end, or undefined while it serves (a signal then exits).
 */
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

  // Signals are handled from the start. One that arrives while starting gives the start up: a pending
  // etcd claim (which runs while the ports already answer NOT_SERVING) stops retrying and revokes its
  // lease, the lock is released, and the process exits. Once the server exists it stops gracefully, so a
  // claimed worker ID is released, not left to its TTL.
  const starting = new AbortController();
  let server: RunningServer | undefined;
  let signalled = false;
  let failed = false;
  let serving = false;
  /** Read through a function: the flag is set by a signal during the awaits below, unseen by flow analysis. */
  const wasSignalled = () => signalled;
  const isServing = () => serving;
  const stopAndExit = (running: RunningServer) => {
    void running.stop().then(({ forced }) => {
      if (!isServing()) logger.info('start given up on a signal; what it held is released');
      process.exit(forced ? 1 : 0);
    });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled || failed) {
      logger.warn(
        { signal },
        signalled ? 'second signal: exiting now' : 'signal after a failed start: exiting now',
      );
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal, starting: server === undefined }, 'signal received');
    if (server !== undefined) {
      stopAndExit(server);
      return;
    }
    starting.abort(new Error(`${signal} received while starting`));
    exitIfStillRunningAfter(RELEASE_BOUND_MS, logger);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    server = await startServer(loaded.config, { logger, signal: starting.signal });
  } catch (err) {
    if (starting.signal.aborted && err === starting.signal.reason) {
      logger.info('start given up on a signal; what it held is released');
      return 0;
    }
    failed = true;
    return startFailed(err);
  }
  if (wasSignalled()) {
    stopAndExit(server);
    return undefined;
  }
  try {
    await server.ready;
    serving = true;
  } catch (err) {
    // A signal's stop() can end the wait for readiness too: that path exits on its own.
    if (wasSignalled()) return undefined;
    failed = true;
    const code = startFailed(err);
    exitIfStillRunningAfter(RELEASE_BOUND_MS, logger);
    await server.stop();
    return code;
  }
  return undefined;
}

/**
 * Longest a start that is given up (it failed, or a signal came) may spend releasing what it holds — the
 * etcd lease, the state-dir lock, the ports — before the process exits regardless, in ms.
 */
const RELEASE_BOUND_MS = 5_000;

/** Backstop: exits with 1 after `ms` unless the process has exited by then. */
function exitIfStillRunningAfter(ms: number, logger: Logger): void {
  setTimeout(() => {
    logger.error({ boundMs: ms }, 'could not release everything in time; exiting anyway');
    process.exit(1);
  }, ms).unref();
}

// Always an explicit exit once main is done with a code: an open handle (a half-open etcd connection, a
// bound port) must not keep a process alive that has given up.
main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
