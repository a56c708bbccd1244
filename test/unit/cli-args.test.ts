import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseInvocation, UsageError, type Invocation } from '../../packages/client/src/cli/args';
import { EXIT, HEALTH_EXIT, usageExitCode } from '../../packages/client/src/cli/usage';
import { DEFAULT_LAYOUT, MAX_ID, SERVICE_NAME } from '@snowflake-id/client/contract';

const ENV = { SNOWFLAKE_ADDR: '10.0.0.1:50051' };
const plaintext = { addresses: ['10.0.0.1:50051'], timeoutMs: 5000, tls: undefined };

/** The UsageError `argv` is rejected with. */
async function rejection(argv: string[], env: NodeJS.ProcessEnv = ENV): Promise<UsageError> {
  const err: unknown = await parseInvocation(argv, env).then(
    (inv) =>
      new Error(
        `accepted: ${JSON.stringify(inv, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`,
      ),
    (e: unknown) => e,
  );
  if (!(err instanceof UsageError)) throw err;
  return err;
}

describe('snowflake CLI command line (parseInvocation)', () => {
  it.each<[string, string[], Invocation]>([
    ['next', ['next'], { kind: 'call', command: { name: 'next' }, connection: plaintext, json: false }],
    [
      'batch N',
      ['batch', '100000'],
      { kind: 'call', command: { name: 'batch', count: 100_000 }, connection: plaintext, json: false },
    ],
    [
      'decode of 2^63 − 1',
      ['decode', String(MAX_ID)],
      { kind: 'call', command: { name: 'decode', id: MAX_ID }, connection: plaintext, json: false },
    ],
    [
      'info --json',
      ['--json', 'info'],
      { kind: 'call', command: { name: 'info' }, connection: plaintext, json: true },
    ],
    ['health', ['health'], { kind: 'health', service: SERVICE_NAME, connection: plaintext, json: false }],
    [
      'health --service=',
      ['health', '--service='],
      { kind: 'health', service: '', connection: plaintext, json: false },
    ],
    [
      'decode --local',
      ['decode', '--local', '0'],
      { kind: 'local-decode', id: 0n, layout: DEFAULT_LAYOUT, json: false },
    ],
    [
      '--addr list and --timeout-ms',
      ['next', '--addr', 'a.example:1, [::1]:2', '--timeout-ms=600000'],
      {
        kind: 'call',
        command: { name: 'next' },
        connection: { addresses: ['a.example:1', '[::1]:2'], timeoutMs: 600_000, tls: undefined },
        json: false,
      },
    ],
    ['--help wins over anything', ['batch', '0', '--bogus', '--help'], { kind: 'help' }],
    ['-h', ['-h'], { kind: 'help' }],
    ['--version', ['--version'], { kind: 'version' }],
  ])('%s', async (_name, argv, expected) => {
    expect(await parseInvocation(argv, ENV)).toEqual(expected);
  });

  it('the default address when neither --addr nor SNOWFLAKE_ADDR is given (an empty SNOWFLAKE_ADDR counts as unset)', async () => {
    for (const env of [{}, { SNOWFLAKE_ADDR: '' }]) {
      expect(await parseInvocation(['info'], env)).toMatchObject({
        connection: { addresses: ['127.0.0.1:50051'] },
      });
    }
  });

  it('--tls alone: TLS by the system CAs, no files read', async () => {
    expect(await parseInvocation(['next', '--tls', '--server-name', 'ids.example'], ENV)).toMatchObject({
      connection: { tls: { ca: undefined, cert: undefined, key: undefined, serverName: 'ids.example' } },
    });
  });

  it.each<[string, string[], RegExp]>([
    [
      '2^63',
      ['decode', (MAX_ID + 1n).toString()],
      /not an ID: 9223372036854775808 is larger than 9223372036854775807/,
    ],
    ['a sign', ['decode', '+1'], /not an ID: "\+1"/],
    ['hex', ['decode', '0x1'], /not an ID: "0x1"/],
    ['batch 100001', ['batch', '100001'], /batch N must be an integer from 1 to 100000; got "100001"/],
    ['batch 1e3', ['batch', '1e3'], /got "1e3"/],
    ['a second command word', ['next', 'info'], /next takes no arguments; got info/],
    [
      '101 addresses',
      ['next', '--addr', Array.from({ length: 101 }, (_, i) => `h:${i + 1}`).join(',')],
      /--addr lists 101 addresses; at most 100/,
    ],
    ['an address with a scheme', ['next', '--addr', 'http://h:1'], /bad address "http:\/\/h:1"/],
    [
      '--timeout-ms above the limit',
      ['next', '--timeout-ms', '600001'],
      /--timeout-ms must be an integer from 1 to 600000/,
    ],
    ['--timeout-ms as a real number', ['next', '--timeout-ms', '1.5'], /got "1.5"/],
    ['--server-name without TLS', ['next', '--server-name', 'x'], /--server-name needs TLS/],
    ['an empty --server-name', ['next', '--tls', '--server-name='], /--server-name must not be empty/],
    [
      '--local with --tls',
      ['decode', '--local', '1', '--tls'],
      /decode --local asks no server: --tls does not apply/,
    ],
    [
      '--local with --timeout-ms',
      ['decode', '--local', '1', '--timeout-ms', '5'],
      /--timeout-ms does not apply/,
    ],
    ['--version with a value', ['--version=2'], /option --version takes no value/],
  ])('rejects %s', async (_name, argv, message) => {
    expect((await rejection(argv)).message).toMatch(message);
  });

  it('reports the first problem, and names the command word for the exit code', async () => {
    const err = await rejection(['health', '--bogus', '--addr', 'nope']);
    expect(err.message).toBe('unknown option --bogus');
    expect(err.command).toBe('health');
    expect((await rejection(['--bogus'])).command).toBe('');
  });

  it('exit code of bad usage: 1 for health (grpc_health_probe), 2 for everything else', () => {
    expect(usageExitCode('health')).toBe(HEALTH_EXIT.usage);
    expect(HEALTH_EXIT.usage).toBe(1);
    for (const command of ['next', 'batch', 'decode', 'info', '', 'frobnicate']) {
      expect(usageExitCode(command)).toBe(EXIT.usage);
    }
    expect(EXIT.usage).toBe(2);
    expect(HEALTH_EXIT).toEqual({ serving: 0, usage: 1, connectionFailed: 2, rpcFailed: 3, notServing: 4 });
  });

  describe('--layout FILE', () => {
    let dir: string;
    const info = {
      address: '127.0.0.1:50051',
      epoch: '2024-01-01T00:00:00.000Z',
      epochMs: '1704067200000',
      timeUnitMs: 10,
      timestampBits: 40,
      datacenterBits: 6,
      workerBits: 5,
      sequenceBits: 12,
      datacenterId: 1,
      workerId: 2,
      maxBatchSize: 10000,
    };
    const write = (name: string, content: unknown): string => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
      return file;
    };

    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-cli-args-'));
    });
    afterAll(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('reads the layout of "info --json" (epochMs as text or number), ignoring the other keys', async () => {
      const layout = {
        epochMs: 1704067200000,
        timeUnitMs: 10,
        timestampBits: 40,
        datacenterBits: 6,
        workerBits: 5,
        sequenceBits: 12,
      };
      for (const content of [info, { ...info, epochMs: 1704067200000 }]) {
        const file = write('info.json', content);
        expect(await parseInvocation(['decode', '--local', '--layout', file, '7'], ENV)).toEqual({
          kind: 'local-decode',
          id: 7n,
          layout,
          json: false,
        });
      }
    });

    it.each<[string, unknown, RegExp]>([
      ['not JSON', 'epochMs: 1', /not JSON/],
      ['an array', [1], /not a JSON object/],
      ['a missing field', { ...info, workerBits: undefined }, /workerBits must be an integer; got nothing/],
      ['a negative epoch', { ...info, epochMs: '-1' }, /epochMs must be an integer; got "-1"/],
      ['a real number', { ...info, sequenceBits: 12.5 }, /sequenceBits must be an integer; got 12.5/],
      [
        'a timestamp of 64 bits',
        { ...info, timestampBits: 64 },
        /timestampBits must be an integer from 1 to 63; got 64/,
      ],
      ['widths summing to 64', { ...info, sequenceBits: 13 }, /must sum to 63; got 40 \+ 6 \+ 5 \+ 13 = 64/],
      // The servers' own rules (the contract's layoutProblem), beyond each field's type.
      [
        'a negative epoch as a number',
        { ...info, epochMs: -1 },
        /epochMs must be a whole number of ms at or after 1970-01-01; got -1/,
      ],
      ['a layout that runs past year 9999', { ...info, timeUnitMs: 1000 }, /run past year 9999/],
    ])('rejects a layout file with %s, naming the file', async (_name, content, message) => {
      const file = write('bad.json', content);
      const err = await rejection(['decode', '--local', '--layout', file, '1']);
      expect(err.message).toMatch(message);
      expect(err.message.startsWith(`--layout ${file}: `)).toBe(true);
    });
  });
});
