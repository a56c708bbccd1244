import * as grpc from '@grpc/grpc-js';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { BatchIdsResponse__Output } from '../../src/generated/snowflake/v1/BatchIdsResponse';
import type { NextIdResponse__Output } from '../../src/generated/snowflake/v1/NextIdResponse';
import { idGeneratorClient, unaryCall } from '../helpers/grpc-client';
import { MAIN_JS, startServiceProcess, type ServiceProcess } from '../helpers/process';
import { packageDefinition, snowflakeProto } from '../../src/grpc/proto';
import { startTestServer } from '../helpers/server';
import { tempStateDir } from '../helpers/temp-dir';
import { metricValue, scrape } from '../helpers/scrape';

/** The open-file limit the flooded service runs under: far fewer descriptors than idle connections. */
const FD_LIMIT = 256;
const IDLE_CONNECTIONS = 300;
const BATCH_IDS_PATH = '/snowflake.v1.IdGenerator/BatchIds';
const BATCH_STARTED =
  'grpc_server_started_total{grpc_service="snowflake.v1.IdGenerator",grpc_method="BatchIds",grpc_type="unary"}';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Lowers the open-file limit (soft and hard) of a running process, as `ulimit -n` would have. */
function limitDescriptors(pid: number | undefined, limit: number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:${limit}`]);
}

/** Opens `count` TCP connections that never send a byte; each is settled (connected or closed). */
async function idleSockets(port: number, count: number): Promise<net.Socket[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Socket>((resolve) => {
          const socket = net.connect(port, '127.0.0.1');
          socket.on('error', () => undefined);
          socket.once('connect', () => {
            resolve(socket);
          });
          socket.once('close', () => {
            resolve(socket);
          });
        }),
    ),
  );
}

/** `reservedUntilMs` of the state file named in the service's start line. */
function reservation(svc: ServiceProcess): number {
  const start = svc.logs.find((l) => l.msg === 'snowflake service started');
  const file = String(start?.stateFile);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { reservedUntilMs: number }).reservedUntilMs;
}

/** Waits (at most ~20 s) until the state file holds a reservation later than `afterMs`; returns it. */
async function reservationAfter(svc: ServiceProcess, afterMs: number): Promise<number> {
  let now = reservation(svc);
  for (let i = 0; i < 200 && now <= afterMs; i++) {
    await sleep(100);
    now = reservation(svc);
  }
  return now;
}

/** NextId on a fresh connection (deadline 10 s): the ID, or the error code and details. */
async function nextIdOnNewConnection(port: number): Promise<bigint | string> {
  const client = idGeneratorClient(port);
  const r = await unaryCall<NextIdResponse__Output>(client, 'NextId', {}, { deadline: Date.now() + 10_000 });
  client.close();
  return r.ok ? BigInt(r.value.id) : `${grpc.status[r.error.code]} ${r.error.details}`;
}

async function stopService(svc: ServiceProcess): Promise<number | string> {
  svc.child.kill('SIGTERM');
  return svc.exited;
}

/** `count` as a gRPC-framed BatchIdsRequest (field 1, varint). */
function batchIdsFrame(count: number): Buffer {
  const varint: number[] = [];
  for (let v = count; ; v >>>= 7) {
    if (v < 0x80) {
      varint.push(v);
      break;
    }
    varint.push((v & 0x7f) | 0x80);
  }
  const message = Buffer.from([0x08, ...varint]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/**
 * An HTTP/2 client that never reads: its initial stream window is 0, so no response byte may be sent to
 * it; it sends BatchIds calls and records how each was answered (headers only, or a trailers-only status).
 */
function zeroWindowClient(port: number) {
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 0 } });
  session.on('error', () => undefined);
  const outcomes = { accepted: 0, backlogFull: 0, other: 0 };
  let lastRefusal: http2.IncomingHttpHeaders | undefined;
  return {
    outcomes,
    get lastRefusal() {
      return lastRefusal;
    },
    batchIds(count: number) {
      const stream = session.request({
        ':method': 'POST',
        ':path': BATCH_IDS_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      stream.on('error', () => undefined);
      stream.on('response', (headers) => {
        if (headers['grpc-status'] === undefined) outcomes.accepted++;
        else if (headers['snowflake-error-code'] === 'RESPONSE_BACKLOG_FULL') {
          outcomes.backlogFull++;
          lastRefusal = headers;
        } else outcomes.other++;
      });
      stream.end(batchIdsFrame(count));
      stream.pause();
    },
    close() {
      session.destroy();
    },
  };
}

describe('descriptor limits: idle connections beyond the caps (process at 256 open files)', () => {
  it('GIVEN 300 idle /metrics connections THEN new gRPC connections still get IDs and the state file is still written', async () => {
    const svc = await startServiceProcess({
      SNOWFLAKE_METRICS_MAX_CONNECTIONS: '8',
      SNOWFLAKE_GRPC_MAX_CONNECTIONS: '64',
    });
    limitDescriptors(svc.child.pid, FD_LIMIT);
    const idle = await idleSockets(svc.metricsPort, IDLE_CONNECTIONS);
    try {
      const before = reservation(svc);
      const ids: (bigint | string)[] = [];
      for (let i = 0; i < 5; i++) ids.push(await nextIdOnNewConnection(svc.grpcPort));
      expect(ids.map((id) => typeof id)).toEqual(Array(5).fill('bigint'));
      expect(await reservationAfter(svc, before)).toBeGreaterThan(before);
    } finally {
      for (const socket of idle) socket.destroy();
      expect(await stopService(svc)).toBe(0);
    }
  }, 120_000);

  it('GIVEN 300 idle gRPC connections THEN a connected client still gets IDs, /metrics answers and counts the rejected, and the state file is still written', async () => {
    const svc = await startServiceProcess({
      SNOWFLAKE_METRICS_MAX_CONNECTIONS: '8',
      SNOWFLAKE_GRPC_MAX_CONNECTIONS: '64',
    });
    limitDescriptors(svc.child.pid, FD_LIMIT);
    const client = idGeneratorClient(svc.grpcPort);
    const idle: net.Socket[] = [];
    try {
      expect((await unaryCall(client, 'NextId', {})).ok).toBe(true);
      idle.push(...(await idleSockets(svc.grpcPort, IDLE_CONNECTIONS)));
      // Until the service has taken every connection: kept (at most the cap) or closed at once.
      let text = await scrape(svc.metricsPort);
      const seen = () =>
        metricValue(text, 'snowflake_connections{listener="grpc"}', 0) +
        metricValue(text, 'snowflake_connections_rejected_total{listener="grpc"}', 0);
      for (let i = 0; i < 100 && seen() < IDLE_CONNECTIONS + 1; i++) {
        await sleep(100);
        text = await scrape(svc.metricsPort);
      }
      const before = reservation(svc);
      const r = await unaryCall<BatchIdsResponse__Output>(client, 'BatchIds', { count: 100 });
      expect(r.ok ? r.value.ids.length : r.error.details).toBe(100);
      expect(await reservationAfter(svc, before)).toBeGreaterThan(before);
      text = await scrape(svc.metricsPort);
      expect(metricValue(text, 'snowflake_connections{listener="grpc"}')).toBe(64);
      expect(metricValue(text, 'snowflake_connections_rejected_total{listener="grpc"}')).toBe(
        IDLE_CONNECTIONS + 1 - 64,
      );
    } finally {
      client.close();
      for (const socket of idle) socket.destroy();
      expect(await stopService(svc)).toBe(0);
    }
  }, 120_000);

  it('GIVEN connection caps that leave under 64 of the open files THEN it exits 1 at boot naming both variables', async () => {
    const child = spawn('prlimit', [`--nofile=${FD_LIMIT}:${FD_LIMIT}`, process.execPath, MAIN_JS], {
      env: {
        PATH: process.env.PATH ?? '',
        SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
        SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
        SNOWFLAKE_STATE_DIR: tempStateDir(),
        SNOWFLAKE_GRPC_MAX_CONNECTIONS: '180',
        SNOWFLAKE_METRICS_MAX_CONNECTIONS: '16',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 20_000,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, stderr }).toEqual({
      code: 1,
      stderr: expect.stringContaining(
        'SNOWFLAKE_GRPC_MAX_CONNECTIONS=180 + SNOWFLAKE_METRICS_MAX_CONNECTIONS=16 must be at most 192: ' +
          'the open-file limit of this process is 256',
      ) as string,
    });
  });
});

describe('memory limits: clients that never read their answers', () => {
  it('GIVEN 40 zero-window connections sending 200 BatchIds(10000) each THEN RSS stays bounded and a reading client still gets IDs', async () => {
    // 17 sequence bits: 10,000 IDs fit in one tick, so answers pile up as fast as the calls come. A
    // reservation of a minute: a state write slowed by a busy shared disk must not stop issuance, which
    // would hide what this test measures.
    const svc = await startServiceProcess({
      SNOWFLAKE_DATACENTER_BITS: '0',
      SNOWFLAKE_SEQUENCE_BITS: '17',
      SNOWFLAKE_RESERVATION_MS: '60000',
    });
    const slow = Array.from({ length: 40 }, () => zeroWindowClient(svc.grpcPort));
    const client = idGeneratorClient(svc.grpcPort);
    try {
      // Paced over ~16 s rather than sent in one burst: 10,000 IDs cost the server ~0.7 ms of CPU, and
      // the test is about memory, not about a CPU spike on a shared machine.
      for (let round = 0; round < 200; round++) {
        for (const c of slow) c.batchIds(10_000);
        await sleep(80);
      }
      const answered = () =>
        slow.reduce((n, c) => n + c.outcomes.accepted + c.outcomes.backlogFull + c.outcomes.other, 0);
      for (let i = 0; i < 600 && answered() < 40 * 200; i++) await sleep(100);
      let batch: string | number = 'not called';
      for (let i = 0; i < 20 && batch !== 1000; i++) {
        const r = await unaryCall<BatchIdsResponse__Output>(client, 'BatchIds', { count: 1000 });
        batch = r.ok ? r.value.ids.length : `${grpc.status[r.error.code]} ${r.error.details}`;
        if (batch !== 1000) await sleep(250);
      }
      expect(batch).toBe(1000);
      const status = fs.readFileSync(`/proc/${svc.child.pid}/status`, 'utf8');
      const peakMiB = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
      const outcomes = { backlogFull: slow.reduce((n, c) => n + c.outcomes.backlogFull, 0) };
      expect({ peakMiB: Math.round(peakMiB), below300: peakMiB < 300 }).toMatchObject({ below300: true });
      expect(outcomes.backlogFull).toBeGreaterThan(0);
      const text = await scrape(svc.metricsPort);
      expect(metricValue(text, 'snowflake_grpc_response_backlog_bytes')).toBeLessThanOrEqual(
        2 * 64 * 2 ** 20,
      );
    } finally {
      client.close();
      for (const c of slow) c.close();
      expect(await stopService(svc)).toBe(0);
    }
  }, 180_000);
});

describe('the response backlog of one connection (in process)', () => {
  it('GIVEN a client that never reads THEN its 53rd BatchIds(10000) is refused before issuing while another client is served', async () => {
    const t = await startTestServer();
    const slow = zeroWindowClient(t.server.grpcPort);
    try {
      const generated = async () =>
        metricValue(await t.server.metrics.registry.metrics(), 'snowflake_ids_generated_total');
      for (let i = 0; i < 60; i++) slow.batchIds(10_000);
      for (let i = 0; i < 500 && slow.outcomes.accepted + slow.outcomes.backlogFull < 60; i++)
        await sleep(20);
      // 4 MiB per connection holds 52 answers of 80,009 bytes; the other 8 are refused.
      expect(slow.outcomes).toEqual({ accepted: 52, backlogFull: 8, other: 0 });
      expect(await generated()).toBe(52 * 10_000);
      const text = await t.server.metrics.registry.metrics();
      expect(metricValue(text, 'snowflake_grpc_response_backlog_bytes')).toBe(52 * 80_009);
      const r = await unaryCall<BatchIdsResponse__Output>(t.client, 'BatchIds', { count: 10_000 });
      expect(r.ok ? r.value.ids.length : r.error.details).toBe(10_000);
    } finally {
      slow.close();
      await t.close();
    }
  });

  it('GIVEN the refusal THEN its status is RESOURCE_EXHAUSTED with the stable code and what to do', async () => {
    const t = await startTestServer({ SNOWFLAKE_GRPC_BACKLOG_MIB: '1' });
    const slow = zeroWindowClient(t.server.grpcPort);
    try {
      for (let i = 0; i < 14; i++) slow.batchIds(10_000);
      for (let i = 0; i < 500 && slow.outcomes.accepted + slow.outcomes.backlogFull < 14; i++)
        await sleep(20);
      expect(slow.outcomes).toEqual({ accepted: 13, backlogFull: 1, other: 0 });
      expect(decodeURIComponent(String(slow.lastRefusal?.['grpc-message']))).toBe(
        'RESPONSE_BACKLOG_FULL: this connection already holds 1040117 bytes of answers its client has not ' +
          'read; 80009 more would exceed 1048576 (SNOWFLAKE_GRPC_BACKLOG_MIB); read the answers, or retry later ' +
          'or on another instance',
      );
      expect(slow.lastRefusal?.['grpc-status']).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
    } finally {
      slow.close();
      await t.close();
    }
  });
});

describe('the gRPC listener', () => {
  it('GIVEN SNOWFLAKE_GRPC_ADDR=[::1]:0 THEN it serves IDs and health over IPv6, counting the connection', async () => {
    const t = await startTestServer({ SNOWFLAKE_GRPC_ADDR: '[::1]:0' });
    const address = `[::1]:${t.server.grpcPort}`;
    const client = new (snowflakeProto().IdGenerator)(address, grpc.credentials.createInsecure());
    const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as {
      grpc: { health: { v1: { Health: typeof grpc.Client } } };
    };
    const health = new proto.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
    try {
      const r = await unaryCall<NextIdResponse__Output>(client, 'NextId', {});
      expect(r.ok).toBe(true);
      const h = await unaryCall<{ status: string }>(health, 'Check', { service: '' });
      expect(h.ok ? h.value.status : h.error.details).toBe('SERVING');
      const text = await t.server.metrics.registry.metrics();
      // grpc-js shares one connection (subchannel) between the two clients of the same target.
      expect(metricValue(text, 'snowflake_connections{listener="grpc"}')).toBe(1);
    } finally {
      client.close();
      health.close();
      await t.close();
    }
  });
});

describe('SIGTERM waits for calls, not for connections', () => {
  /** A socket that sends the HTTP/2 preface and SETTINGS, then nothing: it ignores GOAWAY. */
  async function deafHttp2(port: number): Promise<net.Socket> {
    const [socket] = await idleSockets(port, 1);
    socket!.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
      ]),
    );
    return socket!;
  }

  it('GIVEN idle raw TCP, HTTP/2 and GOAWAY-ignoring connections and no call THEN it exits 0 long before the shutdown timeout', async () => {
    const svc = await startServiceProcess({ SNOWFLAKE_SHUTDOWN_TIMEOUT_MS: '60000' });
    const [raw] = await idleSockets(svc.grpcPort, 1);
    const deaf = await deafHttp2(svc.grpcPort);
    const idle = http2.connect(`http://127.0.0.1:${svc.grpcPort}`);
    idle.on('error', () => undefined);
    await new Promise((r) => idle.once('connect', r));
    try {
      expect(await stopService(svc)).toBe(0);
      expect(svc.logs.filter((l) => /cut/.test(String(l.msg)))).toEqual([]);
    } finally {
      raw?.destroy();
      deaf.destroy();
      idle.destroy();
    }
  }, 90_000);

  /** A service issuing one ID per 100 ms: a BatchIds(count) call is in flight for about count × 100 ms. */
  const SLOW_TICKS = {
    SNOWFLAKE_TIME_UNIT_MS: '100',
    SNOWFLAKE_TIMESTAMP_BITS: '38',
    SNOWFLAKE_DATACENTER_BITS: '12',
    SNOWFLAKE_WORKER_BITS: '13',
    SNOWFLAKE_SEQUENCE_BITS: '0',
  };

  async function untilBatchStarted(svc: ServiceProcess): Promise<void> {
    for (let i = 0; i < 200 && metricValue(await scrape(svc.metricsPort), BATCH_STARTED) < 1; i++) {
      await sleep(50);
    }
  }

  it('GIVEN a call in flight and an idle raw TCP connection THEN it waits for the call, answers it, and exits 0', async () => {
    const svc = await startServiceProcess({ ...SLOW_TICKS, SNOWFLAKE_SHUTDOWN_TIMEOUT_MS: '60000' });
    const [raw] = await idleSockets(svc.grpcPort, 1);
    const client = idGeneratorClient(svc.grpcPort);
    try {
      const call = unaryCall<BatchIdsResponse__Output>(client, 'BatchIds', { count: 20 });
      await untilBatchStarted(svc);
      svc.child.kill('SIGTERM');
      const r = await call;
      expect(r.ok ? r.value.ids.length : r.error.details).toBe(20);
      expect(await svc.exited).toBe(0);
      expect(svc.logs.filter((l) => /cut/.test(String(l.msg)))).toEqual([]);
    } finally {
      client.close();
      raw?.destroy();
    }
  }, 90_000);

  it('GIVEN a call longer than SNOWFLAKE_SHUTDOWN_TIMEOUT_MS THEN it is cut, the log says how many, and the exit code is 1', async () => {
    const svc = await startServiceProcess({ ...SLOW_TICKS, SNOWFLAKE_SHUTDOWN_TIMEOUT_MS: '1000' });
    const client = idGeneratorClient(svc.grpcPort);
    try {
      const call = unaryCall<BatchIdsResponse__Output>(client, 'BatchIds', { count: 600 });
      await untilBatchStarted(svc);
      expect(await stopService(svc)).toBe(1);
      expect((await call).ok).toBe(false);
      expect(svc.logs.filter((l) => /cut/.test(String(l.msg)))).toEqual([
        expect.objectContaining({ cutCalls: 1, msg: 'shutdown timeout reached: 1 in-flight call was cut' }),
      ]);
    } finally {
      client.close();
    }
  }, 90_000);
});
