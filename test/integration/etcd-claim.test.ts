import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import {
  CoordinationDataError,
  CoordinationError,
  InvalidConfigError,
  WorkerIdsExhaustedError,
  WorkerLeaseLostError,
} from '../../src/errors';
import {
  ETCD_CAPABILITIES,
  etcdReservationKey,
  etcdWorkerKey,
  type EtcdWorkerIdClaim,
} from '../../src/worker-id/etcd/etcd-claim';
import { claimEtcdWorkerId, type EtcdWorkerIdOptions } from '../../src/worker-id/etcd';
import { startEtcd, type EtcdServer } from '../helpers/etcd';
import { ROOT } from '../helpers/process';

const TTL_S = 3;
const DC = 1;
const silent = pino({ level: 'silent' });

let etcd: EtcdServer;
let admin: Etcd3;
const claims: EtcdWorkerIdClaim[] = [];
const children: ChildProcess[] = [];
let prefixCount = 0;

/** A fresh key prefix per test, so tests never see each other's worker IDs. */
function freshPrefix(): string {
  prefixCount += 1;
  return `/snowflake-test-${prefixCount}/`;
}

async function claim(prefix: string, extra: Partial<EtcdWorkerIdOptions> = {}): Promise<EtcdWorkerIdClaim> {
  const c = await claimEtcdWorkerId({
    endpoints: [etcd.endpoint],
    prefix,
    leaseTtlSeconds: TTL_S,
    datacenterId: DC,
    workerBits: 5,
    owner: `test/${process.pid}`,
    logger: silent,
    ...extra,
  });
  claims.push(c);
  return c;
}

async function leaseIds(): Promise<Set<string>> {
  const res = await admin.leaseClient.leaseLeases({});
  return new Set(res.leases.map((l) => l.ID));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 50 ms until it is true; fails after `timeoutMs`. */
async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

beforeAll(async () => {
  etcd = await startEtcd();
  admin = new Etcd3({ hosts: etcd.endpoint });
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(claims.splice(0).map((c) => c.release()));
});

afterAll(async () => {
  admin.close();
  await etcd.dispose();
});

describe('claimEtcdWorkerId against a real etcd', () => {
  it('GIVEN 3 instances THEN they hold distinct worker IDs 0, 1, 2 with their own leases', async () => {
    const prefix = freshPrefix();
    const got = [await claim(prefix), await claim(prefix), await claim(prefix)];
    expect(got.map((c) => c.node)).toEqual([0, 1, 2].map((workerId) => ({ datacenterId: DC, workerId })));
    for (const c of got) {
      expect(c.capabilities).toEqual(ETCD_CAPABILITIES);
      expect(c.held).toBe(true);
      expect(c.previousReservationMs).toBe(0);
      expect(c.safeUntilMs()).toBeGreaterThan(performance.now());
      const kv = (await admin.get(c.key).exec()).kvs[0];
      expect(c.key).toBe(etcdWorkerKey(prefix, DC, c.node.workerId));
      expect([kv?.value.toString(), kv?.lease]).toEqual([`test/${process.pid}`, c.leaseId]);
    }
  });

  it('GIVEN 5 worker bits THEN 32 claims fill the datacenter and the 33rd fails with WORKER_IDS_EXHAUSTED', async () => {
    const prefix = freshPrefix();
    for (let i = 0; i < 32; i++) await claim(prefix);
    expect(claims.map((c) => c.node.workerId)).toEqual(Array.from({ length: 32 }, (_, i) => i));
    const rangeFull: unknown[] = [];
    const before = await leaseIds();

    const err: unknown = await claim(prefix, { hooks: { rangeFull: (e) => rangeFull.push(e) } }).catch(
      (e: unknown) => e,
    );

    expect(err).toBeInstanceOf(WorkerIdsExhaustedError);
    expect((err as WorkerIdsExhaustedError).code).toBe('WORKER_IDS_EXHAUSTED');
    expect((err as Error).message).toContain('all 32 worker IDs (0 to 31) of datacenter 1 are held');
    expect(rangeFull).toEqual([{ datacenterId: DC, workerIdCount: 32 }]);
    const leaked = [...(await leaseIds())].filter((id) => !before.has(id));
    expect(leaked).toEqual([]);
  });

  it('GIVEN stray keys beside the worker keys THEN they neither fill the range nor block a claim', async () => {
    const prefix = freshPrefix();
    for (const id of ['32', '40', '007', 'x'])
      await admin.put(`${prefix}dc/${DC}/worker/${id}`).value('stray');
    for (let i = 0; i < 31; i++) await claim(prefix);

    const last = await claim(prefix);

    expect(last.node.workerId).toBe(31);
  });

  it('GIVEN 8 instances starting at once THEN all hold distinct IDs 0…7, each key carrying its own lease', async () => {
    const prefix = freshPrefix();
    const got = await Promise.all(Array.from({ length: 8 }, () => claim(prefix)));
    expect(got.map((c) => c.node.workerId).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const kvs = (await admin.getAll().prefix(`${prefix}dc/${DC}/worker/`).exec()).kvs;
    expect(kvs).toHaveLength(8);
    for (const c of got) {
      expect(kvs.find((kv) => kv.key.toString() === c.key)?.lease).toBe(c.leaseId);
    }
  });

  it('GIVEN release() THEN the ID is free at once, the claim is dead, and release is idempotent', async () => {
    const prefix = freshPrefix();
    const first = await claim(prefix);
    await claim(prefix);
    const lost: string[] = [];
    first.onLost((r) => lost.push(r));

    await first.release();
    // Revoked, not left to expire: the key is gone the moment release() resolves.
    expect(await admin.get(etcdWorkerKey(prefix, DC, 0)).exists()).toBe(false);
    const again = await claim(prefix);

    expect(again.node.workerId).toBe(0);
    expect(first.held).toBe(false);
    expect(first.safeUntilMs()).toBe(-Infinity);
    await expect(first.storeReservation(1)).rejects.toBeInstanceOf(WorkerLeaseLostError);
    await expect(first.release()).resolves.toBeUndefined();
    expect(lost).toEqual([]);
  });

  it('GIVEN reservations THEN the stored value only grows, even with concurrent writers, and outlives the holder', async () => {
    const prefix = freshPrefix();
    const holder = await claim(prefix);
    const key = etcdReservationKey(prefix, DC, 0);

    await holder.storeReservation(1_700_000_001_000);
    await holder.storeReservation(1_700_000_000_500);
    expect(await admin.get(key).string()).toBe('1700000001000');

    const values = Array.from({ length: 20 }, (_, i) => 1_700_000_002_000 + ((i * 7919) % 20) * 1000);
    await Promise.all(values.map((v) => holder.storeReservation(v)));
    expect(await admin.get(key).string()).toBe(String(Math.max(...values)));
    expect((await admin.get(key).exec()).kvs[0]?.lease).toBe('0');

    await holder.release();
    const next = await claim(prefix);
    expect(next.node.workerId).toBe(0);
    expect(next.previousReservationMs).toBe(Math.max(...values));
  });

  it('GIVEN a non-integer reservation, or one beyond maxReservationMs THEN it throws RangeError', async () => {
    const holder = await claim(freshPrefix(), { maxReservationMs: 1_800_000_000_000 });
    await expect(holder.storeReservation(1.5)).rejects.toBeInstanceOf(RangeError);
    await expect(holder.storeReservation(-1)).rejects.toBeInstanceOf(RangeError);
    await expect(holder.storeReservation(1_800_000_000_001)).rejects.toBeInstanceOf(RangeError);
    await expect(holder.storeReservation(1_800_000_000_000)).resolves.toBeUndefined();
  });

  it('GIVEN the reservation key is set beyond maxReservationMs while held THEN storeReservation refuses it naming the key, and leaves it alone', async () => {
    const prefix = freshPrefix();
    const holder = await claim(prefix, { maxReservationMs: 1_800_000_000_000 });
    const key = etcdReservationKey(prefix, DC, 0);
    await admin.put(key).value('9000000000000000');

    const err: unknown = await holder.storeReservation(1_700_000_000_000).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(CoordinationDataError);
    expect((err as Error).message).toContain(
      `etcd key ${key} holds "9000000000000000", not a reservation: decimal Unix ms from 0 to 1800000000000`,
    );
    expect(await admin.get(key).string()).toBe('9000000000000000');
    expect(holder.held).toBe(true); // bad data is not a lost lease
  });

  it('GIVEN the worker key is deleted THEN storeReservation rejects and onLost fires exactly once', async () => {
    const prefix = freshPrefix();
    const holder = await claim(prefix);
    const lost: string[] = [];
    holder.onLost((r) => lost.push(r));

    await admin.delete().key(holder.key).exec();

    await expect(holder.storeReservation(Date.now())).rejects.toBeInstanceOf(WorkerLeaseLostError);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toContain(`worker key ${holder.key} is gone`);
    expect(holder.held).toBe(false);
    expect(holder.safeUntilMs()).toBe(-Infinity);
    await sleep(1500); // two keepalive rounds: none may report the loss again
    expect(lost).toHaveLength(1);
    const late: string[] = [];
    holder.onLost((r) => late.push(r));
    await sleep(0);
    expect(late).toEqual(lost);
  });

  it('GIVEN the worker key is deleted THEN the keepalive round notices within a round and fires onLost', async () => {
    const holder = await claim(freshPrefix());
    const lost: string[] = [];
    holder.onLost((r) => lost.push(r));

    await admin.delete().key(holder.key).exec();

    await waitFor('onLost', () => lost.length > 0, 2000);
    expect(holder.safeUntilMs()).toBe(-Infinity);
  });

  it('GIVEN the worker key is overwritten without a lease THEN the claim is lost', async () => {
    const holder = await claim(freshPrefix());
    const lost: string[] = [];
    holder.onLost((r) => lost.push(r));

    await admin.put(holder.key).value('operator');

    await waitFor('onLost', () => lost.length > 0, 2000);
    expect(lost[0]).toContain(`no longer carries lease ${holder.leaseId}`);
  });

  it('GIVEN the lease is revoked behind our back THEN etcd answers the keepalive with TTL 0 and onLost fires once', async () => {
    const holder = await claim(freshPrefix());
    const lost: string[] = [];
    holder.onLost((r) => lost.push(r));

    await admin.leaseClient.leaseRevoke({ ID: holder.leaseId });

    await waitFor('onLost', () => lost.length > 0, 2000);
    await sleep(400);
    expect(lost).toHaveLength(1);
    expect(holder.held).toBe(false);
    await expect(holder.storeReservation(Date.now())).rejects.toBeInstanceOf(WorkerLeaseLostError);
  });

  it('GIVEN a holder killed with SIGKILL THEN its ID is free only after the TTL and the next holder sees its reservation', async () => {
    const prefix = freshPrefix();
    const reservationMs = Date.now() + 60_000;
    const child = await startHolderProcess(prefix, reservationMs);
    expect(child.workerId).toBe(0);

    const killedAt = performance.now();
    child.process.kill('SIGKILL');
    const meanwhile = await claim(prefix);
    expect(meanwhile.node.workerId).toBe(1);

    await waitFor(
      'the dead holder key to expire',
      async () => !(await admin.get(etcdWorkerKey(prefix, DC, 0)).exists()),
      TTL_S * 1000 + 15_000,
    );
    const freedAfterMs = performance.now() - killedAt;
    // Never before the TTL: its last keepalive went out at most one interval (≈ 667 ms) before the kill.
    expect(freedAfterMs).toBeGreaterThan(TTL_S * 1000 - 800);

    const next = await claim(prefix);
    expect(next.node.workerId).toBe(0);
    expect(next.previousReservationMs).toBe(reservationMs);
  });

  it.each([
    ['a malformed reservation', 'yesterday'],
    ['a reservation beyond maxReservationMs', '1800000000001'],
    ['a reservation beyond what Date holds', '9000000000000000'],
  ])(
    'GIVEN %s THEN the claim fails with COORDINATION_FAILED (final: bad data) and leaves nothing behind',
    async (_what, value) => {
      const prefix = freshPrefix();
      await admin.put(etcdReservationKey(prefix, DC, 0)).value(value);
      const before = await leaseIds();

      const err: unknown = await claim(prefix, { maxReservationMs: 1_800_000_000_000 }).catch(
        (e: unknown) => e,
      );

      expect(err).toBeInstanceOf(CoordinationDataError);
      expect((err as Error).message).toContain(`holds "${value}", not a reservation`);
      expect(await admin.get(etcdWorkerKey(prefix, DC, 0)).exists()).toBe(false);
      expect([...(await leaseIds())].filter((id) => !before.has(id))).toEqual([]);
    },
  );

  it('GIVEN no etcd at the endpoint THEN the claim fails with COORDINATION_FAILED within its timeout', async () => {
    const port = await closedPort();
    const started = performance.now();

    const err: unknown = await claim(freshPrefix(), {
      endpoints: [`http://127.0.0.1:${port}`],
      callTimeoutMs: 500,
    }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(CoordinationError);
    // Bounded by the call timeout (500 ms per call) rather than hanging; generous for a loaded machine.
    expect(performance.now() - started).toBeLessThan(15_000);
  });

  it('GIVEN a claim so slow that the grant fence lapses THEN it renews the lease and resolves with a valid fence', async () => {
    // A monotonic clock that jumps 400 ms at every read until frozen: the 1000 ms window lapses mid-claim.
    const clock = { t: 0, stepMs: 400 };
    const slow = await claim(freshPrefix(), {
      leaseTtlSeconds: 2,
      monotonicNowMs: () => (clock.t += clock.stepMs),
    });
    clock.stepMs = 0;
    expect(clock.t).toBeGreaterThan(1400); // past grant send time (400) + TTL − margin (1000)
    expect(slow.safeUntilMs()).toBeGreaterThan(clock.t);
  });

  it('GIVEN the claim timeout passes THEN it fails with COORDINATION_FAILED and revokes its lease', async () => {
    const clock = { t: 0 };
    const before = await leaseIds();

    const err: unknown = await claim(freshPrefix(), {
      claimTimeoutMs: 5000,
      monotonicNowMs: () => (clock.t += 3000),
    }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(CoordinationError);
    expect((err as Error).message).toContain('took longer than 5000 ms (claim timeout)');
    expect([...(await leaseIds())].filter((id) => !before.has(id))).toEqual([]);
  });

  it.each<[string, Partial<EtcdWorkerIdOptions>]>([
    ['no endpoints', { endpoints: [] }],
    ['a prefix without trailing slash', { prefix: '/snowflake' }],
    ['a TTL of 0 s', { leaseTtlSeconds: 0 }],
    ['a fractional TTL', { leaseTtlSeconds: 1.5 }],
    ['32 worker bits', { workerBits: 32 }],
    ['a negative datacenter ID', { datacenterId: -1 }],
    ['an empty owner', { owner: '' }],
    ['a margin as long as the TTL', { fenceMarginMs: TTL_S * 1000 }],
    ['a claim timeout of 0 ms', { claimTimeoutMs: 0 }],
    ['a largest reservation beyond what Date holds', { maxReservationMs: 9_000_000_000_000_000 }],
    ['a client cert without key', { tls: { caFile: '/nonexistent/ca.pem', certFile: '/nonexistent/c.pem' } }],
    ['an unreadable CA file', { tls: { caFile: '/nonexistent/ca.pem' } }],
  ])('GIVEN %s THEN it rejects with INVALID_CONFIG before touching etcd', async (_name, extra) => {
    await expect(claim(freshPrefix(), extra)).rejects.toBeInstanceOf(InvalidConfigError);
  });
});

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const HOLDER_SCRIPT = `
const { claimEtcdWorkerId } = require(process.env.CLAIM_JS);
const pino = require('pino');
claimEtcdWorkerId({ ...JSON.parse(process.env.CLAIM_OPTIONS), logger: pino({ level: 'silent' }) }).then(
  async (claim) => {
    await claim.storeReservation(Number(process.env.RESERVATION_MS));
    process.stdout.write(JSON.stringify({ workerId: claim.node.workerId }) + '\\n');
  },
  (err) => {
    process.stderr.write(String(err));
    process.exit(1);
  },
);
`;

/**
 * Runs the compiled claim (dist/, built by `npm test`'s pretest) in a child process that claims a worker
 * ID, stores `reservationMs`, reports its worker ID and then keeps the lease alive until killed.
 */
async function startHolderProcess(
  prefix: string,
  reservationMs: number,
): Promise<{ process: ChildProcess; workerId: number }> {
  const claimJs = path.join(ROOT, 'dist/worker-id/etcd/index.js');
  if (!existsSync(claimJs)) throw new Error(`${claimJs} is missing: run "npm run build" first`);
  const options = {
    endpoints: [etcd.endpoint],
    prefix,
    leaseTtlSeconds: TTL_S,
    datacenterId: DC,
    workerBits: 5,
    owner: 'doomed-child',
  };
  const child = spawn(process.execPath, ['-e', HOLDER_SCRIPT], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      CLAIM_JS: claimJs,
      CLAIM_OPTIONS: JSON.stringify(options),
      RESERVATION_MS: String(reservationMs),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`holder process did not claim within 10 s; stderr: ${stderr}`));
    }, 10_000);
    readline.createInterface({ input: child.stdout }).once('line', (l) => {
      clearTimeout(timer);
      resolve(l);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`holder process exited with ${code}; stderr: ${stderr}`));
    });
  });
  return { process: child, workerId: (JSON.parse(line) as { workerId: number }).workerId };
}
