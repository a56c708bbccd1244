import { parseArgs } from 'node:util';
import { ACCEPTED_TARGETS, targetProblem } from '../target';
// The contract's files one by one, not its index: the command-line check loads only what it uses.
import { MAX_ID } from '../contract/id-fields';
import { DEFAULT_LAYOUT, type Layout } from '../contract/layout';
import { MAX_BATCH_SIZE_LIMIT } from '../contract/limits';
import { SERVICE_NAME } from '../contract/service';
import { ArgumentError } from './argument-error';
import { readLayoutFile } from './layout-file';
import type { TlsSettings } from './tls-files';
import { DEFAULT_ADDR, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS } from './usage';

/** Where the network commands go and how. */
export interface Connection {
  /** Distinct addresses, 1 to 100, in the order given. */
  readonly addresses: readonly string[];
  /** Deadline of the command in ms, retries included; 1…600,000. */
  readonly timeoutMs: number;
  /** TLS material; undefined: plaintext. */
  readonly tls: TlsSettings | undefined;
}

/** A command that calls snowflake.v1.IdGenerator. */
export type CallCommand =
  | { readonly name: 'next' }
  | { readonly name: 'batch'; readonly count: number }
  | { readonly name: 'decode'; readonly id: bigint }
  | { readonly name: 'info' };

/** A command line, checked: everything a command needs, nothing left to validate. */
export type Invocation =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'local-decode'; readonly id: bigint; readonly layout: Layout; readonly json: boolean }
  | {
      readonly kind: 'call';
      readonly command: CallCommand;
      readonly connection: Connection;
      readonly json: boolean;
    }
  | {
      readonly kind: 'health';
      readonly service: string;
      readonly connection: Connection;
      readonly json: boolean;
    };

/** A bad command line: nothing was sent. `command` is the command word given ('' for none). */
export class UsageError extends Error {
  readonly command: string;

  constructor(message: string, command: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

const OPTIONS = {
  addr: { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'server-name': { type: 'string' },
  service: { type: 'string' },
  local: { type: 'boolean' },
  layout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

type OptionName = keyof typeof OPTIONS;

/** Options that ask for TLS or shape it. */
const TLS_OPTIONS: readonly OptionName[] = ['tls', 'ca', 'cert', 'key', 'server-name'];

/** Options that only make sense with a server to talk to. */
const NETWORK_OPTIONS: readonly OptionName[] = ['addr', 'timeout-ms', ...TLS_OPTIONS];

const COMMANDS = ['next', 'batch', 'decode', 'info', 'health'] as const;

/** Positional arguments of each command, by name for messages. */
const ARGUMENTS: Record<(typeof COMMANDS)[number], readonly string[]> = {
  next: [],
  batch: ['N'],
  decode: ['ID'],
  info: [],
  health: [],
};

/** The most addresses one command takes (the client's limit). */
const MAX_ADDRESSES = 100;

/**
 * Checks the whole command line `argv` (without `node` and the script) and `env` (SNOWFLAKE_ADDR) before
 * anything is sent: options, command, its arguments, addresses, timeout, TLS files, layout file. Rejects
 * with {@link UsageError} naming the first problem. Loads no gRPC code (and node:crypto only for TLS).
 */
export async function parseInvocation(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<Invocation> {
  const { values, positionals, problem } = scan(argv);
  if (values.has('help')) return { kind: 'help' };
  if (values.has('version')) return { kind: 'version' };
  const [command = '', ...args] = positionals;
  const fail = (message: string): never => {
    throw new UsageError(message, command);
  };
  if (problem !== undefined) fail(problem);
  if (command === '') fail('no command given');
  if (!(COMMANDS as readonly string[]).includes(command)) fail(`unknown command ${JSON.stringify(command)}`);
  const name = command as (typeof COMMANDS)[number];
  const names = ARGUMENTS[name];
  if (args.length !== names.length) {
    const want = names.length === 0 ? 'no arguments' : names.join(' ');
    fail(`${name} takes ${want}; got ${args.length === 0 ? 'none' : args.join(' ')}`);
  }
  const arg = args[0] ?? '';
  const text = (option: OptionName): string | undefined => values.get(option) as string | undefined;
  const json = values.has('json');

  if (values.has('service') && name !== 'health') fail('--service applies to health only');
  if (values.has('local') && name !== 'decode') fail('--local applies to decode only');
  if (values.has('layout') && !values.has('local')) fail('--layout applies to decode --local only');
  try {
    if (values.has('local')) {
      const network = NETWORK_OPTIONS.find((o) => values.has(o));
      if (network !== undefined) fail(`decode --local asks no server: --${network} does not apply`);
      const id = parseId(arg);
      const file = text('layout');
      return {
        kind: 'local-decode',
        id,
        layout: file === undefined ? DEFAULT_LAYOUT : readLayoutFile(file),
        json,
      };
    }
    // The command's own arguments first, the files last: the cheapest check that fails is the one reported.
    const call: CallCommand | undefined =
      name === 'batch'
        ? { name, count: integer('batch N', arg, 1, MAX_BATCH_SIZE_LIMIT) }
        : name === 'decode'
          ? { name, id: parseId(arg) }
          : name === 'health'
            ? undefined
            : { name };
    const addresses = parseAddresses(text('addr'), env.SNOWFLAKE_ADDR);
    const timeoutMs = integer(
      '--timeout-ms',
      text('timeout-ms') ?? String(DEFAULT_TIMEOUT_MS),
      1,
      MAX_TIMEOUT_MS,
    );
    const tls = TLS_OPTIONS.some((o) => values.has(o))
      ? (await import('./tls-files.js')).tlsSettings({
          tls: values.has('tls'),
          ca: text('ca'),
          cert: text('cert'),
          key: text('key'),
          serverName: text('server-name'),
        })
      : undefined;
    const connection: Connection = { addresses, timeoutMs, tls };
    return call === undefined
      ? { kind: 'health', service: text('service') ?? SERVICE_NAME, connection, json }
      : { kind: 'call', command: call, connection, json };
  } catch (err) {
    if (err instanceof ArgumentError) fail(err.message);
    throw err;
  }
}

/**
 * The options and positionals of `argv`, and the first problem with them (reported only after
 * `--help`/`--version` had their say). Lenient on purpose so that "-1" reaches the command as text and is
 * rejected as a bad ID or count, instead of as an unknown option.
 */
function scan(argv: readonly string[]): {
  values: Map<OptionName, string | boolean>;
  positionals: string[];
  problem: string | undefined;
} {
  const { tokens } = parseArgs({
    args: [...argv],
    options: OPTIONS,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const values = new Map<OptionName, string | boolean>();
  const positionals: string[] = [];
  let problem: string | undefined;
  const note = (text: string) => {
    problem ??= text;
  };
  // "-12" arrives as the short options 1 and 2 on one index: keep it once, as the text it was.
  const negatives = new Set<number>();
  for (const t of tokens) {
    if (t.kind === 'positional') positionals.push(t.value);
    else if (t.kind === 'option') {
      const raw = argv[t.index] ?? '';
      if (/^-\d/.test(raw)) {
        if (!negatives.has(t.index)) positionals.push(raw);
        negatives.add(t.index);
      } else if (!(t.name in OPTIONS)) {
        note(`unknown option ${t.rawName}`);
      } else {
        const name = t.name as OptionName;
        if (values.has(name)) note(`option ${t.rawName} given twice`);
        if (OPTIONS[name].type === 'string') {
          if (t.value === undefined) note(`option ${t.rawName} needs a value`);
          else values.set(name, t.value);
        } else if (t.value !== undefined) {
          note(`option ${t.rawName} takes no value`);
        } else {
          values.set(name, true);
        }
      }
    }
  }
  return { values, positionals, problem };
}

/** The addresses of `--addr`, else of SNOWFLAKE_ADDR, else the default; each checked by the client's rule. */
function parseAddresses(flag: string | undefined, env: string | undefined): string[] {
  const [source, list] =
    flag !== undefined ? ['--addr', flag] : env ? ['SNOWFLAKE_ADDR', env] : ['default', DEFAULT_ADDR];
  const addresses: string[] = [];
  for (const piece of list.split(',').map((a) => a.trim())) {
    const last = addresses.at(-1);
    // An ipv4:/ipv6: target is a comma-separated list itself: a following piece without a scheme continues it.
    if (last !== undefined && /^ipv[46]:/.test(last) && !/^(dns|ipv4|ipv6|unix):/.test(piece)) {
      addresses[addresses.length - 1] = `${last},${piece}`;
    } else {
      addresses.push(piece);
    }
  }
  if (addresses.length > MAX_ADDRESSES) {
    throw new ArgumentError(`${source} lists ${addresses.length} addresses; at most ${MAX_ADDRESSES}`);
  }
  for (const a of addresses) {
    const problem = targetProblem(a);
    if (problem !== undefined) {
      throw new ArgumentError(
        `${source}: bad address ${JSON.stringify(a)} (${problem}); accepted: ${ACCEPTED_TARGETS}`,
      );
    }
  }
  const twice = addresses.find((a, i) => addresses.indexOf(a) !== i);
  if (twice !== undefined) throw new ArgumentError(`${source} lists ${twice} twice`);
  return addresses;
}

/** `text` as an integer from `min` to `max`; throws {@link ArgumentError} naming `what` otherwise. */
function integer(what: string, text: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ArgumentError(`${what} must be an integer from ${min} to ${max}; got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/**
 * An ID written in decimal, straight to a bigint: digits only, 0 to 2^63 − 1 (the service's IDs keep
 * the sign bit clear, and its DecodeId refuses larger values).
 */
function parseId(text: string): bigint {
  if (!/^[0-9]+$/.test(text)) {
    throw new ArgumentError(
      `not an ID: ${JSON.stringify(text)}; an ID is written in decimal digits, 0 to ${MAX_ID}`,
    );
  }
  const id = BigInt(text);
  if (id > MAX_ID)
    throw new ArgumentError(`not an ID: ${text} is larger than ${MAX_ID} (2^63 − 1), the largest ID`);
  return id;
}
