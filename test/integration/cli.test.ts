import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IdCodec } from '../../src/core/codec';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { SERVICE_NAME } from '@snowflake-id/client/contract';
import { CLIENT_EXTENSIONS, createTestPki, SERVER_EXTENSIONS, type TestPki } from '../helpers/certificates';
import { unaryCall, unaryOk } from '../helpers/grpc-client';
import { ROOT, runNode } from '../helpers/process';
import { startTestServer, startTestServerOnFakeClocks, type TestServer } from '../helpers/server';

// The compiled CLI of the client package, as users run it; `npm test` builds dist/ first (pretest).
const CLIENT_PACKAGE = path.join(ROOT, 'packages/client');
const CLI = path.join(CLIENT_PACKAGE, 'dist/cli.js');
/** The service's own `snowflake` bin, which runs the client package's CLI. */
const SERVICE_CLI = path.join(ROOT, 'dist/cli.js');
const codec = new IdCodec(DEFAULT_LAYOUT);
const DIGITS = /^[0-9]+$/;

let tmp: string;
let t: TestServer;
let addr: string;
/** A server with another layout than the default: 40 | 6 | 5 | 12 bits, 10 ms ticks from 2024. */
let custom: TestServer;
let customAddr: string;
/** Two servers that refuse IDs (wall clock stepped back beyond the skew bound): readiness NOT_SERVING. */
const refusing: TestServer[] = [];
let refusingAddr: string;
let refusingAddr2: string;
/** An address nothing listens on: a server's port right after it stopped. */
let deadAddr: string;
/** A server with mutual TLS: certificates signed by `ca` on both sides. */
let tlsServer: TestServer;
let tlsAddr: string;
let pki: TestPki | undefined;
/** Every server started, to stop in afterAll even when beforeAll failed half-way. */
const started: TestServer[] = [];

/** Starts `start()`'s server and records it for afterAll. */
async function track<T extends TestServer>(start: Promise<T>): Promise<T> {
  const s = await start;
  started.push(s);
  return s;
}

/** The test PKI; beforeAll made it. */
function certs(): TestPki {
  if (pki === undefined) throw new Error('no test PKI');
  return pki;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-cli-test-'));
  const p = createTestPki('snowflake-cli-tls-');
  pki = p;
  p.makeCa('ca');
  p.makeCa('other-ca');
  p.makeCert('server', 'ca', SERVER_EXTENSIONS);
  p.makeCert('client', 'ca', CLIENT_EXTENSIONS);
  p.makeCert('client2', 'ca', CLIENT_EXTENSIONS);
  fs.writeFileSync(p.file('garbage.pem'), 'not a certificate\n');
  fs.writeFileSync(p.file('fake.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');

  t = await track(
    startTestServer({
      SNOWFLAKE_DATACENTER_ID: '2',
      SNOWFLAKE_WORKER_ID: '5',
      SNOWFLAKE_MAX_BATCH_SIZE: '1000',
    }),
  );
  addr = `127.0.0.1:${t.server.grpcPort}`;
  custom = await track(
    startTestServer({
      SNOWFLAKE_EPOCH: '2024-01-01T00:00:00.000Z',
      SNOWFLAKE_TIME_UNIT_MS: '10',
      SNOWFLAKE_TIMESTAMP_BITS: '40',
      SNOWFLAKE_DATACENTER_BITS: '6',
      SNOWFLAKE_DATACENTER_ID: '33',
      SNOWFLAKE_WORKER_ID: '7',
    }),
  );
  customAddr = `127.0.0.1:${custom.server.grpcPort}`;
  for (let i = 0; i < 2; i++) {
    const r = await track(startTestServerOnFakeClocks());
    refusing.push(r);
    await unaryOk(r.client, 'NextId', {});
    r.wall.advance(-5000);
    // The first call after the step finds it and refuses; the clocks stand still, so it lasts.
    const refused = await unaryCall(r.client, 'NextId', {});
    if (refused.ok) throw new Error('the fake-clock server did not refuse after its wall clock stepped back');
  }
  refusingAddr = `127.0.0.1:${refusing[0]!.server.grpcPort}`;
  refusingAddr2 = `127.0.0.1:${refusing[1]!.server.grpcPort}`;
  const dead = await startTestServer();
  deadAddr = `127.0.0.1:${dead.server.grpcPort}`;
  await dead.close();
  tlsServer = await track(
    startTestServer({
      SNOWFLAKE_TLS_CERT_FILE: p.file('server.crt'),
      SNOWFLAKE_TLS_KEY_FILE: p.file('server.key'),
      SNOWFLAKE_TLS_CLIENT_CA_FILE: p.file('ca.crt'),
    }),
  );
  tlsAddr = `127.0.0.1:${tlsServer.server.grpcPort}`;
}, 60_000);

afterAll(async () => {
  for (const s of started) await s.close();
  pki?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs the CLI with SNOWFLAKE_ADDR pointing at the test server unless `env` says otherwise. */
function cli(args: string[], env: Record<string, string> = {}) {
  return runNode([CLI, ...args], { SNOWFLAKE_ADDR: addr, ...env });
}

/** `key: value` lines as an object (values as text). */
function textRecord(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trimEnd()
      .split('\n')
      .map((line) => {
        const m = /^([A-Za-z]+): (.*)$/.exec(line);
        if (m === null) throw new Error(`not a "key: value" line: ${JSON.stringify(line)}`);
        return [m[1]!, m[2]!];
      }),
  );
}

/** A JSON record with every value as the text the text output prints. */
function asText(json: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, String(v)]));
}

/** The number of times `part` occurs in `text`. */
function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe('snowflake CLI: commands against a real server', () => {
  it('next prints one decimal ID stamped by the server', async () => {
    const r = await cli(['next']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const text = r.stdout.trimEnd();
    expect(text).toMatch(DIGITS);
    expect(codec.decode(BigInt(text))).toMatchObject({ datacenterId: 2, workerId: 5 });
  });

  it('next --json prints {"id": "<decimal>"}', async () => {
    const r = await cli(['next', '--json']);
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.stdout) as { id: unknown };
    expect(Object.keys(parsed)).toEqual(['id']);
    expect(parsed.id).toMatch(DIGITS);
  });

  it('batch N prints N strictly ascending IDs, one per line; --json prints {"ids": [decimal strings]}', async () => {
    const r = await cli(['batch', '1000']);
    expect(r.code).toBe(0);
    const ids = r.stdout.trimEnd().split('\n').map(BigInt);
    expect(ids).toHaveLength(1000);
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    const json = await cli(['--json', 'batch', '3']);
    const parsed = JSON.parse(json.stdout) as { ids: string[] };
    expect(Object.keys(parsed)).toEqual(['ids']);
    expect(parsed.ids).toHaveLength(3);
    expect(parsed.ids.every((id) => DIGITS.test(id))).toBe(true);
  });

  it('decode prints "key: value" lines with the same keys and values as --json', async () => {
    const id = (await cli(['next'])).stdout.trimEnd();
    const local = codec.decode(BigInt(id));
    const text = await cli(['decode', id]);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    const json = JSON.parse((await cli(['decode', id, '--json'])).stdout) as Record<string, unknown>;
    expect(json).toEqual({
      id,
      timestamp: new Date(local.timestampMs).toISOString(),
      timestampMs: String(local.timestampMs),
      datacenterId: 2,
      workerId: 5,
      sequence: local.sequence,
    });
    expect(textRecord(text.stdout)).toEqual(asText(json));
    expect(Object.keys(textRecord(text.stdout))).toEqual(Object.keys(json));
  });

  it('decode keeps every digit of an ID above 2^53, and takes 2^63 − 1', async () => {
    for (const id of ['9007199254740993', '9223372036854775807']) {
      const r = await cli(['decode', id, '--json']);
      expect(r.code).toBe(0);
      expect((JSON.parse(r.stdout) as { id: string }).id).toBe(id);
    }
  });

  it('info prints the layout, node IDs and limits as "key: value" lines, the same keys and values as --json', async () => {
    const text = await cli(['info']);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    const json = JSON.parse((await cli(['info', '--json'])).stdout) as Record<string, unknown>;
    expect(json).toEqual({
      address: addr,
      epoch: '2020-01-01T00:00:00.000Z',
      epochMs: '1577836800000',
      timeUnitMs: 1,
      timestampBits: 41,
      datacenterBits: 5,
      workerBits: 5,
      sequenceBits: 12,
      datacenterId: 2,
      workerId: 5,
      maxBatchSize: 1000,
    });
    expect(textRecord(text.stdout)).toEqual(asText(json));
    expect(Object.keys(textRecord(text.stdout))).toEqual(Object.keys(json));
  });

  it('decode --local decodes without a server, by the default layout: the same output as the server decode', async () => {
    const id = (await cli(['next'])).stdout.trimEnd();
    for (const format of [[], ['--json']]) {
      const remote = await cli(['decode', id, ...format]);
      // Nothing listens at SNOWFLAKE_ADDR: a call would fail.
      const local = await cli(['decode', '--local', id, ...format], { SNOWFLAKE_ADDR: deadAddr });
      expect(local).toMatchObject({ code: 0, stderr: '' });
      expect(local.stdout).toBe(remote.stdout);
    }
  });

  it('decode --local --layout FILE decodes by the layout "info --json" saved: as that server does, unlike the default layout', async () => {
    const id = (await cli(['next', '--addr', customAddr])).stdout.trimEnd();
    const layoutFile = path.join(tmp, 'custom-layout.json');
    fs.writeFileSync(layoutFile, (await cli(['info', '--json', '--addr', customAddr])).stdout);
    const remote = await cli(['decode', id, '--json', '--addr', customAddr]);
    expect(JSON.parse(remote.stdout)).toMatchObject({ datacenterId: 33, workerId: 7 });
    const local = await cli(['decode', '--local', '--layout', layoutFile, id, '--json']);
    expect(local).toMatchObject({ code: 0, stderr: '' });
    expect(local.stdout).toBe(remote.stdout);
    const byDefault = await cli(['decode', '--local', id, '--json']);
    expect(byDefault.code).toBe(0);
    expect(byDefault.stdout).not.toBe(remote.stdout);
  });

  it('--addr overrides SNOWFLAKE_ADDR, and a list fails over past a dead server', async () => {
    const r = await cli(['next', '--addr', `${deadAddr},${addr}`], { SNOWFLAKE_ADDR: 'nowhere.invalid:1' });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.trimEnd()).toMatch(DIGITS);
  });

  it('a reader that stops early is no failure: batch piped into `head -1` exits 0 without an error', async () => {
    // `head` closes the pipe after one line; the rest of the 10,000 IDs (190 kB) meet EPIPE.
    const script = `{ "${process.execPath}" "${CLI}" batch 10000; echo "snowflake exited $?" >&2; } | head -1`;
    const child = spawn('sh', ['-c', script], {
      env: { PATH: process.env.PATH ?? '', SNOWFLAKE_ADDR: customAddr },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: 'snowflake exited 0\n' });
    expect(stdout.split('\n')[0]).toMatch(DIGITS);
  });
});

describe('snowflake CLI: failures, one line each', () => {
  it('a batch above the server max_batch_size: exit 1, one line naming the address, status and server code once each', async () => {
    const r = await cli(['batch', '1001']);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(
      new RegExp(
        `^snowflake: ${addr} answered INVALID_ARGUMENT \\(BATCH_SIZE_OUT_OF_RANGE\\): .*between 1 and 1000.*\\n$`,
      ),
    );
    expect(count(r.stderr, 'INVALID_ARGUMENT')).toBe(1);
    expect(count(r.stderr, 'BATCH_SIZE_OUT_OF_RANGE')).toBe(1);
  });

  it.each([['next'], ['batch', '5'], ['decode', '1'], ['info']])(
    '%s with one dead address: exit 1, one line saying that address could not be reached',
    async (...args) => {
      const r = await cli([...args, '--timeout-ms', '1000'], { SNOWFLAKE_ADDR: deadAddr });
      expect(r).toMatchObject({ code: 1, stdout: '' });
      expect(r.stderr).toMatch(
        new RegExp(
          `^snowflake: ${deadAddr} could not be reached: connect ECONNREFUSED ${deadAddr} \\(\\d+ attempts?\\)\\n$`,
        ),
      );
      expect(r.stderr).not.toContain('every server');
    },
  );

  it('one refusing server: exit 1, its refusal (UNAVAILABLE with the server code) once', async () => {
    const r = await cli(['next', '--timeout-ms', '1000'], { SNOWFLAKE_ADDR: refusingAddr });
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(
      new RegExp(`^snowflake: ${refusingAddr} answered UNAVAILABLE \\(CLOCK_SKEW\\): [^\\n]+\\n$`),
    );
    expect(count(r.stderr, '(CLOCK_SKEW)')).toBe(1);
    expect(r.stderr).not.toContain('CLOCK_SKEW:');
    expect(r.stderr).not.toContain('every server');
  });

  it('several addresses that all refuse: "every server refused", each address once', async () => {
    const r = await cli(['next', '--timeout-ms', '1000', '--addr', `${refusingAddr},${refusingAddr2}`]);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/^snowflake: every server refused: [^\n]+\n$/);
    expect(count(r.stderr, `${refusingAddr} answered UNAVAILABLE (CLOCK_SKEW)`)).toBe(1);
    expect(count(r.stderr, `${refusingAddr2} answered UNAVAILABLE (CLOCK_SKEW)`)).toBe(1);
  });

  it('a dead and a refusing address: not "every server refused", but what each did', async () => {
    const r = await cli(['next', '--timeout-ms', '1000', '--addr', `${deadAddr},${refusingAddr}`]);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/^snowflake: no server could serve the call: [^\n]+\n$/);
    expect(r.stderr).toContain(`${deadAddr} could not be reached: connect ECONNREFUSED`);
    expect(r.stderr).toContain(`${refusingAddr} answered UNAVAILABLE (CLOCK_SKEW)`);
  });

  it('two dead addresses: "no server could be reached"', async () => {
    const r = await cli([
      'info',
      '--timeout-ms',
      '1000',
      '--addr',
      `${deadAddr},[::1]:${deadAddr.split(':')[1]!}`,
    ]);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/^snowflake: no server could be reached: [^\n]+\n$/);
  });
});

describe('snowflake CLI: local validation, before any call', () => {
  // Every case points at a dead address: a call would fail with exit 1 and "could not be reached", so
  // exit 2 with the validation message proves nothing was sent.
  it.each<[string, string[], RegExp]>([
    [
      'an ID of 2^63 (the service never issues the sign bit)',
      ['decode', '9223372036854775808'],
      /not an ID: 9223372036854775808 is larger than 9223372036854775807/,
    ],
    ['an ID above 2^64 − 1', ['decode', '18446744073709551616'], /larger than 9223372036854775807/],
    ['an ID with a letter', ['decode', '12x'], /not an ID: "12x"; an ID is written in decimal digits/],
    ['a negative ID', ['decode', '-1'], /not an ID: "-1"/],
    ['a negative ID after --', ['decode', '--', '-1'], /not an ID: "-1"/],
    ['an empty ID', ['decode', ''], /not an ID: ""/],
    ['decode without an ID', ['decode'], /decode takes ID; got none/],
    [
      'decode --local of 2^63',
      ['decode', '--local', '9223372036854775808'],
      /larger than 9223372036854775807/,
    ],
    ['batch 0', ['batch', '0'], /batch N must be an integer from 1 to 100000; got "0"/],
    ['batch above the largest max_batch_size', ['batch', '100001'], /from 1 to 100000; got "100001"/],
    ['batch -5', ['batch', '-5'], /got "-5"/],
    ['batch 1.5', ['batch', '1.5'], /got "1.5"/],
    ['next with an argument', ['next', '1'], /next takes no arguments; got 1/],
    ['no command', [], /no command given/],
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['an unknown option', ['next', '--verbose'], /unknown option --verbose/],
    [
      'an option given twice',
      ['next', '--timeout-ms', '5', '--timeout-ms', '6'],
      /option --timeout-ms given twice/,
    ],
    ['--addr without a value', ['next', '--addr'], /option --addr needs a value/],
    [
      'a bad --addr',
      ['next', '--addr', 'localhost'],
      /--addr: bad address "localhost" \(expected host:port\); accepted: host:port/,
    ],
    ['a port out of range', ['next', '--addr', '127.0.0.1:65536'], /bad address "127.0.0.1:65536"/],
    ['an empty address in the list', ['next', '--addr', '127.0.0.1:1,'], /bad address ""/],
    ['an address twice', ['next', '--addr', '127.0.0.1:1,127.0.0.1:1'], /--addr lists 127\.0\.0\.1:1 twice/],
    [
      'a bad --timeout-ms',
      ['next', '--timeout-ms', '0'],
      /--timeout-ms must be an integer from 1 to 600000; got "0"/,
    ],
    ['--json with a value', ['next', '--json=yes'], /option --json takes no value/],
    ['--service on another command', ['next', '--service', 'x'], /--service applies to health only/],
    ['--local on another command', ['info', '--local'], /--local applies to decode only/],
    [
      '--layout without --local',
      ['decode', '1', '--layout', 'x.json'],
      /--layout applies to decode --local only/,
    ],
    [
      '--local with --addr',
      ['decode', '--local', '1', '--addr', '127.0.0.1:1'],
      /decode --local asks no server: --addr does not apply/,
    ],
    [
      '--layout of a missing file',
      ['decode', '--local', '1', '--layout', '/nonexistent/layout.json'],
      /--layout \/nonexistent\/layout\.json: cannot be read \(ENOENT\)/,
    ],
  ])('%s: exit 2, one line, nothing sent', async (_name, args, message) => {
    const r = await cli(args, { SNOWFLAKE_ADDR: deadAddr });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^snowflake: [^\n]+; see snowflake --help\n$/);
  });

  it('a bad SNOWFLAKE_ADDR is named as such', async () => {
    const r = await cli(['next'], { SNOWFLAKE_ADDR: 'no-port' });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^snowflake: SNOWFLAKE_ADDR: bad address "no-port"/);
  });

  it('a --layout whose widths do not sum to 63, or with a field out of range: exit 2 naming it', async () => {
    const file = path.join(tmp, 'bad-layout.json');
    const layout = { epochMs: '0', timeUnitMs: 1, timestampBits: 41, datacenterBits: 5, workerBits: 5 };
    fs.writeFileSync(file, JSON.stringify({ ...layout, sequenceBits: 11 }));
    const sum = await cli(['decode', '--local', '--layout', file, '1']);
    expect(sum).toMatchObject({ code: 2, stdout: '' });
    expect(sum.stderr).toContain('must sum to 63; got 41 + 5 + 5 + 11 = 62');
    fs.writeFileSync(file, JSON.stringify({ ...layout, timeUnitMs: 0, sequenceBits: 12 }));
    const unit = await cli(['decode', '--local', '--layout', file, '1']);
    expect(unit).toMatchObject({ code: 2, stdout: '' });
    expect(unit.stderr).toContain('timeUnitMs must be an integer from 1 to 86400000 ms; got 0');
    fs.writeFileSync(file, JSON.stringify({ ...layout, timeUnitMs: 1.5, sequenceBits: 12 }));
    const fraction = await cli(['decode', '--local', '--layout', file, '1']);
    expect(fraction).toMatchObject({ code: 2, stdout: '' });
    expect(fraction.stderr).toContain('timeUnitMs must be an integer; got 1.5');
  });
});

describe('snowflake CLI: health, with grpc_health_probe exit codes', () => {
  it('SERVING: exit 0, "key: value" lines with the same keys and values as --json', async () => {
    const r = await cli(['health']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(textRecord(r.stdout)).toEqual({ address: addr, service: SERVICE_NAME, status: 'SERVING' });
    const json = await cli(['health', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ address: addr, service: SERVICE_NAME, status: 'SERVING' });
  });

  it('NOT_SERVING (a server refusing IDs): exit 4; its liveness is SERVING: exit 0', async () => {
    const r = await cli(['health', '--addr', refusingAddr]);
    expect(r).toMatchObject({ code: 4, stderr: '' });
    expect(textRecord(r.stdout)).toEqual({
      address: refusingAddr,
      service: SERVICE_NAME,
      status: 'NOT_SERVING',
    });
    const liveness = await cli(['health', '--addr', refusingAddr, '--service', 'liveness']);
    expect(liveness).toMatchObject({ code: 0, stderr: '' });
    expect(textRecord(liveness.stdout)).toMatchObject({ service: 'liveness', status: 'SERVING' });
  });

  it('nothing listening: exit 2, one line saying the address could not be reached', async () => {
    const r = await cli(['health', '--addr', deadAddr]);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(
      new RegExp(`^snowflake: ${deadAddr} could not be reached: connect ECONNREFUSED [^\\n]+\\n$`),
    );
  });

  it('a service the server does not know (the health RPC fails with NOT_FOUND): exit 3', async () => {
    const r = await cli(['health', '--service', 'snowflake.v9.Nothing']);
    expect(r).toMatchObject({ code: 3, stdout: '' });
    expect(r.stderr).toMatch(
      new RegExp(
        `^snowflake: ${addr} answered the health check of "snowflake.v9.Nothing" with NOT_FOUND: [^\\n]+\\n$`,
      ),
    );
  });

  it('"" asks about the whole server', async () => {
    const r = await cli(['health', '--service=']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(textRecord(r.stdout.replace('service: \n', 'service: ""\n'))).toMatchObject({
      service: '""',
      status: 'SERVING',
    });
  });

  it.each<[string, string[], RegExp]>([
    ['an unknown option', ['health', '--bogus'], /unknown option --bogus/],
    ['an argument', ['health', 'extra'], /health takes no arguments; got extra/],
    ['a bad --addr', ['health', '--addr', 'nope'], /bad address "nope"/],
    ['a bad --timeout-ms', ['health', '--timeout-ms', 'x'], /--timeout-ms must be an integer/],
    ['--cert without --key', ['health', '--cert', '/nonexistent.crt'], /--cert needs --key/],
  ])('bad usage (%s): exit 1, as grpc_health_probe, nothing sent', async (_name, args, message) => {
    const r = await cli(args, { SNOWFLAKE_ADDR: deadAddr });
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^snowflake: [^\n]+\n$/);
  });

  it('several addresses: one record per answer, one line per failure, the exit code of the first that is not SERVING', async () => {
    const mixed = await cli(['health', '--addr', `${addr},${refusingAddr},${deadAddr}`]);
    expect(mixed.code).toBe(4);
    expect(mixed.stdout.split('\n\n').map(textRecord)).toEqual([
      { address: addr, service: SERVICE_NAME, status: 'SERVING' },
      { address: refusingAddr, service: SERVICE_NAME, status: 'NOT_SERVING' },
    ]);
    expect(mixed.stderr).toMatch(new RegExp(`^snowflake: ${deadAddr} could not be reached: [^\\n]+\\n$`));
    const json = await cli(['health', '--json', '--addr', `${deadAddr},${addr}`]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({ address: addr, service: SERVICE_NAME, status: 'SERVING' });
    expect((await cli(['health', '--addr', `${addr},${customAddr}`])).code).toBe(0);
  });
});

describe('snowflake CLI: TLS (--ca, --cert, --key)', () => {
  const tlsFlags = () => [
    '--ca',
    certs().file('ca.crt'),
    '--cert',
    certs().file('client.crt'),
    '--key',
    certs().file('client.key'),
  ];

  it('mutual TLS: next and health work with the CA, a client certificate and its key', async () => {
    const next = await cli(['next', '--addr', tlsAddr, ...tlsFlags()]);
    expect(next).toMatchObject({ code: 0, stderr: '' });
    expect(next.stdout.trimEnd()).toMatch(DIGITS);
    const health = await cli(['health', '--addr', tlsAddr, ...tlsFlags()]);
    expect(health).toMatchObject({ code: 0, stderr: '' });
    expect(textRecord(health.stdout)).toMatchObject({ status: 'SERVING' });
  });

  it('--server-name: the name the certificate must carry when the address does not', async () => {
    const port = tlsAddr.split(':')[1]!;
    const named = await cli([
      'info',
      '--addr',
      `127.0.0.1:${port}`,
      '--server-name',
      'localhost',
      ...tlsFlags(),
    ]);
    expect(named).toMatchObject({ code: 0, stderr: '' });
    const wrong = await cli([
      'health',
      '--addr',
      tlsAddr,
      '--server-name',
      'elsewhere.example',
      ...tlsFlags(),
    ]);
    expect(wrong).toMatchObject({ code: 2, stdout: '' });
  });

  it('without a client certificate, or trusting another CA, or in plaintext: the connection fails (health exit 2, calls exit 1)', async () => {
    const noCert = await cli(['health', '--addr', tlsAddr, '--ca', certs().file('ca.crt')]);
    expect(noCert).toMatchObject({ code: 2, stdout: '' });
    expect(noCert.stderr).toMatch(new RegExp(`^snowflake: ${tlsAddr} could not be reached`));
    const otherCa = await cli([
      'health',
      '--addr',
      tlsAddr,
      '--ca',
      certs().file('other-ca.crt'),
      '--cert',
      certs().file('client.crt'),
      '--key',
      certs().file('client.key'),
    ]);
    expect(otherCa).toMatchObject({ code: 2, stdout: '' });
    const plaintext = await cli(['next', '--addr', tlsAddr, '--timeout-ms', '1000']);
    expect(plaintext).toMatchObject({ code: 1, stdout: '' });
    expect(plaintext.stderr).toMatch(new RegExp(`^snowflake: ${tlsAddr} could not be reached`));
  });

  it.each<[string, () => string[], RegExp]>([
    ['--cert without --key', () => ['--cert', certs().file('client.crt')], /--cert needs --key/],
    ['--key without --cert', () => ['--key', certs().file('client.key')], /--key needs --cert/],
    [
      'an unreadable --ca',
      () => ['--ca', '/nonexistent/ca.crt'],
      /--ca \/nonexistent\/ca\.crt: cannot be read \(ENOENT\)/,
    ],
    ['a --ca that is not PEM', () => ['--ca', certs().file('garbage.pem')], /garbage\.pem: not PEM/],
    [
      'a --ca that is no certificate',
      () => ['--ca', certs().file('fake.pem')],
      /fake\.pem: not a PEM certificate/,
    ],
    [
      'a --key that is no key',
      () => ['--cert', certs().file('client.crt'), '--key', certs().file('client.crt')],
      /client\.crt: not an unencrypted PEM private key/,
    ],
    [
      'a --key of another certificate',
      () => ['--cert', certs().file('client.crt'), '--key', certs().file('client2.key')],
      /client2\.key is not the private key of --cert/,
    ],
    ['--server-name without TLS', () => ['--server-name', 'localhost'], /--server-name needs TLS/],
  ])('%s: exit 2 (health: 1) before any call', async (_name, flags, message) => {
    const r = await cli(['next', '--addr', tlsAddr, ...flags()]);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^snowflake: [^\n]+\n$/);
    const health = await cli(['health', '--addr', tlsAddr, ...flags()]);
    expect(health).toMatchObject({ code: 1, stdout: '', stderr: r.stderr });
  });
});

describe('snowflake CLI: --help, --version, start-up', () => {
  it('--version prints the client package version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(CLIENT_PACKAGE, 'package.json'), 'utf8')) as {
      version: string;
    };
    const r = await cli(['--version']);
    expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('--help (and -h, also among other arguments) prints the usage, the commands, flags and both exit-code tables', async () => {
    for (const args of [['--help'], ['-h'], ['batch', '0', '--help']]) {
      const r = await cli(args);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(/^Usage: snowflake \[options\] <command>/);
      for (const word of [
        'next',
        'batch N',
        'decode ID',
        'decode --local ID',
        'info',
        'health',
        '--addr',
        '--json',
        '--timeout-ms',
        '--tls',
        '--ca FILE',
        '--cert FILE',
        '--key FILE',
        '--server-name',
        '--service',
        '--layout FILE',
        '--version',
        'Exit status of health',
        '4 answered, but not SERVING',
      ]) {
        expect(r.stdout).toContain(word);
      }
    }
  });

  it('--help, --version and a bad argument load neither grpc-js nor proto-loader; a call loads grpc-js but not proto-loader for health', async () => {
    const hook = path.join(tmp, 'loaded-modules.js');
    const list = path.join(tmp, 'loaded.json');
    fs.writeFileSync(
      hook,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, JSON.stringify(Object.keys(require.cache))));\n`,
    );
    const loaded = async (args: string[]): Promise<string[]> => {
      fs.rmSync(list, { force: true });
      await runNode(['-r', hook, CLI, ...args], { SNOWFLAKE_ADDR: deadAddr });
      return JSON.parse(fs.readFileSync(list, 'utf8')) as string[];
    };
    for (const args of [
      ['--help'],
      ['--version'],
      ['decode', '9223372036854775808'],
      ['batch', '0', '--ca', certs().file('ca.crt')],
    ]) {
      const modules = await loaded(args);
      expect(modules.some((m) => m.endsWith(path.join('dist', 'cli.js')))).toBe(true);
      expect(modules.filter((m) => /node_modules/.test(m))).toEqual([]);
    }
    const health = await loaded(['health', '--timeout-ms', '1000']);
    expect(health.some((m) => m.includes(`${path.sep}@grpc${path.sep}grpc-js${path.sep}`))).toBe(true);
    expect(health.filter((m) => /proto-loader|protobufjs/.test(m))).toEqual([]);
  });

  it('is the "snowflake" bin of the client package and of the service, both compiled with their shebang', () => {
    const bin = (dir: string) =>
      (
        JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
          bin?: Record<string, string>;
        }
      ).bin;
    expect(bin(CLIENT_PACKAGE)).toEqual({ snowflake: 'dist/cli.js' });
    expect(bin(ROOT)).toEqual({ snowflake: 'dist/cli.js' });
    for (const file of [CLI, SERVICE_CLI]) {
      expect(fs.readFileSync(file, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    }
  });

  it("the service's bin runs the client's CLI: it prints an ID", async () => {
    const r = await runNode([SERVICE_CLI, 'next'], { SNOWFLAKE_ADDR: addr });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(codec.decode(BigInt(r.stdout.trimEnd()))).toMatchObject({ datacenterId: 2, workerId: 5 });
  });
});
