import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IdCodec } from '../../src/core/codec';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { SERVICE_NAME } from '@snowflake-id/client/contract';
import { ROOT, runNode } from '../helpers/process';
import { startTestServer, type TestServer } from '../helpers/server';

// The compiled CLI of the client package, as users run it; `npm test` builds dist/ first (pretest).
const CLIENT_PACKAGE = path.join(ROOT, 'packages/client');
const CLI = path.join(CLIENT_PACKAGE, 'dist/cli.js');
/** The service's own `snowflake` bin, which runs the client package's CLI. */
const SERVICE_CLI = path.join(ROOT, 'dist/cli.js');
const codec = new IdCodec(DEFAULT_LAYOUT);
const DIGITS = /^[0-9]+$/;

let t: TestServer;
let addr: string;
let stateDir: string;
/** An address nothing listens on: a server's port right after it stopped. */
let deadAddr: string;
/** A bare gRPC server whose health service reports NOT_SERVING. */
let notServing: grpc.Server;
let notServingAddr: string;

beforeAll(async () => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-cli-test-'));
  t = await startTestServer({
    SNOWFLAKE_DATACENTER_ID: '2',
    SNOWFLAKE_WORKER_ID: '5',
    SNOWFLAKE_MAX_BATCH_SIZE: '1000',
    SNOWFLAKE_STATE_DIR: path.join(stateDir, 'a'),
  });
  addr = `127.0.0.1:${t.server.grpcPort}`;
  const dead = await startTestServer({ SNOWFLAKE_STATE_DIR: path.join(stateDir, 'b') });
  deadAddr = `127.0.0.1:${dead.server.grpcPort}`;
  await dead.close();
  notServing = new grpc.Server();
  new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' }).addToServer(notServing);
  notServingAddr = await new Promise<string>((resolve, reject) => {
    notServing.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(err);
      else resolve(`127.0.0.1:${port}`);
    });
  });
});

afterAll(async () => {
  await t.close();
  await new Promise<void>((resolve) => {
    notServing.tryShutdown(() => {
      resolve();
    });
  });
  fs.rmSync(stateDir, { recursive: true, force: true });
});

/** Runs the CLI with SNOWFLAKE_ADDR pointing at the test server unless `env` says otherwise. */
function cli(args: string[], env: Record<string, string> = {}) {
  return runNode([CLI, ...args], { SNOWFLAKE_ADDR: addr, ...env });
}

describe('snowflake CLI (packages/client/dist/cli.js) against a real server', () => {
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

  it('batch N prints N strictly ascending IDs, one per line', async () => {
    const r = await cli(['batch', '1000']);
    expect(r.code).toBe(0);
    const ids = r.stdout.trimEnd().split('\n').map(BigInt);
    expect(ids).toHaveLength(1000);
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
  });

  it('batch N --json prints {"ids": [decimal strings]}', async () => {
    const r = await cli(['--json', 'batch', '3']);
    expect(r.code).toBe(0);
    const { ids } = JSON.parse(r.stdout) as { ids: string[] };
    expect(ids).toHaveLength(3);
    expect(ids.every((id) => DIGITS.test(id))).toBe(true);
  });

  it('decode prints a table of the fields, and --json the same values', async () => {
    const id = (await cli(['next'])).stdout.trimEnd();
    const local = codec.decode(BigInt(id));
    const human = await cli(['decode', id]);
    expect(human.code).toBe(0);
    const rows = Object.fromEntries(
      human.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.split(/\s+/) as [string, string]),
    );
    expect(rows).toEqual({
      id,
      timestamp: new Date(local.timestampMs).toISOString(),
      timestamp_ms: String(local.timestampMs),
      datacenter_id: '2',
      worker_id: '5',
      sequence: String(local.sequence),
    });
    const json = await cli(['decode', id, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({
      id,
      timestamp: rows.timestamp,
      timestampMs: rows.timestamp_ms,
      datacenterId: 2,
      workerId: 5,
      sequence: local.sequence,
    });
  });

  it('decode keeps every digit of an ID above 2^53', async () => {
    const id = '9007199254740993';
    const r = await cli(['decode', id, '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { id: string }).id).toBe(id);
  });

  it('info prints the layout, node IDs and limits; --json parses', async () => {
    const human = await cli(['info']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`address         ${addr}\n`);
    expect(human.stdout).toContain('epoch           2020-01-01T00:00:00.000Z (1577836800000 ms)\n');
    expect(human.stdout).toContain('layout          41 | 5 | 5 | 12 bits');
    expect(human.stdout).toContain('max_batch_size  1000\n');
    const json = JSON.parse((await cli(['info', '--json'])).stdout) as Record<string, unknown>;
    expect(json).toEqual({
      address: addr,
      epochMs: '1577836800000',
      epoch: '2020-01-01T00:00:00.000Z',
      timestampBits: 41,
      datacenterBits: 5,
      workerBits: 5,
      sequenceBits: 12,
      timeUnitMs: 1,
      datacenterId: 2,
      workerId: 5,
      maxBatchSize: 1000,
    });
  });

  it('health exits 0 and prints SERVING for a serving server', async () => {
    const r = await cli(['health']);
    expect(r).toMatchObject({ code: 0, stdout: `${addr} ${SERVICE_NAME}: SERVING\n` });
    const json = await cli(['health', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ address: addr, service: SERVICE_NAME, status: 'SERVING' });
  });

  it('health exits 1 for NOT_SERVING', async () => {
    const r = await cli(['health', '--addr', notServingAddr]);
    expect(r).toMatchObject({ code: 1, stdout: `${notServingAddr} ${SERVICE_NAME}: NOT_SERVING\n` });
  });

  it('health checks every listed address and exits 0 only if all serve', async () => {
    const r = await cli(['health', `--addr=${addr},${notServingAddr}`]);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')).toEqual([
      `${addr} ${SERVICE_NAME}: SERVING`,
      `${notServingAddr} ${SERVICE_NAME}: NOT_SERVING`,
      '',
    ]);
  });

  it('--addr overrides SNOWFLAKE_ADDR, and a list fails over past a dead server', async () => {
    const r = await cli(['next', '--addr', `${deadAddr},${addr}`], { SNOWFLAKE_ADDR: 'nowhere.invalid:1' });
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd()).toMatch(DIGITS);
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

  it('--help prints usage and exits 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: snowflake \[options\] <command>/);
    for (const word of [
      'next',
      'batch N',
      'decode ID',
      'info',
      'health',
      '--addr',
      '--json',
      '--timeout-ms',
    ]) {
      expect(r.stdout).toContain(word);
    }
  });

  it.each<[string, string[], RegExp]>([
    ['an ID with a letter', ['decode', '12x'], /not an ID: "12x"; an ID is written in decimal digits only/],
    ['a negative ID', ['decode', '-1'], /not an ID: "-1"/],
    ['a negative ID after --', ['decode', '--', '-1'], /not an ID: "-1"/],
    ['an ID above 2^64 - 1', ['decode', '18446744073709551616'], /larger than 18446744073709551615/],
    ['an empty ID', ['decode', ''], /not an ID: ""/],
    ['decode without an ID', ['decode'], /decode takes ID; got none/],
    ['batch 0', ['batch', '0'], /batch N must be an integer from 1 to 100000; got "0"/],
    ['batch above the largest max_batch_size', ['batch', '100001'], /from 1 to 100000; got "100001"/],
    ['batch -5', ['batch', '-5'], /got "-5"/],
    ['batch 1.5', ['batch', '1.5'], /got "1.5"/],
    ['next with an argument', ['next', '1'], /next takes no arguments; got 1/],
    ['no command', [], /no command given/],
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['an unknown option', ['next', '--verbose'], /unknown option --verbose/],
    ['--addr without a value', ['next', '--addr'], /option --addr needs a value/],
    ['a bad --addr', ['next', '--addr', 'localhost'], /bad address "localhost"/],
    [
      'a bad --timeout-ms',
      ['next', '--timeout-ms', '0'],
      /--timeout-ms must be an integer from 1 to 600000; got "0"/,
    ],
    ['--json with a value', ['next', '--json=yes'], /option --json takes no value/],
  ])('%s: exit 2 with a message, nothing sent', async (_name, args, message) => {
    // The dead address proves nothing is sent: a call would fail with exit 1 instead.
    const r = await cli(args, { SNOWFLAKE_ADDR: deadAddr });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('Run "snowflake --help" for usage.');
  });

  it.each<[string, string[], RegExp]>([
    [
      'an ID with bit 63 set (the server refuses it)',
      ['decode', '9223372036854775808'],
      /INVALID_ARGUMENT.*INVALID_ID/,
    ],
    [
      'a batch above the server max_batch_size',
      ['batch', '1001'],
      /INVALID_ARGUMENT.*BATCH_SIZE_OUT_OF_RANGE.*between 1 and 1000/,
    ],
  ])('%s: exit 1 with the server message', async (_name, args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });

  it.each([['next'], ['batch', '5'], ['decode', '1'], ['info'], ['health']])(
    '%s with the server down: exit 1 with a clear message within --timeout-ms',
    async (...args) => {
      const started = performance.now();
      const r = await cli([...args, '--timeout-ms', '1000'], { SNOWFLAKE_ADDR: deadAddr });
      expect(performance.now() - started).toBeLessThan(1000 + 3000);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^snowflake: .*ALL_SERVERS_UNAVAILABLE: .*every server refused/);
      expect(r.stderr).toContain(deadAddr);
    },
  );
});
