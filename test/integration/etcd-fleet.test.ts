import * as fs from 'node:fs';
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import type { BatchIdsResponse__Output } from '../../src/generated/snowflake/v1/BatchIdsResponse';
import type { GetInfoResponse__Output } from '../../src/generated/snowflake/v1/GetInfoResponse';
import { IdCodec } from '../../src/core/codec';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import type { EtcdWorkerIdClaim } from '../../src/worker-id/etcd/etcd-claim';
import { claimEtcdWorkerId } from '../../src/worker-id/etcd';
import { healthCheck, idGeneratorClient, unaryCall } from '../helpers/grpc-client';
import { startEtcd, type EtcdServer } from '../helpers/etcd';
import { MAIN_JS, runNode, startServiceProcess, type ServiceProcess } from '../helpers/process';
import { startTestServer, type TestServer } from '../helpers/server';
import { tempStateDir } from '../helpers/temp-dir';

// A fleet of real service processes on a real etcd: worker IDs are claimed, fenced, freed and re-claimed.

const TTL_S = 2;
const TTL_MS = TTL_S * 1000;
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const codec = new IdCodec(DEFAULT_LAYOUT);

let etcd: EtcdServer;
let admin: Etcd3;
const running: ServiceProcess[] = [];
let prefixCount = 0;

/** A key prefix of its own for each test, so tests never see each other's workers. */
function freshPrefix(): string {
  prefixCount += 1;
  return `/fleet-${prefixCount}/`;
}

function etcdEnv(prefix: string, ttlS = TTL_S): Record<string, string> {
  return {
    SNOWFLAKE_WORKER_ID_SOURCE: 'etcd',
    SNOWFLAKE_ETCD_ENDPOINTS: etcd.endpoint,
    SNOWFLAKE_ETCD_PREFIX: prefix,
    SNOWFLAKE_ETCD_LEASE_TTL_S: String(ttlS),
  };
}

async function startInstance(env: Record<string, string>, timeoutMs = 30_000): Promise<ServiceProcess> {
  const proc = await startServiceProcess(env, timeoutMs);
  running.push(proc);
  return proc;
}

async function workerOf(proc: ServiceProcess): Promise<number> {
  const client = idGeneratorClient(proc.grpcPort);
  try {
    const r = await unaryCall<GetInfoResponse__Output>(client, 'GetInfo', {});
    if (!r.ok) throw new Error(`GetInfo failed: ${r.error.details}`);
    return r.value.worker_id;
  } finally {
    client.close();
  }
}

async function batch(proc: ServiceProcess, count: number): Promise<bigint[]> {
  const client = idGeneratorClient(proc.grpcPort);
  try {
    const r = await unaryCall<BatchIdsResponse__Output>(client, 'BatchIds', { count });
    if (!r.ok) throw new Error(`BatchIds failed: ${r.error.code} ${r.error.details}`);
    return r.value.ids.map(BigInt);
  } finally {
    client.close();
  }
}

async function metricsText(proc: ServiceProcess): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${proc.metricsPort}/metrics`);
  return res.text();
}

async function stopAll(): Promise<void> {
  const procs = running.splice(0);
  for (const p of procs) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
}

/** Polls `check` every 50 ms until it is true or `timeoutMs` passes; resolves with whether it became true. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

function expectUnique(ids: readonly bigint[]): void {
  expect(new Set(ids).size).toBe(ids.length);
}

beforeAll(async () => {
  expect(fs.existsSync(MAIN_JS)).toBe(true);
  etcd = await startEtcd();
  admin = new Etcd3({ hosts: etcd.endpoint });
});

afterEach(stopAll);

afterAll(async () => {
  admin.close();
  await etcd.dispose();
});

describe('a fleet on etcd (real processes)', () => {
  it('GIVEN 3 instances THEN they hold distinct worker IDs, report them in GetInfo and /metrics, and their IDs never collide', async () => {
    const prefix = freshPrefix();
    const procs = await Promise.all([1, 2, 3].map(() => startInstance(etcdEnv(prefix))));
    const workers = await Promise.all(procs.map(workerOf));
    expect(new Set(workers).size).toBe(3);
    expect([...workers].sort()).toEqual([0, 1, 2]);

    const ids = (await Promise.all(procs.map((p) => batch(p, 4000)))).flat();
    expectUnique(ids);
    for (const [i, proc] of procs.entries()) {
      const text = await metricsText(proc);
      expect(text).toMatch(/^snowflake_worker_lease_state 1$/m);
      expect(text).toContain(`snowflake_worker_info{datacenter_id="0",worker_id="${workers[i]}"} 1`);
      const own = await batch(proc, 10);
      expect(own.every((id) => codec.decode(id).workerId === workers[i])).toBe(true);
    }
    // Each worker key carries its holder's pid as owner, under its own lease.
    const keys = await admin.getAll().prefix(`${prefix}dc/0/worker/`).strings();
    expect(Object.keys(keys).sort()).toEqual([0, 1, 2].map((w) => `${prefix}dc/0/worker/${w}`));
    for (const proc of procs) {
      expect(Object.values(keys).some((owner) => owner.endsWith(`/${proc.child.pid}`))).toBe(true);
    }
  }, 60_000);

  it('GIVEN 8 instances starting at once THEN no two hold the same worker ID at any moment and their IDs never collide', async () => {
    const prefix = freshPrefix();
    const procs = await Promise.all(Array.from({ length: 8 }, () => startInstance(etcdEnv(prefix), 60_000)));
    const ids: bigint[] = [];
    for (let round = 0; round < 5; round++) {
      const workers = await Promise.all(procs.map(workerOf));
      expect(new Set(workers).size).toBe(8);
      const batches = await Promise.all(procs.map((p) => batch(p, 2000)));
      for (const [i, b] of batches.entries()) {
        expect(b.every((id) => codec.decode(id).workerId === workers[i])).toBe(true);
        ids.push(...b);
      }
    }
    expectUnique(ids);
    expect(ids).toHaveLength(8 * 5 * 2000);
  }, 120_000);

  it('GIVEN all 32 worker IDs of the datacenter held THEN a new instance exits 1 saying the range is full', async () => {
    const prefix = freshPrefix();
    const claims: EtcdWorkerIdClaim[] = [];
    try {
      for (let i = 0; i < 32; i++) {
        claims.push(
          await claimEtcdWorkerId({
            endpoints: [etcd.endpoint],
            prefix,
            leaseTtlSeconds: 30,
            datacenterId: 0,
            workerBits: 5,
            owner: `filler-${i}`,
            logger: pino({ level: 'silent' }),
          }),
        );
      }
      const run = await runNode(
        [MAIN_JS],
        {
          ...etcdEnv(prefix),
          SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
          SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
          SNOWFLAKE_STATE_DIR: tempStateDir(),
        },
        30_000,
      );
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(
        `all 32 worker IDs (0 to 31) of datacenter 0 are held by live instances under etcd prefix ${prefix}`,
      );
    } finally {
      await Promise.all(claims.map((c) => c.release()));
    }
  }, 60_000);

  it('GIVEN an instance killed with SIGKILL THEN its ID is held until the TTL, then taken by a new instance on a slower clock that issues only larger IDs', async () => {
    expect(fs.existsSync(LIBFAKETIME)).toBe(true); // CI installs Debian's faketime
    const prefix = freshPrefix();
    // The first holder's clock runs 5 s ahead: its IDs carry future timestamps.
    const ahead = await startInstance({
      ...etcdEnv(prefix),
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME: '+5s',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    });
    expect(await workerOf(ahead)).toBe(0);
    const old = await batch(ahead, 5000);
    const maxOld = old.reduce((a, b) => (a > b ? a : b));

    ahead.child.kill('SIGKILL');
    await ahead.exited;
    running.splice(running.indexOf(ahead), 1);
    const killedAt = Date.now();
    const key = `${prefix}dc/0/worker/0`;
    // Still held right after the kill: nobody else may take worker 0 before its lease expires.
    expect(await admin.get(key).string()).not.toBeNull();
    expect(await eventually(async () => (await admin.get(key).string()) === null, TTL_MS + 10_000)).toBe(
      true,
    );
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(TTL_MS - 1000 - 50);

    // The next holder's clock is right, i.e. 5 s behind the previous holder's reservation in etcd.
    const next = await startInstance(etcdEnv(prefix), 60_000);
    expect(await workerOf(next)).toBe(0);
    expect(next.logs.map((l) => l.msg)).toContain(
      'clock is behind the persisted reservation: waiting before serving (NOT_SERVING)',
    );
    const fresh = await batch(next, 5000);
    expect(fresh.every((id) => id > maxOld)).toBe(true);
    expectUnique([...old, ...fresh]);
  }, 90_000);

  it('GIVEN SIGTERM THEN the lease is revoked and the worker ID is free at once, long before the TTL', async () => {
    const prefix = freshPrefix();
    const proc = await startInstance(etcdEnv(prefix, 60));
    const worker = await workerOf(proc);
    const key = `${prefix}dc/0/worker/${worker}`;
    expect(await admin.get(key).string()).not.toBeNull();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    running.splice(running.indexOf(proc), 1);
    expect(await admin.get(key).string()).toBeNull();
    // The reservation outlives the holder, so the next one starts after it.
    const reservation = await admin.get(`${prefix}dc/0/reservation/${worker}`).string();
    expect(Number(reservation)).toBeGreaterThan(Date.now() - 60_000);
  }, 60_000);

  it('GIVEN etcd stops THEN every instance refuses (NOT_SERVING, UNAVAILABLE; liveness stays SERVING) before the lease TTL can pass, and serves again, without duplicates, when etcd returns', async () => {
    const prefix = freshPrefix();
    const procs = await Promise.all([1, 2, 3].map(() => startInstance(etcdEnv(prefix))));
    const before = (await Promise.all(procs.map((p) => batch(p, 1000)))).flat();
    const clients = procs.map((p) => idGeneratorClient(p.grpcPort));
    try {
      await etcd.stop();
      const stoppedAt = Date.now();
      // Keep calling NextId: a call sent after stoppedAt + TTL must never succeed, since no instance can
      // prove its lease then. Health must go NOT_SERVING on every instance.
      const issuedLate: string[] = [];
      const codes = new Set<number>();
      const notServing = new Set<number>();
      const aliveWhileRefusing = new Set<number>();
      for (
        let i = 0;
        i < 400 && (notServing.size < procs.length || Date.now() < stoppedAt + TTL_MS + 500);
        i++
      ) {
        await Promise.all(
          procs.map(async (p, n) => {
            const sentAt = Date.now();
            const client = clients[n];
            if (client === undefined) return;
            const r = await unaryCall<{ id: string }>(client, 'NextId', {});
            if (r.ok && sentAt > stoppedAt + TTL_MS) issuedLate.push(r.value.id);
            if (!r.ok) codes.add(r.error.code);
            if ((await healthCheck(p.grpcPort, '')) === 'NOT_SERVING') {
              notServing.add(n);
              // Liveness must not follow: restarting every pod would not bring etcd back.
              if ((await healthCheck(p.grpcPort, 'liveness')) === 'SERVING') aliveWhileRefusing.add(n);
            }
          }),
        );
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(issuedLate).toEqual([]);
      expect(notServing.size).toBe(procs.length);
      expect(aliveWhileRefusing.size).toBe(procs.length);
      expect([...codes]).toEqual([14]); // UNAVAILABLE only

      await etcd.restart();
      for (const p of procs) {
        expect(await eventually(async () => (await healthCheck(p.grpcPort, '')) === 'SERVING', 30_000)).toBe(
          true,
        );
      }
      const after = (await Promise.all(procs.map((p) => batch(p, 1000)))).flat();
      expectUnique([...before, ...after]);
      const workers = await Promise.all(procs.map(workerOf));
      expect(new Set(workers).size).toBe(procs.length);
      for (const w of workers) {
        const maxBefore = before
          .filter((id) => codec.decode(id).workerId === w)
          .reduce((a, b) => (a > b ? a : b), 0n);
        const minAfter = after
          .filter((id) => codec.decode(id).workerId === w)
          .reduce((a, b) => (a < b ? a : b));
        expect(minAfter > maxBefore).toBe(true);
      }
      for (const p of procs) {
        expect(await metricsText(p)).toMatch(/^snowflake_worker_lease_keepalive_failures_total [1-9]\d*$/m);
      }
    } finally {
      for (const c of clients) c.close();
      await etcd.restart().catch(() => undefined);
    }
  }, 120_000);
});

describe('losing the lease in a running server (in process)', () => {
  let served: TestServer | undefined;
  afterEach(async () => {
    await served?.close();
    served = undefined;
  });

  it('GIVEN its worker key is deleted THEN it refuses, claims a worker ID again with a fresh generator, and issues only larger IDs', async () => {
    const prefix = freshPrefix();
    served = await startTestServer({ ...etcdEnv(prefix), SNOWFLAKE_LOG_LEVEL: 'silent' });
    const { server, client } = served;
    const first = server.node();
    // Claimed before startTestServer returned (it awaits ready).
    expect(first).toBeDefined();
    const key = `${prefix}dc/0/worker/${first?.workerId}`;
    const r1 = await unaryCall<BatchIdsResponse__Output>(client, 'BatchIds', { count: 3000 });
    expect(r1.ok).toBe(true);
    const old = r1.ok ? r1.value.ids.map(BigInt) : [];

    const deleted = await admin.delete().key(key);
    expect(deleted.deleted).toBe('1');
    // The keepalive round sees the key gone and the server stops issuing.
    expect(
      await eventually(async () => (await healthCheck(server.grpcPort, '')) === 'NOT_SERVING', 10_000),
    ).toBe(true);
    // …then claims again (the lowest free ID, here the same one) and serves.
    expect(await eventually(async () => (await healthCheck(server.grpcPort, '')) === 'SERVING', 30_000)).toBe(
      true,
    );
    expect(await admin.get(key).string()).not.toBeNull();
    const r2 = await unaryCall<BatchIdsResponse__Output>(client, 'BatchIds', { count: 3000 });
    expect(r2.ok).toBe(true);
    const fresh = r2.ok ? r2.value.ids.map(BigInt) : [];
    const maxOld = old.reduce((a, b) => (a > b ? a : b));
    expect(fresh.every((id) => id > maxOld)).toBe(true);
    expect(fresh.every((id) => codec.decode(id).workerId === server.node()?.workerId)).toBe(true);
    const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    expect(text).toMatch(/^snowflake_worker_lease_state 1$/m);
  }, 60_000);
});
