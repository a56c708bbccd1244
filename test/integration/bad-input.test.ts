import * as fs from 'node:fs';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { loadConfig, VARIABLE_DOCS } from '../../src/config';
import { checkDescriptorBudget, openFileLimit } from '../../src/descriptor-budget';
import { InvalidConfigError } from '../../src/errors';
import type { GetInfoResponse__Output } from '../../src/generated/snowflake/v1/GetInfoResponse';
import { snowflakeProto } from '../../src/grpc/proto';
import { bootProbe, freePort } from '../helpers/boot-probe';
import type { CallResult } from '../helpers/grpc-client';
import { startTestServer, tempStateDir, type TestServer } from '../helpers/server';

/**
 * Bad input never crashes or confuses the service: arbitrary request bytes for every method get a
 * correct answer or INVALID_ARGUMENT, and arbitrary SNOWFLAKE_* environments either boot a serving
 * process or stop it at once with a message naming the variable (issue 8, bad-input sweep).
 */

type Method = 'NextId' | 'BatchIds' | 'DecodeId' | 'GetInfo';
const METHODS: readonly Method[] = ['NextId', 'BatchIds', 'DecodeId', 'GetInfo'];
const SERVICE = snowflakeProto().IdGenerator.service;
const U64_MAX = (1n << 64n) - 1n;
const MAX_BATCH = 10_000;

/** Error codes the service may put first in an INVALID_ARGUMENT message (README "API"). */
const INVALID_ARGUMENT_CODES = ['BATCH_SIZE_OUT_OF_RANGE', 'INVALID_ID', 'MALFORMED_REQUEST'];

function varint(value: bigint): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Buffer.from(bytes);
}

function fixed64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value & U64_MAX);
  return b;
}

/** One protobuf field with any field number and wire type, possibly lying about its length. */
function field(no: number, wireType: number, value: bigint, bytes: Uint8Array, lie: boolean): Buffer {
  const tag = varint((BigInt(no) << 3n) | BigInt(wireType));
  const payload = Buffer.from(bytes);
  switch (wireType) {
    case 0:
      return Buffer.concat([tag, varint(value)]);
    case 1:
      return Buffer.concat([tag, fixed64(value)]);
    case 2:
      return Buffer.concat([tag, varint(BigInt(payload.length + (lie ? 3 : 0))), payload]);
    case 5:
      return Buffer.concat([tag, fixed64(value).subarray(0, 4)]);
    default:
      return Buffer.concat([tag, payload]);
  }
}

const anyField = fc
  .tuple(
    fc.oneof(
      { weight: 3, arbitrary: fc.constant(1) },
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 2 ** 29 - 1 }),
    ),
    fc.integer({ min: 0, max: 7 }),
    fc.oneof(fc.bigInt({ min: 0n, max: U64_MAX }), fc.bigInt({ min: 0n, max: 20_000n })),
    fc.uint8Array({ maxLength: 24 }),
    fc.boolean(),
  )
  .map(([no, wireType, value, bytes, lie]) => field(no, wireType, value, bytes, lie));

/** Request bytes: noise, a few arbitrary fields, or a well-typed field 1 with any value. */
function requestBytes(method: Method): fc.Arbitrary<Buffer> {
  const wellTyped =
    method === 'DecodeId'
      ? fc.bigInt({ min: 0n, max: U64_MAX }).map((v) => field(1, 1, v, new Uint8Array(), false))
      : fc
          .integer({ min: 0, max: MAX_BATCH + 10 })
          .map((c) => field(1, 0, BigInt(c), new Uint8Array(), false));
  return fc.oneof(
    fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)),
    fc.array(anyField, { minLength: 1, maxLength: 4 }).map((parts) => Buffer.concat(parts)),
    wellTyped,
  );
}

/** One call with request bytes as given and a 5 s deadline (a hang fails the property, not the suite). */
function unaryRaw(client: grpc.Client, method: Method, bytes: Buffer): Promise<CallResult<Buffer>> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `/snowflake.v1.IdGenerator/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      { deadline: Date.now() + 5000 },
      (error, value) => {
        resolve(error ? { ok: false, error } : { ok: true, value: value ?? Buffer.alloc(0) });
      },
    );
  });
}

/** The method's request as the .proto's own decoder reads it, or undefined when it cannot. */
function decodeRequest(method: Method, bytes: Buffer): Record<string, unknown> | undefined {
  try {
    return SERVICE[method].requestDeserialize(bytes) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** True when `bytes` is exactly how the decoded request encodes: then only one answer is right. */
function isCanonical(method: Method, bytes: Buffer, request: Record<string, unknown>): boolean {
  return Buffer.compare(SERVICE[method].requestSerialize(request), bytes) === 0;
}

describe('bad request bytes (real server on 127.0.0.1:0, raw grpc-js client)', () => {
  let t: TestServer;
  let info: GetInfoResponse__Output;
  /** Highest ID issued so far: every new one must be above it (one server, calls in sequence). */
  let lastIssued = 0n;

  let raw: grpc.Client;
  beforeAll(async () => {
    t = await startTestServer();
    raw = new grpc.Client(`127.0.0.1:${t.server.grpcPort}`, grpc.credentials.createInsecure());
    const r = await unaryRaw(raw, 'GetInfo', Buffer.alloc(0));
    if (!r.ok) throw new Error(`GetInfo failed: ${r.error.details}`);
    info = SERVICE.GetInfo.responseDeserialize(r.value);
  });
  afterAll(async () => {
    raw.close();
    await t.close();
  });

  const call = (method: Method, bytes: Buffer) => unaryRaw(raw, method, bytes);

  function expectInvalidArgument(r: CallResult<Buffer>, errorCode?: string): void {
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(grpc.status[r.error.code]).toBe('INVALID_ARGUMENT');
    const code = r.error.metadata.get('snowflake-error-code')[0];
    expect(INVALID_ARGUMENT_CODES).toContain(code);
    if (errorCode !== undefined) expect(code).toBe(errorCode);
    expect(r.error.details).toMatch(new RegExp(`^${String(code)}: .+`));
  }

  /** Checks an OK answer for `method`; `request` is the decoded request when the bytes were canonical. */
  function expectCorrect(
    method: Method,
    response: Buffer,
    request: Record<string, unknown> | undefined,
  ): void {
    const decoded: Record<string, unknown> = { ...SERVICE[method].responseDeserialize(response) };
    const fields = (id: bigint) => ({
      timestampMs: Number(info.epoch_ms) + Number(id >> 22n) * info.time_unit_ms,
      datacenterId: Number((id >> 17n) & 31n),
      workerId: Number((id >> 12n) & 31n),
      sequence: Number(id & 4095n),
    });
    switch (method) {
      case 'NextId':
      case 'BatchIds': {
        const ids =
          method === 'NextId' ? [BigInt(decoded.id as string)] : (decoded.ids as string[]).map(BigInt);
        if (request !== undefined && method === 'BatchIds') expect(ids).toHaveLength(request.count as number);
        expect(ids.length).toBeGreaterThanOrEqual(1);
        expect(ids.length).toBeLessThanOrEqual(info.max_batch_size);
        // Plain loop, one assertion: batches hold up to 10,000 IDs.
        const wrong = ids.findIndex((id, i) => {
          const f = fields(id);
          const above = i === 0 ? lastIssued : (ids[i - 1] ?? 0n);
          return !(id > above) || f.datacenterId !== info.datacenter_id || f.workerId !== info.worker_id;
        });
        expect({ method, wrong, id: String(ids[wrong]), after: String(lastIssued) }).toMatchObject({
          wrong: -1,
        });
        lastIssued = ids.at(-1) ?? lastIssued;
        return;
      }
      case 'DecodeId': {
        const id = BigInt(decoded.id as string);
        if (request !== undefined) expect(decoded.id).toBe(request.id);
        expect(id < 1n << 63n).toBe(true);
        const f = fields(id);
        expect(decoded).toEqual({
          id: decoded.id,
          timestamp_ms: String(f.timestampMs),
          datacenter_id: f.datacenterId,
          worker_id: f.workerId,
          sequence: f.sequence,
          timestamp: new Date(f.timestampMs).toISOString(),
        });
        return;
      }
      case 'GetInfo':
        expect(decoded).toEqual(info);
    }
  }

  /** The right answer to `bytes`, judged with the .proto's own decoder as the reference. */
  function expectRightAnswer(method: Method, bytes: Buffer, r: CallResult<Buffer>): void {
    const request = decodeRequest(method, bytes);
    if (request === undefined) {
      expectInvalidArgument(r, 'MALFORMED_REQUEST');
      return;
    }
    const canonical = isCanonical(method, bytes, request);
    // Bytes that decode only leniently (wrong wire type, truncated 64-bit varint…) may be refused.
    if (!canonical && !r.ok) {
      expectInvalidArgument(r);
      return;
    }
    const expected = canonical ? request : undefined;
    if (method === 'BatchIds' && canonical) {
      const count = request.count as number;
      if (count < 1 || count > info.max_batch_size) {
        expectInvalidArgument(r, 'BATCH_SIZE_OUT_OF_RANGE');
        return;
      }
    }
    if (method === 'DecodeId' && canonical && BigInt(request.id as string) >= 1n << 63n) {
      expectInvalidArgument(r, 'INVALID_ID');
      return;
    }
    if (!r.ok) throw new Error(`${method} ${bytes.toString('hex')}: ${r.error.code} ${r.error.details}`);
    expectCorrect(method, r.value, expected);
  }

  it.each(METHODS)(
    '%s answers fast-check request bytes with the right answer or INVALID_ARGUMENT, never INTERNAL',
    async (method) => {
      await fc.assert(
        fc.asyncProperty(requestBytes(method), async (bytes) => {
          expectRightAnswer(method, bytes, await call(method, bytes));
        }),
        { numRuns: 300 },
      );
    },
  );

  const count = (c: bigint) => field(1, 0, c, new Uint8Array(), false);
  const id = (v: bigint) => field(1, 1, v, new Uint8Array(), false);
  it.each<[string, Method, Buffer, string | undefined]>([
    ['BatchIds count 0 (empty message)', 'BatchIds', Buffer.alloc(0), 'BATCH_SIZE_OUT_OF_RANGE'],
    ['BatchIds count 0 (explicit)', 'BatchIds', count(0n), undefined],
    [
      'BatchIds count max_batch_size + 1',
      'BatchIds',
      count(BigInt(MAX_BATCH + 1)),
      'BATCH_SIZE_OUT_OF_RANGE',
    ],
    ['BatchIds count 2^32 − 1', 'BatchIds', count(2n ** 32n - 1n), 'BATCH_SIZE_OUT_OF_RANGE'],
    ['BatchIds count −1 (as int32 on the wire)', 'BatchIds', count(U64_MAX), undefined],
    ['BatchIds count 2^63', 'BatchIds', count(2n ** 63n), undefined],
    ['DecodeId with the sign bit set (2^63)', 'DecodeId', id(2n ** 63n), 'INVALID_ID'],
    ['DecodeId 2^64 − 1', 'DecodeId', id(U64_MAX), 'INVALID_ID'],
  ])('%s is INVALID_ARGUMENT with a message', async (_name, method, bytes, errorCode) => {
    expectInvalidArgument(await call(method, bytes), errorCode);
  });

  it.each<[string, bigint, string]>([
    ['0 (the epoch)', 0n, '2020-01-01T00:00:00.000Z'],
    ['2^63 − 1 (every field at its maximum)', (1n << 63n) - 1n, '2089-09-06T15:47:35.551Z'],
  ])('DecodeId %s decodes to consistent fields', async (_name, value, timestamp) => {
    const r = await call('DecodeId', id(value));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expectCorrect('DecodeId', r.value, { id: String(value) });
    expect(SERVICE.DecodeId.responseDeserialize(r.value)).toMatchObject({ timestamp });
  });

  it('is still serving afterwards: NextId works', async () => {
    const r = await call('NextId', Buffer.alloc(0));
    expect(r.ok).toBe(true);
    if (r.ok) expectCorrect('NextId', r.value, undefined);
  });
});

/** Variables whose values the sweep generates; any other one the service reads gets generic junk. */
const junk = fc.constantFrom('', ' ', 'x', '-1', '1.5', '0x10', '１', '99999999999999999999', 'null');
const int = (min: number, max: number) =>
  fc.oneof(
    { weight: 10, arbitrary: fc.integer({ min, max }).map(String) },
    fc.integer({ min: max + 1, max: max + 1000 }).map(String),
    junk,
  );
const GENERATED: Record<string, fc.Arbitrary<string>> = {
  SNOWFLAKE_GRPC_ADDR: fc.oneof(
    { weight: 4, arbitrary: fc.constant('<free port>') },
    fc.constantFrom('localhost', '127.0.0.1', '127.0.0.1:99999', ':0', '[::1', '127.0.0.1:-1'),
  ),
  SNOWFLAKE_METRICS_ADDR: fc.oneof(
    { weight: 4, arbitrary: fc.constant('127.0.0.1:0') },
    fc.constantFrom('metrics', '127.0.0.1:65536', '1.2.3.4.5:80', '[::1]'),
  ),
  SNOWFLAKE_DATACENTER_ID: int(0, 31),
  SNOWFLAKE_WORKER_ID: int(0, 31),
  SNOWFLAKE_WORKER_ID_SOURCE: fc.constantFrom('static', 'ordinal', 'Static', 'k8s', ''),
  SNOWFLAKE_ORDINAL: fc.constantFrom('0', '3', '31', '32', '-1', 'a', ''),
  SNOWFLAKE_EPOCH: fc.oneof(
    fc.integer({ min: 0, max: Date.now() - 1000 }).map((ms) => new Date(ms).toISOString()),
    fc.integer({ min: 0, max: Date.now() - 1000 }).map(String),
    fc.constantFrom('2999-01-01T00:00:00Z', '2020-02-30T00:00:00Z', '2020-01-01', 'yesterday', '1e12'),
  ),
  SNOWFLAKE_TIMESTAMP_BITS: int(1, 63),
  SNOWFLAKE_DATACENTER_BITS: int(0, 31),
  SNOWFLAKE_WORKER_BITS: int(0, 31),
  SNOWFLAKE_SEQUENCE_BITS: int(0, 31),
  SNOWFLAKE_TIME_UNIT_MS: int(1, 86_400_000),
  SNOWFLAKE_MAX_BATCH_SIZE: int(1, 100_000),
  SNOWFLAKE_MAX_CLOCK_BACKWARDS_MS: int(0, 10_000),
  SNOWFLAKE_LOG_LEVEL: fc.constantFrom('info', 'debug', 'silent', 'warn', 'fatal', 'INFO', 'verbose', ''),
  SNOWFLAKE_SHUTDOWN_TIMEOUT_MS: int(1, 600_000),
  SNOWFLAKE_MAX_CLOCK_SKEW_MS: int(1, 3_600_000),
  SNOWFLAKE_STATE_DIR: fc.constantFrom('<temp dir>', ''),
  SNOWFLAKE_RESERVATION_MS: int(100, 60_000),
  SNOWFLAKE_MAX_STARTUP_WAIT_MS: int(0, 3_600_000),
  SNOWFLAKE_GRPC_MAX_CONNECTIONS: int(1, 1_000_000),
  SNOWFLAKE_GRPC_MAX_STREAMS: int(1, 100_000),
  SNOWFLAKE_GRPC_BACKLOG_MIB: int(1, 1024),
  SNOWFLAKE_GRPC_TOTAL_BACKLOG_MIB: int(1, 16_384),
  SNOWFLAKE_METRICS_MAX_CONNECTIONS: int(1, 10_000),
};
/** Sources that need a coordinator are left to their own tests: here a boot must not wait for one. */
const NOT_GENERATED = /^SNOWFLAKE_ETCD_/;

const NAMES = VARIABLE_DOCS.map((d) => d.name).filter((name) => !NOT_GENERATED.test(name));

/**
 * A random SNOWFLAKE_* environment: up to 3 variables (values mostly in range), a consistent layout
 * (widths summing to 63) a third of the time, and sometimes a misspelt variable.
 */
const environment = fc
  .tuple(
    fc
      .uniqueArray(fc.constantFrom(...NAMES), { maxLength: 4 })
      .chain((names) =>
        fc
          .tuple(...names.map((name) => GENERATED[name] ?? junk))
          .map(
            (values) =>
              Object.fromEntries(names.map((name, i) => [name, values[i] ?? ''])) as Record<string, string>,
          ),
      ),
    fc.option(
      fc
        .tuple(
          fc.integer({ min: 38, max: 46 }),
          fc.integer({ min: 0, max: 22 }),
          fc.integer({ min: 0, max: 31 }),
        )
        .map(([ts, seq, dc]) => {
          const rest = 63 - ts - seq;
          const datacenter = Math.min(dc, rest);
          return [ts, Math.min(rest - datacenter, 31), seq, rest - Math.min(rest - datacenter, 31)] as const;
        })
        .map(([ts, worker, seq, dc]) => ({ ts, dc, worker, seq })),
      { freq: 2 },
    ),
    fc.boolean(),
  )
  .map(([env, layout, typo]) => {
    const out = { ...env };
    if (layout !== null) {
      Object.assign(out, {
        SNOWFLAKE_TIMESTAMP_BITS: String(layout.ts),
        SNOWFLAKE_DATACENTER_BITS: String(layout.dc),
        SNOWFLAKE_WORKER_BITS: String(layout.worker),
        SNOWFLAKE_SEQUENCE_BITS: String(layout.seq),
      });
    }
    if (typo) out.SNOWFLAKE_WORKERID = '3';
    return out;
  });

/** A V8 stack frame, raw or inside a JSON log line. */
const STACK_FRAME = /\bat (?:\S+ \()?\/\S+:\d+:\d+\)?/;

describe('random SNOWFLAKE_* environments (node dist/main.js)', () => {
  it('either boot and serve, or exit 1 naming the variable — never hang, never a stack trace', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(environment, async (generated) => {
        runs++;
        const port = await freePort();
        const stateDir = tempStateDir();
        const env: Record<string, string> = {
          ...generated,
          SNOWFLAKE_GRPC_ADDR:
            generated.SNOWFLAKE_GRPC_ADDR === undefined || generated.SNOWFLAKE_GRPC_ADDR === '<free port>'
              ? `127.0.0.1:${port}`
              : generated.SNOWFLAKE_GRPC_ADDR,
          SNOWFLAKE_METRICS_ADDR: generated.SNOWFLAKE_METRICS_ADDR ?? '127.0.0.1:0',
          SNOWFLAKE_STATE_DIR: generated.SNOWFLAKE_STATE_DIR === '' ? '' : stateDir,
        };
        let expected:
          { ok: true; config: ReturnType<typeof loadConfig>['config'] } | { ok: false; message: string };
        try {
          const { config } = loadConfig(env, Date.now());
          // The open-file limit is this process's, which the service inherits.
          checkDescriptorBudget(config, openFileLimit());
          expected = { ok: true, config };
        } catch (err) {
          if (!(err instanceof InvalidConfigError)) throw err;
          expected = { ok: false, message: err.message };
        }
        const outcome = await bootProbe(env, `127.0.0.1:${port}`, 10_000);
        try {
          const context = `env ${JSON.stringify(generated)}`;
          expect({ context, kind: outcome.kind }).not.toEqual({ context, kind: 'hung' });
          if (!expected.ok) {
            expect({ context, outcome: outcome.kind }).toEqual({ context, outcome: 'exited' });
            if (outcome.kind !== 'exited') return;
            expect({ context, code: outcome.code }).toEqual({ context, code: 1 });
            // The same problems as loadConfig lists here (its "now is …" differs by the start-up time).
            const withoutTimes = (text: string) => text.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>');
            expect(withoutTimes(outcome.stderr)).toContain(withoutTimes(expected.message));
            const named = Object.keys(generated).filter((name) => outcome.stderr.includes(name));
            expect({ context, named: named.length > 0 }).toEqual({ context, named: true });
            expect(outcome.stderr).not.toMatch(STACK_FRAME);
            return;
          }
          // A valid config may still fail to bind (e.g. [::1] without IPv6): then it must say which address.
          if (outcome.kind === 'exited') {
            expect({ context, code: outcome.code }).toEqual({ context, code: 1 });
            expect(outcome.stdout + outcome.stderr).toMatch(/SNOWFLAKE_(GRPC|METRICS)_ADDR/);
            return;
          }
          if (outcome.kind !== 'serving') return;
          const { config } = expected;
          // The sweep never selects a source that claims its worker ID (NOT_GENERATED): the node is configured.
          if (config.workerId.source === 'etcd') throw new Error(`${context}: unexpected etcd source`);
          const node = config.workerId;
          const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
          const r = await unaryRaw(client, 'GetInfo', Buffer.alloc(0));
          const next = await unaryRaw(client, 'NextId', Buffer.alloc(0));
          client.close();
          if (!r.ok) throw new Error(`${context}: GetInfo ${r.error.code} ${r.error.details}`);
          expect(SERVICE.GetInfo.responseDeserialize(r.value)).toEqual({
            epoch_ms: String(config.layout.epochMs),
            timestamp_bits: config.layout.timestampBits,
            datacenter_bits: config.layout.datacenterBits,
            worker_bits: config.layout.workerBits,
            sequence_bits: config.layout.sequenceBits,
            time_unit_ms: config.layout.timeUnitMs,
            datacenter_id: node.datacenterId,
            worker_id: node.workerId,
            max_batch_size: config.maxBatchSize,
          });
          if (next.ok) {
            // The ID carries the configured node in the configured layout.
            const { sequenceBits, workerBits, datacenterBits } = config.layout;
            const id = BigInt(SERVICE.NextId.responseDeserialize(next.value).id);
            const field = (shift: number, bits: number) =>
              Number((id >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));
            expect([
              context,
              field(sequenceBits, workerBits),
              field(sequenceBits + workerBits, datacenterBits),
            ]).toEqual([context, node.workerId, node.datacenterId]);
          } else {
            expect([context, grpc.status[next.error.code]]).toEqual([context, 'UNAVAILABLE']);
          }
          outcome.child.kill('SIGTERM');
          expect([context, await outcome.exited]).toEqual([context, 0]);
          const { stdout, stderr } = outcome.output();
          expect(stdout + stderr).not.toMatch(STACK_FRAME);
        } finally {
          if (outcome.kind === 'serving') {
            outcome.child.kill('SIGKILL');
            await outcome.exited;
          }
          fs.rmSync(stateDir, { recursive: true, force: true });
        }
      }),
      { numRuns: 20, endOnFailure: true },
    );
    expect(runs).toBe(20);
  }, 120_000);
});

/**
 * A valid config that still cannot start (its gRPC address is in use): the failure must be said on
 * stderr, naming the variable, at every log level (silent included), as one line without a stack.
 */
describe('a valid config whose gRPC address is taken (node dist/main.js)', () => {
  it.each(['info', 'silent'])(
    'GIVEN SNOWFLAKE_LOG_LEVEL=%s THEN it exits 1 naming SNOWFLAKE_GRPC_ADDR on stderr, without a stack trace',
    async (level) => {
      const holder = net.createServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      const { port } = holder.address() as net.AddressInfo;
      const stateDir = tempStateDir();
      try {
        const outcome = await bootProbe(
          {
            SNOWFLAKE_GRPC_ADDR: `127.0.0.1:${port}`,
            SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
            SNOWFLAKE_STATE_DIR: stateDir,
            SNOWFLAKE_LOG_LEVEL: level,
          },
          '127.0.0.1:1',
          10_000,
        );
        expect(outcome.kind).toBe('exited');
        if (outcome.kind !== 'exited') return;
        expect(outcome.code).toBe(1);
        expect(outcome.stderr).toContain('SNOWFLAKE_GRPC_ADDR');
        expect(outcome.stdout + outcome.stderr).not.toMatch(STACK_FRAME);
      } finally {
        await new Promise((resolve) => holder.close(resolve));
        fs.rmSync(stateDir, { recursive: true, force: true });
      }
    },
  );
});
