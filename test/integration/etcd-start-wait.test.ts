import * as net from 'node:net';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import { IdCodec } from '../../src/core/codec';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import type { GetInfoResponse__Output } from '../../src/generated/snowflake/v1/GetInfoResponse';
import type { NextIdResponse__Output } from '../../src/generated/snowflake/v1/NextIdResponse';
import { ERROR_CODE_METADATA_KEY } from '@snowflake-id/client/contract';
import { etcdReservationKey, etcdWorkerKey } from '../../src/worker-id/etcd/etcd-claim';
import { CLAIM_RETRYING, startEtcd, type EtcdServer } from '../helpers/etcd';
import { healthCheck, idGeneratorClient, unaryCall } from '../helpers/grpc-client';
import {
  launchService,
  startServiceProcess,
  type LaunchedService,
  type ServiceProcess,
} from '../helpers/process';
import { startTestServer, type TestServer } from '../helpers/server';

// A pod that (re)starts while etcd is unreachable: it must listen at once — readiness NOT_SERVING,
// liveness SERVING, calls refused with STARTING — and claim in the background until
// SNOWFLAKE_MAX_STARTUP_WAIT_MS, rather than exit into CrashLoopBackOff before etcd is back.

const codec = new IdCodec(DEFAULT_LAYOUT);

let etcd: EtcdServer;
let admin: Etcd3;
const processes: ServiceProcess[] = [];
const launched: LaunchedService[] = [];
let served: TestServer | undefined;
/** Set while a test has etcd stopped, so that a failure there does not leave it down for the next test. */
let etcdStopped = false;

function etcdEnv(endpoint: string, prefix: string): Record<string, string> {
  return {
    SNOWFLAKE_WORKER_ID_SOURCE: 'etcd',
    SNOWFLAKE_ETCD_ENDPOINTS: endpoint,
    SNOWFLAKE_ETCD_PREFIX: prefix,
    SNOWFLAKE_DATACENTER_ID: '2',
    SNOWFLAKE_ETCD_LEASE_TTL_S: '2',
  };
}

/** Polls every 50 ms until `check` holds; false if it still does not after `timeoutMs`. */
async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function metric(port: number, name: string): Promise<string | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
}

/** Starts dist/main.js and resolves at its start line (ports bound), not waiting for it to serve. */
async function startWaiting(env: Record<string, string>): Promise<ServiceProcess> {
  const p = await startServiceProcess(env, 15_000, false);
  processes.push(p);
  return p;
}

beforeAll(async () => {
  etcd = await startEtcd();
  admin = new Etcd3({ hosts: etcd.endpoint });
});

afterEach(async () => {
  await served?.close();
  served = undefined;
  if (etcdStopped) await etcd.restart();
  etcdStopped = false;
});

afterAll(async () => {
  for (const p of processes) p.child.kill('SIGKILL');
  for (const run of launched) run.child.kill('SIGKILL');
  await Promise.all([...processes.map((p) => p.exited), ...launched.map((run) => run.exited)]);
  admin.close();
  await etcd.dispose();
});

describe('starting while etcd is unreachable (real processes)', () => {
  it('GIVEN etcd is down at start THEN it listens NOT_SERVING (liveness SERVING, NextId UNAVAILABLE STARTING), and serves without a restart once etcd is back', async () => {
    await etcd.stop();
    etcdStopped = true;
    const p = await startWaiting(etcdEnv(etcd.endpoint, '/start-wait-outage/'));
    expect(await healthCheck(p.grpcPort, 'snowflake.v1.IdGenerator')).toBe('NOT_SERVING');
    expect(await healthCheck(p.grpcPort, '')).toBe('NOT_SERVING');
    expect(await healthCheck(p.grpcPort, 'liveness')).toBe('SERVING');

    const client = idGeneratorClient(p.grpcPort);
    const refused = await unaryCall<NextIdResponse__Output>(client, 'NextId', {});
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.code).toBe(grpc.status.UNAVAILABLE);
      expect(refused.error.metadata.get(ERROR_CODE_METADATA_KEY)).toEqual(['STARTING']);
      expect(refused.error.details).toContain('waiting for etcd');
    }
    // GetInfo answers: the layout, the configured datacenter, worker 0 until one is claimed.
    const info = await unaryCall<GetInfoResponse__Output>(client, 'GetInfo', {});
    expect(info.ok && { dc: info.value.datacenter_id, worker: info.value.worker_id }).toEqual({
      dc: 2,
      worker: 0,
    });
    expect(await metric(p.metricsPort, 'snowflake_serving')).toBe('0');
    expect(await metric(p.metricsPort, 'snowflake_worker_lease_state')).toBe('0');
    expect(await eventually(() => p.logs.some((l) => l.msg === CLAIM_RETRYING), 10_000)).toBe(true);

    await etcd.restart();
    etcdStopped = false;
    expect(
      await eventually(
        async () => (await healthCheck(p.grpcPort, 'snowflake.v1.IdGenerator')) === 'SERVING',
        30_000,
      ),
    ).toBe(true);
    const issued = await unaryCall<NextIdResponse__Output>(client, 'NextId', {});
    client.close();
    expect(issued.ok).toBe(true);
    const decoded = issued.ok ? codec.decode(BigInt(issued.value.id)) : undefined;
    expect(decoded?.datacenterId).toBe(2);
    expect(
      await admin.get(etcdWorkerKey('/start-wait-outage/', 2, decoded?.workerId ?? -1)).string(),
    ).not.toBeNull();
    expect(await metric(p.metricsPort, 'snowflake_serving')).toBe('1');
    expect(await metric(p.metricsPort, 'snowflake_worker_lease_state')).toBe('1');
    // The same process all along.
    expect(p.child.exitCode).toBeNull();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 60_000);

  it('GIVEN etcd never answers and SNOWFLAKE_MAX_STARTUP_WAIT_MS=5000 THEN it listens, retries, then exits 1 with COORDINATION_FAILED naming the bound', async () => {
    const run = launchService(
      {
        ...etcdEnv(`http://127.0.0.1:${await closedPort()}`, '/start-wait-never/'),
        SNOWFLAKE_MAX_STARTUP_WAIT_MS: '5000',
      },
      45_000,
    );
    launched.push(run);
    const { code } = await run.exited;
    expect(code).toBe(1);
    const messages = run.logs.map((l) => l.msg);
    // Listening (the start line) came before the retries, and the failure after them.
    const started = messages.indexOf('snowflake service started');
    expect(started).toBeGreaterThanOrEqual(0);
    expect(messages.indexOf(CLAIM_RETRYING)).toBeGreaterThan(started);
    expect(messages.indexOf('failed to start')).toBeGreaterThan(messages.lastIndexOf(CLAIM_RETRYING));
    expect(run.stderr()).toMatch(
      /failed to start: COORDINATION_FAILED: .*etcd still unreachable SNOWFLAKE_MAX_STARTUP_WAIT_MS=5000 ms after the start/,
    );
    // It kept trying through the bound (backoff 250, 500, 1000, 2000 ms…), not only once; it gives up when
    // the next attempt would come after it.
    expect(messages.filter((m) => m === CLAIM_RETRYING).length).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('GIVEN SIGTERM while it waits for etcd (listening, NOT_SERVING) THEN it exits 0 promptly', async () => {
    const p = await startWaiting(etcdEnv(`http://127.0.0.1:${await closedPort()}`, '/start-wait-sigterm/'));
    expect(await eventually(() => p.logs.some((l) => l.msg === CLAIM_RETRYING), 10_000)).toBe(true);
    expect(await healthCheck(p.grpcPort, 'liveness')).toBe('SERVING');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const messages = p.logs.map((l) => l.msg);
    expect(messages).toEqual(
      expect.arrayContaining([
        'signal received',
        'stopped',
        'start given up on a signal; what it held is released',
      ]),
    );
    expect(messages).not.toContain('failed to start');
  }, 30_000);
});

describe('stop() during a re-claim', () => {
  it('GIVEN a re-claim waiting for the clock to pass a reservation 50 s ahead THEN stop() ends it and returns long before', async () => {
    const prefix = '/start-wait-reclaim/';
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n'))
          if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    served = await startTestServer(
      { ...etcdEnv(etcd.endpoint, prefix), SNOWFLAKE_SHUTDOWN_TIMEOUT_MS: '1000' },
      { logger: pino({ level: 'info' }, sink) },
    );
    const node = served.server.node();
    expect(node).toBeDefined();
    const workerId = node?.workerId ?? -1;
    // One transaction: the server loses its key and, claiming the same (lowest free) ID again, finds
    // earlier holders' IDs reserved 50 s ahead, which it must wait out before serving.
    const reservedUntilMs = Date.now() + 50_000;
    const workerKey = etcdWorkerKey(prefix, 2, workerId);
    const txn = await admin
      .if(workerKey, 'Version', '>', 0)
      .then(
        admin.delete().key(workerKey),
        admin.put(etcdReservationKey(prefix, 2, workerId)).value(String(reservedUntilMs)),
      )
      .commit();
    expect(txn.succeeded).toBe(true);
    const waiting = 'clock is behind the persisted reservation: waiting before serving (NOT_SERVING)';
    expect(await eventually(() => lines.some((l) => l.msg === waiting), 20_000)).toBe(true);

    const { forced } = await served.server.stop();
    // Not waited out: the shutdown ended while the reservation still lay ahead.
    expect(Date.now()).toBeLessThan(reservedUntilMs);
    expect(forced).toBe(false);
    expect(lines.map((l) => l.msg)).toContain('stopped');
    // The re-claimed worker ID is given back, not left to its TTL.
    expect(await admin.get(workerKey).string()).toBeNull();
  }, 40_000);
});
