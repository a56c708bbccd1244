#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { MAX_BATCH_SIZE_LIMIT, SERVICE_NAME } from './contract';
import { IdClientError } from './errors';
import { checkHealth } from './health-check';
import { createIdClient, type IdClient } from './id-client';
import { parseIdText } from './id-text';
import { isAddress } from './options';

/**
 * The `snowflake` command: talks to a snowflake ID server from a shell. Exit codes: 0 success, 1 the
 * call failed (server down, refused, NOT_SERVING…), 2 bad usage or input (nothing was sent).
 */

const DEFAULT_ADDR = '127.0.0.1:50051';
const DEFAULT_TIMEOUT_MS = 5000;
const MAX_TIMEOUT_MS = 600_000;

const USAGE = `Usage: snowflake [options] <command>

Commands:
  next           print one new ID
  batch N        print N new IDs (1 to ${MAX_BATCH_SIZE_LIMIT}, at most the server's max_batch_size), one per line
  decode ID      print the fields of ID (decimal, 0 to 2^64 - 1) by the server's layout
  info           print the server's layout, node IDs and limits
  health         check grpc.health.v1 for ${SERVICE_NAME}; exit 0 only if SERVING

Options:
  --addr host:port[,host:port...]  servers (default: $SNOWFLAKE_ADDR, else ${DEFAULT_ADDR});
                                   calls fail over between them, health checks each
  --json                           print JSON (IDs and 64-bit values as decimal strings)
  --timeout-ms N                   deadline of the command in ms, retries included
                                   (1 to ${MAX_TIMEOUT_MS}, default ${DEFAULT_TIMEOUT_MS})
  -h, --help                       print this help

Exit status: 0 success, 1 the call failed (server down, error, NOT_SERVING), 2 bad usage or input.
`;

/** Wrong command line or argument: exit 2 before anything is sent. */
class UsageError extends Error {}

interface Invocation {
  readonly command: string;
  readonly args: readonly string[];
  readonly addresses: readonly string[];
  readonly json: boolean;
  readonly timeoutMs: number;
  readonly help: boolean;
}

const OPTIONS = {
  addr: { type: 'string' },
  json: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse(argv: readonly string[], env: NodeJS.ProcessEnv): Invocation {
  // Parsed leniently so that "-1" reaches the command as text (and is rejected as a bad ID or count)
  // instead of being reported as an unknown option; unknown options are rejected below.
  const { tokens } = parseArgs({
    args: [...argv],
    options: OPTIONS,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const positionals: string[] = [];
  const values = new Map<string, string | boolean>();
  const negativeSeen = new Set<number>();
  for (const t of tokens) {
    if (t.kind === 'positional') positionals.push(t.value);
    else if (t.kind === 'option') {
      const raw = argv[t.index] ?? '';
      if (/^-\d/.test(raw)) {
        if (!negativeSeen.has(t.index)) positionals.push(raw);
        negativeSeen.add(t.index);
      } else if (!(t.name in OPTIONS)) {
        throw new UsageError(`unknown option ${t.rawName}`);
      } else if (OPTIONS[t.name as keyof typeof OPTIONS].type === 'string') {
        if (t.value === undefined) throw new UsageError(`option ${t.rawName} needs a value`);
        values.set(t.name, t.value);
      } else {
        if (t.value !== undefined) throw new UsageError(`option ${t.rawName} takes no value`);
        values.set(t.name, true);
      }
    }
  }
  const addrText = (values.get('addr') as string | undefined) ?? (env.SNOWFLAKE_ADDR || DEFAULT_ADDR);
  const addresses = addrText.split(',').map((a) => a.trim());
  for (const a of addresses) {
    if (!isAddress(a)) {
      throw new UsageError(
        `bad address ${JSON.stringify(a)}: expected host:port (IPv6 as [::1]:50051, port 1 to 65535)`,
      );
    }
  }
  const timeoutText = values.get('timeout-ms') as string | undefined;
  const timeoutMs =
    timeoutText === undefined
      ? DEFAULT_TIMEOUT_MS
      : integerArg('--timeout-ms', timeoutText, 1, MAX_TIMEOUT_MS);
  const [command = '', ...args] = positionals;
  return {
    command,
    args,
    addresses,
    json: values.get('json') === true,
    timeoutMs,
    help: values.get('help') === true,
  };
}

function integerArg(what: string, text: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${what} must be an integer from ${min} to ${max}; got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function expectArgs(inv: Invocation, names: readonly string[]): void {
  if (inv.args.length !== names.length) {
    const want = names.length === 0 ? 'no arguments' : names.join(' ');
    throw new UsageError(
      `${inv.command} takes ${want}; got ${inv.args.length === 0 ? 'none' : inv.args.join(' ')}`,
    );
  }
}

/** Key/value lines with the keys padded to one column. */
function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}\n`).join('');
}

async function run(inv: Invocation, out: (text: string) => void): Promise<number> {
  switch (inv.command) {
    case 'next': {
      expectArgs(inv, []);
      const id = await withClient(inv, (c) => c.nextId());
      out(inv.json ? `${JSON.stringify({ id: id.toString() })}\n` : `${id}\n`);
      return 0;
    }
    case 'batch': {
      expectArgs(inv, ['N']);
      const count = integerArg('batch N', inv.args[0] ?? '', 1, MAX_BATCH_SIZE_LIMIT);
      const ids = await withClient(inv, (c) => c.batch(count));
      const text = ids.map((id) => id.toString());
      out(inv.json ? `${JSON.stringify({ ids: text })}\n` : `${text.join('\n')}\n`);
      return 0;
    }
    case 'decode': {
      expectArgs(inv, ['ID']);
      const id = parseId(inv.args[0] ?? '');
      const d = await withClient(inv, (c) => c.decodeRemote(id));
      const fields = {
        id: d.id.toString(),
        timestamp: d.timestamp,
        timestampMs: String(d.timestampMs),
        datacenterId: d.datacenterId,
        workerId: d.workerId,
        sequence: d.sequence,
      };
      out(
        inv.json
          ? `${JSON.stringify(fields)}\n`
          : table([
              ['id', fields.id],
              ['timestamp', fields.timestamp],
              ['timestamp_ms', fields.timestampMs],
              ['datacenter_id', String(d.datacenterId)],
              ['worker_id', String(d.workerId)],
              ['sequence', String(d.sequence)],
            ]),
      );
      return 0;
    }
    case 'info': {
      expectArgs(inv, []);
      const i = await withClient(inv, (c) => c.info());
      const epoch = new Date(i.epochMs).toISOString();
      out(
        inv.json
          ? `${JSON.stringify({ ...i, epochMs: String(i.epochMs), epoch })}\n`
          : table([
              ['address', i.address],
              ['epoch', `${epoch} (${i.epochMs} ms)`],
              [
                'layout',
                `${i.timestampBits} | ${i.datacenterBits} | ${i.workerBits} | ${i.sequenceBits} bits ` +
                  '(timestamp | datacenter | worker | sequence)',
              ],
              ['time_unit_ms', String(i.timeUnitMs)],
              ['datacenter_id', String(i.datacenterId)],
              ['worker_id', String(i.workerId)],
              ['max_batch_size', String(i.maxBatchSize)],
            ]),
      );
      return 0;
    }
    case 'health': {
      expectArgs(inv, []);
      let allServing = true;
      for (const address of inv.addresses) {
        try {
          const status = await checkHealth(address, { timeoutMs: inv.timeoutMs });
          allServing &&= status === 'SERVING';
          out(
            inv.json
              ? `${JSON.stringify({ address, service: SERVICE_NAME, status })}\n`
              : `${address} ${SERVICE_NAME}: ${status}\n`,
          );
        } catch (err) {
          allServing = false;
          process.stderr.write(`snowflake: health check of ${address} failed: ${describe(err)}\n`);
        }
      }
      return allServing ? 0 : 1;
    }
    case '':
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(inv.command)}`);
  }
}

function parseId(text: string): bigint {
  try {
    return parseIdText(text);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

async function withClient<T>(inv: Invocation, fn: (client: IdClient) => Promise<T>): Promise<T> {
  const client = createIdClient({
    addresses: inv.addresses,
    timeoutMs: inv.timeoutMs,
    attemptTimeoutMs: inv.timeoutMs,
    prefetch: { maxAgeMs: 0 },
  });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function describe(err: unknown): string {
  if (err instanceof IdClientError) {
    return err.serverCode !== undefined && !err.message.includes(err.serverCode)
      ? `${err.code} (${err.serverCode}): ${err.message}`
      : `${err.code}: ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

async function main(argv: readonly string[]): Promise<number> {
  let inv: Invocation;
  try {
    inv = parse(argv, process.env);
    if (inv.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    return await run(inv, (text) => process.stdout.write(text));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`snowflake: ${err.message}\nRun "snowflake --help" for usage.\n`);
      return 2;
    }
    process.stderr.write(`snowflake: ${describe(err)}\n`);
    return 1;
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
