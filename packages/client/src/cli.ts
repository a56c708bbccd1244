#!/usr/bin/env node
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseInvocation, UsageError, type Invocation } from './cli/args';
import type { CommandIo } from './cli/io';
import { EXIT, usageExitCode, USAGE } from './cli/usage';

/**
 * The `snowflake` command. Only the command-line check is loaded up front (no grpc-js, proto-loader or
 * server code), so `--help`, `--version` and a bad argument answer at about the speed of a bare
 * `node -e 0`; a command that talks to a server loads the client when it runs. Exit codes: see USAGE.
 */

// Deprecation warnings are for the CLI's developers, not its users, who cannot act on them: grpc-js sets
// the TLS server name to the dialled host, so every TLS connection to an IP address would print DEP0123.
process.noDeprecation = true;

const io: CommandIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** The version of this package (its package.json sits beside dist/ and src/). */
function version(): string {
  const file = path.join(__dirname, '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

async function run(inv: Invocation): Promise<number> {
  switch (inv.kind) {
    case 'help':
      io.out(USAGE);
      return EXIT.ok;
    case 'version':
      io.out(`${version()}\n`);
      return EXIT.ok;
    case 'local-decode': {
      const { runLocalDecode } = await import('./cli/local-decode.js');
      return runLocalDecode(inv.id, inv.layout, inv.json, io);
    }
    case 'call': {
      const { runCall } = await import('./cli/calls.js');
      return runCall(inv.command, inv.connection, inv.json, io);
    }
    case 'health': {
      const { runHealth } = await import('./cli/health.js');
      return runHealth(inv.service, inv.connection, inv.json, io);
    }
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let inv: Invocation;
  try {
    inv = await parseInvocation(argv, process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`snowflake: ${err.message}; see snowflake --help\n`);
    return usageExitCode(err.command);
  }
  return run(inv);
}

// A reader that stops early (`snowflake batch 1000 | head -1`) is no failure.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit();
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    io.err(
      `snowflake: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = EXIT.callFailed;
  },
);
