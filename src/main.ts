import { loadConfig, helpText } from './config';
import { InvalidConfigError } from './errors';
import { createLogger } from './logger';
import { startServer } from './server';
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
  const server = await startServer(loaded.config, { logger }).catch((err: unknown) => {
    logger.fatal({ err }, 'failed to start');
    return undefined;
  });
  if (server === undefined) return 1;

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal }, 'signal received');
    void server.stop().then(({ forced }) => {
      process.exit(forced ? 1 : 0);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await server.ready;
  } catch (err) {
    logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'failed to start');
    await server.stop();
    return 1;
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
