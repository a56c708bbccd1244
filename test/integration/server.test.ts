import * as grpc from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import pino from 'pino';
import { IdCodec } from '../../src/core/codec';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import type { BatchIdsResponse__Output } from '../../src/generated/snowflake/v1/BatchIdsResponse';
import type { DecodeIdResponse__Output } from '../../src/generated/snowflake/v1/DecodeIdResponse';
import type { GetInfoResponse__Output } from '../../src/generated/snowflake/v1/GetInfoResponse';
import type { NextIdResponse__Output } from '../../src/generated/snowflake/v1/NextIdResponse';
import { ERROR_CODE_METADATA_KEY } from '@snowflake-id/client/contract';
import { packageDefinition } from '../../src/grpc/proto';
import { FakeClock } from '../helpers/fake-clock';
import {
  healthCheck,
  idGeneratorClient,
  rawCall,
  reflectionListServices,
  unaryCall,
  unaryOk,
} from '../helpers/grpc-client';
import { startTestServer, startTestServerOnFakeClocks, type TestServer } from '../helpers/server';
import { metricValue, scrape } from '../helpers/scrape';

const codec = new IdCodec(DEFAULT_LAYOUT);

describe('server on 127.0.0.1:0 with a real grpc-js client', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      SNOWFLAKE_DATACENTER_ID: '3',
      SNOWFLAKE_WORKER_ID: '7',
      SNOWFLAKE_MAX_BATCH_SIZE: '20000',
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('NextId returns increasing IDs stamped with the node IDs and the current time', async () => {
    const before = Date.now();
    const a = BigInt((await unaryOk<NextIdResponse__Output>(t.client, 'NextId', {})).id);
    const b = BigInt((await unaryOk<NextIdResponse__Output>(t.client, 'NextId', {})).id);
    const after = Date.now();
    expect(b > a).toBe(true);
    const d = codec.decode(a);
    expect([d.datacenterId, d.workerId]).toEqual([3, 7]);
    expect(d.timestampMs).toBeGreaterThanOrEqual(before);
    expect(d.timestampMs).toBeLessThanOrEqual(after);
  });

  it.each([1, 4096, 20_000])(
    'BatchIds(%d) returns that many strictly ascending unique IDs',
    async (count) => {
      const res = await unaryOk<BatchIdsResponse__Output>(t.client, 'BatchIds', { count });
      const ids = res.ids.map(BigInt);
      expect(ids).toHaveLength(count);
      expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    },
  );

  it.each([
    [0, 'count must be between 1 and 20000 (max_batch_size) inclusive; got 0'],
    [20_001, 'count must be between 1 and 20000 (max_batch_size) inclusive; got 20001'],
    [4_294_967_295, 'got 4294967295'],
  ])('BatchIds(%d) is INVALID_ARGUMENT saying the allowed range', async (count, message) => {
    const r = await unaryCall(t.client, 'BatchIds', { count });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.error.details).toContain(message);
    expect(r.error.metadata.get(ERROR_CODE_METADATA_KEY)).toEqual(['BATCH_SIZE_OUT_OF_RANGE']);
  });

  it('DecodeId splits an issued ID and formats its time as RFC 3339', async () => {
    const id = (await unaryOk<NextIdResponse__Output>(t.client, 'NextId', {})).id;
    const d = await unaryOk<DecodeIdResponse__Output>(t.client, 'DecodeId', { id });
    const local = codec.decode(BigInt(id));
    expect(d).toEqual({
      id,
      timestamp_ms: String(local.timestampMs),
      datacenter_id: 3,
      worker_id: 7,
      sequence: local.sequence,
      timestamp: new Date(local.timestampMs).toISOString(),
    });
  });

  it.each([
    ['0', { timestamp_ms: '1577836800000', timestamp: '2020-01-01T00:00:00.000Z', sequence: 0 }],
    [
      '573478797312139267',
      { timestamp: '2024-05-01T12:00:00.000Z', datacenter_id: 1, worker_id: 2, sequence: 3 },
    ],
    [
      '9223372036854775807',
      { timestamp: '2089-09-06T15:47:35.551Z', datacenter_id: 31, worker_id: 31, sequence: 4095 },
    ],
  ])('DecodeId(%s) decodes any ID with the sign bit clear, exactly', async (id, expected) => {
    const d = await unaryOk<DecodeIdResponse__Output>(t.client, 'DecodeId', { id });
    expect(d).toMatchObject({ id, ...expected });
  });

  it.each(['9223372036854775808', '18446744073709551615'])(
    'DecodeId(%s) with the sign bit set is INVALID_ARGUMENT',
    async (id) => {
      const r = await unaryCall(t.client, 'DecodeId', { id });
      expect(r.ok ? 'ok' : r.error.code).toBe(grpc.status.INVALID_ARGUMENT);
      if (!r.ok) expect(r.error.details).toMatch(/sign bit/);
    },
  );

  it('GetInfo describes the layout, node and limits', async () => {
    expect(await unaryOk<GetInfoResponse__Output>(t.client, 'GetInfo', {})).toEqual({
      epoch_ms: '1577836800000',
      timestamp_bits: 41,
      datacenter_bits: 5,
      worker_bits: 5,
      sequence_bits: 12,
      time_unit_ms: 1,
      datacenter_id: 3,
      worker_id: 7,
      max_batch_size: 20_000,
    });
  });

  it.each([
    ['/snowflake.v1.IdGenerator/BatchIds', Buffer.from([0x08])], // varint field with no value
    ['/snowflake.v1.IdGenerator/DecodeId', Buffer.from([0x09, 0x01, 0x02])], // truncated fixed64
    ['/snowflake.v1.IdGenerator/NextId', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])], // huge length
    ['/snowflake.v1.IdGenerator/GetInfo', Buffer.from([0x07])], // invalid wire type
  ])('%s with malformed bytes is INVALID_ARGUMENT and the server keeps serving', async (path, bytes) => {
    const r = await rawCall(t.server.grpcPort, path, bytes);
    expect(r.ok ? 'ok' : r.error.code).toBe(grpc.status.INVALID_ARGUMENT);
    if (!r.ok) expect(r.error.details).toContain('MALFORMED_REQUEST');
    await unaryOk(t.client, 'NextId', {});
  });

  it('an unknown method is UNIMPLEMENTED', async () => {
    const r = await rawCall(t.server.grpcPort, '/snowflake.v1.IdGenerator/Nope', Buffer.alloc(0));
    expect(r.ok ? 'ok' : r.error.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('health reports SERVING for "", snowflake.v1.IdGenerator and liveness', async () => {
    expect(await healthCheck(t.server.grpcPort, '')).toBe('SERVING');
    expect(await healthCheck(t.server.grpcPort, 'snowflake.v1.IdGenerator')).toBe('SERVING');
    expect(await healthCheck(t.server.grpcPort, 'liveness')).toBe('SERVING');
    expect(await healthCheck(t.server.grpcPort, 'other.Service')).toBe(grpc.status.NOT_FOUND);
  });

  it('reflection lists the IdGenerator and health services', async () => {
    const services = await reflectionListServices(t.server.grpcPort);
    expect(services).toEqual(expect.arrayContaining(['snowflake.v1.IdGenerator', 'grpc.health.v1.Health']));
  });

  it('concurrent clients get no duplicate IDs', async () => {
    const clients = Array.from({ length: 4 }, () => idGeneratorClient(t.server.grpcPort));
    const calls = clients.flatMap((c) =>
      Array.from({ length: 25 }, (_, i) =>
        i % 2 === 0
          ? unaryOk<NextIdResponse__Output>(c, 'NextId', {}).then((r) => [r.id])
          : unaryOk<BatchIdsResponse__Output>(c, 'BatchIds', { count: 5000 }).then((r) => r.ids),
      ),
    );
    const all = (await Promise.all(calls)).flat();
    clients.forEach((c) => {
      c.close();
    });
    expect(all.length).toBe(4 * (13 + 12 * 5000));
    expect(new Set(all).size).toBe(all.length);
  });

  it('/metrics exposes the service, gRPC and Node metrics, counting what was served', async () => {
    const labels = 'grpc_service="snowflake.v1.IdGenerator",grpc_method="BatchIds",grpc_type="unary"';
    const series = {
      generated: 'snowflake_ids_generated_total',
      started: `grpc_server_started_total{${labels}}`,
      invalid: `grpc_server_handled_total{${labels},grpc_code="INVALID_ARGUMENT"}`,
      ok: `grpc_server_handled_total{${labels},grpc_code="OK"}`,
      latencyCount: `grpc_server_handling_seconds_count{${labels}}`,
    };
    const read = (text: string, absentAs?: number) =>
      Object.fromEntries(Object.entries(series).map(([k, v]) => [k, metricValue(text, v, absentAs)]));
    const before = read(await scrape(t.server.metricsPort), 0);
    await unaryOk(t.client, 'BatchIds', { count: 1000 });
    await unaryCall(t.client, 'BatchIds', { count: 0 });
    await healthCheck(t.server.grpcPort, '');
    const text = await scrape(t.server.metricsPort);
    expect(read(text)).toEqual({
      generated: before.generated! + 1000,
      started: before.started! + 2,
      invalid: before.invalid! + 1,
      ok: before.ok! + 1,
      latencyCount: before.latencyCount! + 2,
    });
    expect(metricValue(text, 'snowflake_worker_info{datacenter_id="3",worker_id="7"}')).toBe(1);
    expect(metricValue(text, 'snowflake_serving')).toBe(1);
    expect(text).toContain('snowflake_sequence_exhausted_total');
    expect(metricValue(text, 'snowflake_clock_backwards_total')).toBe(0);
    expect(text).toContain(
      'grpc_server_handled_total{grpc_service="grpc.health.v1.Health",grpc_method="Check"',
    );
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('/metrics passes promtool check metrics with no findings', async () => {
    const text = await scrape(t.server.metricsPort);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({ status: 0, out: '' });
  });

  it('/metrics has a handled series for every IdGenerator method and status code, and stays small', async () => {
    const text = await scrape(t.server.metricsPort);
    const handled = text
      .split('\n')
      .filter((l) => l.startsWith('grpc_server_handled_total{grpc_service="snowflake.v1.IdGenerator"'));
    const methods = new Set(handled.map((l) => /grpc_method="(\w+)"/.exec(l)?.[1]));
    expect([...methods].sort()).toEqual(['BatchIds', 'DecodeId', 'GetInfo', 'NextId']);
    for (const code of ['OK', 'INVALID_ARGUMENT', 'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'INTERNAL'])
      expect(handled.filter((l) => l.includes(`grpc_code="${code}"`))).toHaveLength(methods.size);
    expect(handled).toHaveLength(methods.size * 17);
    // 4 methods × 17 codes add about 9 KB; the whole page stays a small scrape.
    expect(Buffer.byteLength(text)).toBeLessThan(48 * 1024);
  });

  it('/metrics answers 404 elsewhere', async () => {
    expect((await fetch(`http://127.0.0.1:${t.server.metricsPort}/`)).status).toBe(404);
  });
});

describe('refusing when the wall clock steps back beyond SNOWFLAKE_MAX_CLOCK_SKEW_MS', () => {
  it('answers UNAVAILABLE, turns NOT_SERVING with metrics, and recovers once the wall clock passes the last ID', async () => {
    const t = await startTestServerOnFakeClocks();
    const { wall, mono } = t;
    try {
      const before = BigInt((await unaryOk<NextIdResponse__Output>(t.client, 'NextId', {})).id);
      wall.advance(-5000);
      const r = await unaryCall(t.client, 'NextId', {});
      expect(r.ok ? 'ok' : r.error.code).toBe(grpc.status.UNAVAILABLE);
      if (!r.ok) {
        expect(r.error.details).toMatch(
          /^CLOCK_SKEW: wall clock is 5000 ms behind the ID time base, more than SNOWFLAKE_MAX_CLOCK_SKEW_MS=1000;/,
        );
      }
      expect(await healthCheck(t.server.grpcPort, 'snowflake.v1.IdGenerator')).toBe('NOT_SERVING');
      const text = await scrape(t.server.metricsPort);
      expect(metricValue(text, 'snowflake_clock_backwards_total')).toBe(1);
      expect(metricValue(text, 'snowflake_serving')).toBe(0);
      expect(metricValue(text, 'snowflake_clock_skew_seconds')).toBe(-5);
      expect(metricValue(text, 'snowflake_refusals_total{code="CLOCK_SKEW"}')).toBe(1);

      // Both clocks move on together: the wall clock passes the last issued time after ~5 s.
      wall.advance(5001);
      mono.advance(5001);
      let status: unknown;
      for (let i = 0; i < 50 && status !== 'SERVING'; i++) {
        await new Promise((res) => setTimeout(res, 50));
        status = await healthCheck(t.server.grpcPort, 'snowflake.v1.IdGenerator');
      }
      expect(status).toBe('SERVING');
      const after = BigInt((await unaryOk<NextIdResponse__Output>(t.client, 'NextId', {})).id);
      expect(after > before).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe('liveness and readiness', () => {
  it('GIVEN the server refuses IDs (wall clock behind beyond the bound) THEN readiness is NOT_SERVING while liveness stays SERVING', async () => {
    const t = await startTestServerOnFakeClocks();
    const { wall } = t;
    try {
      await unaryOk(t.client, 'NextId', {});
      wall.advance(-5000);
      const r = await unaryCall(t.client, 'NextId', {});
      expect(r.ok ? 'ok' : r.error.code).toBe(grpc.status.UNAVAILABLE);
      // The clocks stand still, so the refusal lasts for both checks.
      expect(await healthCheck(t.server.grpcPort, 'snowflake.v1.IdGenerator')).toBe('NOT_SERVING');
      expect(await healthCheck(t.server.grpcPort, '')).toBe('NOT_SERVING');
      expect(await healthCheck(t.server.grpcPort, 'liveness')).toBe('SERVING');
      expect(await healthCheck(t.server.grpcPort, 'snowflake.v1.IdGenerator')).toBe('NOT_SERVING');
    } finally {
      await t.close();
    }
  });

  it('GIVEN shutdown begins THEN liveness turns NOT_SERVING', async () => {
    const t = await startTestServer();
    const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as {
      grpc: { health: { v1: { Health: typeof grpc.Client } } };
    };
    const health = new proto.grpc.health.v1.Health(
      `127.0.0.1:${t.server.grpcPort}`,
      grpc.credentials.createInsecure(),
    ) as grpc.Client & { Watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }> };
    const statuses: string[] = [];
    const watch = health.Watch({ service: 'liveness' });
    const ended = new Promise<void>((resolve) => {
      watch.on('data', ({ status }: { status: string }) => {
        statuses.push(status);
        // Cancelled once the change is seen, so the stream does not hold up the drain.
        if (status === 'NOT_SERVING') watch.cancel();
      });
      watch.on('error', () => {
        resolve();
      });
      watch.on('end', () => {
        resolve();
      });
    });
    try {
      for (let i = 0; i < 100 && statuses.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(statuses).toEqual(['SERVING']);
      await t.server.stop();
      await ended;
      expect(statuses).toEqual(['SERVING', 'NOT_SERVING']);
    } finally {
      health.close();
      await t.close();
    }
  });
});

describe('clock steps below the threshold', () => {
  it('GIVEN wall-clock read jitter of a few ms THEN no step is counted or logged; a 200 ms step back is counted once and logged as a warning', async () => {
    const wall = new FakeClock(Date.now());
    const mono = new FakeClock(0);
    const lines: { level: number; msg: string }[] = [];
    const logger = pino(
      { level: 'debug' },
      { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) },
    );
    const t = await startTestServer(
      {},
      { clockSources: { wallMs: () => wall.nowMs(), monotonicMs: () => mono.nowMs() }, logger },
    );
    const stepLogs = () => lines.filter((l) => l.level >= 40).map((l) => l.msg);
    try {
      for (const jitter of [-2, 3, -6, 5, -4, 6, -3, 2]) {
        wall.advance(jitter);
        await unaryOk(t.client, 'NextId', {});
        wall.advance(-jitter);
        await unaryOk(t.client, 'NextId', {});
      }
      expect(metricValue(await scrape(t.server.metricsPort), 'snowflake_clock_backwards_total')).toBe(0);
      expect(stepLogs()).toEqual([]);

      wall.advance(-200);
      await unaryOk(t.client, 'NextId', {});
      expect(metricValue(await scrape(t.server.metricsPort), 'snowflake_clock_backwards_total')).toBe(1);
      expect(stepLogs()).toEqual([expect.stringMatching(/^wall clock moved against the ID time base/)]);
    } finally {
      await t.close();
    }
  });
});

describe('graceful stop', () => {
  it('turns NOT_SERVING, lets an in-flight call finish, then refuses new connections', async () => {
    // 0 sequence bits and 100 ms ticks: one ID per 100 ms, so a batch of 5 is in flight for ~400 ms.
    const t = await startTestServer({
      SNOWFLAKE_TIME_UNIT_MS: '100',
      SNOWFLAKE_TIMESTAMP_BITS: '38',
      SNOWFLAKE_DATACENTER_BITS: '12',
      SNOWFLAKE_WORKER_BITS: '13',
      SNOWFLAKE_SEQUENCE_BITS: '0',
    });
    const inFlight = unaryCall<BatchIdsResponse__Output>(t.client, 'BatchIds', { count: 5 });
    const started =
      'grpc_server_started_total{grpc_service="snowflake.v1.IdGenerator",grpc_method="BatchIds",grpc_type="unary"}';
    for (let i = 0; i < 500 && metricValue(await t.server.metrics.registry.metrics(), started) < 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const stopped = t.server.stop();
    const r = await inFlight;
    expect(r.ok ? r.value.ids.length : r.error.details).toBe(5);
    expect(await stopped).toEqual({ forced: false, cutCalls: 0 });
    const after = await unaryCall(
      idGeneratorClient(t.server.grpcPort),
      'NextId',
      {},
      { deadline: Date.now() + 500 },
    );
    expect(after.ok).toBe(false);
    await t.close();
  });

  it('ends health Watch streams with UNAVAILABLE (SHUTTING_DOWN) instead of waiting for them', async () => {
    const t = await startTestServer({ SNOWFLAKE_SHUTDOWN_TIMEOUT_MS: '60000' });
    const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as {
      grpc: { health: { v1: { Health: typeof grpc.Client } } };
    };
    const health = new proto.grpc.health.v1.Health(
      `127.0.0.1:${t.server.grpcPort}`,
      grpc.credentials.createInsecure(),
    );
    const watch = (
      health as unknown as { Watch(req: object): grpc.ClientReadableStream<{ status: string }> }
    ).Watch({ service: '' });
    const statuses: string[] = [];
    const ended = new Promise<grpc.StatusObject>((resolve) => {
      watch.on('data', (m: { status: string }) => statuses.push(m.status));
      watch.on('error', () => undefined);
      watch.on('status', resolve);
    });
    for (let i = 0; i < 500 && statuses.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(statuses).toEqual(['SERVING']);
    // The stop must not wait for the endless Watch: SNOWFLAKE_SHUTDOWN_TIMEOUT_MS is a minute.
    expect(await t.server.stop()).toEqual({ forced: false, cutCalls: 0 });
    const status = await ended;
    expect({ code: status.code, errorCode: status.metadata.get(ERROR_CODE_METADATA_KEY) }).toEqual({
      code: grpc.status.UNAVAILABLE,
      errorCode: ['SHUTTING_DOWN'],
    });
    health.close();
    await t.close();
  }, 90_000);
});
