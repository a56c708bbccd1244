import * as net from 'node:net';
import { Etcd3 } from 'etcd3';
import { DEFAULT_LAYOUT, layoutEndMs } from '../../src/core/layout';
import { etcdReservationKey, etcdWorkerKey } from '../../src/worker-id/etcd/etcd-claim';
import { CLAIM_RETRYING, retriedOtherThanReset, startEtcd, type EtcdServer } from '../helpers/etcd';
import { launchService, type LaunchedService } from '../helpers/process';

// Real service processes (dist/main.js) whose etcd claim cannot succeed. Each must end: exit 1 (or 0
// when a signal gave the start up), releasing its lease — never linger with its ports bound and its
// lease renewed. A run still alive after its bound is SIGKILLed, and then fails its test.

/** A safe integer far beyond the default layout's end (2089) and beyond what Date can hold (year 275760). */
const FAR_FUTURE_MS = 9_000_000_000_000_000;

let etcd: EtcdServer;
let admin: Etcd3;
/** Accepts TCP connections and never writes a byte: a TLS handshake with it never ends. */
let blackHole: net.Server;
const heldSockets = new Set<net.Socket>();
const runs: LaunchedService[] = [];

function env(endpoint: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SNOWFLAKE_WORKER_ID_SOURCE: 'etcd',
    SNOWFLAKE_ETCD_ENDPOINTS: endpoint,
    SNOWFLAKE_DATACENTER_ID: '2',
    ...extra,
  };
}

function launch(vars: Record<string, string>, killAfterMs: number): LaunchedService {
  const run = launchService(vars, killAfterMs);
  runs.push(run);
  return run;
}

/** Polls every 50 ms until `check` holds; fails after `timeoutMs`. */
async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  etcd = await startEtcd();
  admin = new Etcd3({ hosts: etcd.endpoint });
  blackHole = net.createServer((socket) => {
    heldSockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => heldSockets.delete(socket));
  });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const run of runs) run.child.kill('SIGKILL');
  await Promise.all(runs.map((run) => run.exited));
  for (const socket of heldSockets) socket.destroy();
  await new Promise((resolve) => blackHole.close(resolve));
  admin.close();
  await etcd.dispose();
});

describe('etcd data the service cannot use (real processes)', () => {
  it('GIVEN a reservation key of 9000000000000000 THEN it exits 1 naming the key and the allowed range, and its worker key is gone at once (lease revoked, not left to the TTL)', async () => {
    const prefix = '/start-failure-reservation/';
    const reservationKey = etcdReservationKey(prefix, 2, 0);
    await admin.put(reservationKey).value(String(FAR_FUTURE_MS));
    // A TTL far longer than the run: a worker key gone right after exit was revoked, not expired.
    const run = launch(
      env(etcd.endpoint, { SNOWFLAKE_ETCD_PREFIX: prefix, SNOWFLAKE_ETCD_LEASE_TTL_S: '600' }),
      30_000,
    );
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.stderr()).toContain(
      `failed to start: COORDINATION_FAILED: etcd key ${reservationKey} holds "${FAR_FUTURE_MS}", not a reservation: ` +
        `decimal Unix ms from 0 to ${layoutEndMs(DEFAULT_LAYOUT)}`,
    );
    // Corrupt data is final: no retries until SNOWFLAKE_MAX_STARTUP_WAIT_MS.
    expect(run.logs.filter((l) => l.msg === CLAIM_RETRYING)).toEqual([]);
    expect(run.logs.some((l) => l.msg === 'claimed worker ID in etcd')).toBe(false);
    expect(await admin.getAll().prefix(`${prefix}dc/2/worker/`).keys()).toEqual([]);
    expect(await admin.get(etcdWorkerKey(prefix, 2, 0)).string()).toBeNull();
    // The reservation is left as it was, for the operator to inspect.
    expect(await admin.get(reservationKey).string()).toBe(String(FAR_FUTURE_MS));
  }, 60_000);
});

describe('etcd over TLS that cannot work (real processes)', () => {
  it('GIVEN https:// against a plaintext etcd THEN it exits 1 on the first TLS error, saying TLS failed; only a bare connection reset is retried', async () => {
    const endpoint = etcd.endpoint.replace(/^http:/, 'https:');
    // Exit before the 30 s startup wait (whose message says "still unreachable") proves the TLS error ended it.
    const run = launch(
      env(endpoint, {
        SNOWFLAKE_ETCD_PREFIX: '/start-failure-plaintext/',
        SNOWFLAKE_MAX_STARTUP_WAIT_MS: '30000',
      }),
      60_000,
    );
    const { code } = await run.exited;
    expect(code).toBe(1);
    // Nothing that names TLS is retried; a bare reset may be (see retriedOtherThanReset).
    expect(retriedOtherThanReset(run.logs)).toEqual([]);
    const fatal = run.logs.find((l) => l.msg === 'failed to start');
    expect(fatal?.code).toBe('COORDINATION_FAILED');
    expect(fatal?.err).toContain(`failed at etcd ${endpoint}`);
    expect(fatal?.err).toContain('TLS with etcd failed');
  }, 90_000);

  it('GIVEN an https:// endpoint that accepts TCP but never answers TLS THEN it retries within SNOWFLAKE_MAX_STARTUP_WAIT_MS, then exits 1', async () => {
    const { port } = blackHole.address() as net.AddressInfo;
    // Retried for 10 s from the start; each attempt is bounded by a 5 s call timeout. Killed (and failed) at 75 s.
    const run = launch(env(`https://127.0.0.1:${port}`, { SNOWFLAKE_MAX_STARTUP_WAIT_MS: '10000' }), 75_000);
    const { code } = await run.exited;
    expect(code).toBe(1);
    const fatal = run.logs.find((l) => l.msg === 'failed to start');
    expect(fatal?.code).toBe('COORDINATION_FAILED');
    expect(fatal?.err).toMatch(/no answer from etcd at https:\/\/127\.0\.0\.1:\d+ within \d+ ms/);
  }, 90_000);
});

describe('a signal while the etcd claim is pending (real processes)', () => {
  it.each([
    {
      what: 'retrying against a closed port',
      endpoint: async () => `http://127.0.0.1:${await closedPort()}`,
      /** The claim has failed once and is between attempts. */
      underWay: (run: LaunchedService) => run.logs.some((l) => l.msg === CLAIM_RETRYING),
    },
    {
      what: 'stuck in a TLS handshake that never ends',
      endpoint: () => {
        const { port } = blackHole.address() as net.AddressInfo;
        return Promise.resolve(`https://127.0.0.1:${port}`);
      },
      /** The service is connected to the black hole: its first LeaseGrant is pending. */
      underWay: (_run: LaunchedService, socketsBefore: number) => heldSockets.size > socketsBefore,
    },
  ])(
    'GIVEN SIGTERM while $what THEN it gives the start up and exits 0 at once, not after SNOWFLAKE_MAX_STARTUP_WAIT_MS',
    async ({ endpoint, underWay }) => {
      const socketsBefore = heldSockets.size;
      const run = launch(env(await endpoint()), 60_000);
      await waitFor('the claim to be under way', () => underWay(run, socketsBefore), 20_000);
      const signalledAt = performance.now();
      run.child.kill('SIGTERM');
      const { code } = await run.exited;
      expect(code).toBe(0);
      expect(run.logs.map((l) => l.msg)).toEqual(
        expect.arrayContaining(['signal received', 'start given up on a signal; what it held is released']),
      );
      expect(run.logs.some((l) => l.msg === 'failed to start')).toBe(false);
      // Generous: an aborted claim ends within milliseconds; the startup wait it must not sit out is 60 s.
      expect(performance.now() - signalledAt).toBeLessThan(20_000);
    },
    90_000,
  );
});
