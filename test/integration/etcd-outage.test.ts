import { Etcd3 } from 'etcd3';
import pino from 'pino';
import type { EtcdKeepaliveEvent, EtcdWorkerIdClaim } from '../../src/worker-id/etcd/etcd-claim';
import { claimEtcdWorkerId } from '../../src/worker-id/etcd';
import { startEtcd, type EtcdServer } from '../helpers/etcd';

const TTL_S = 2;
const TTL_MS = TTL_S * 1000;
const MARGIN_MS = 1000; // the default for a 2 s TTL
const PREFIX = '/snowflake-outage/';
const silent = pino({ level: 'silent' });

let etcd: EtcdServer;
const claims: EtcdWorkerIdClaim[] = [];

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function claim(hooks?: { keepalive: (e: EtcdKeepaliveEvent) => void }): Promise<EtcdWorkerIdClaim> {
  const c = await claimEtcdWorkerId({
    endpoints: [etcd.endpoint],
    prefix: PREFIX,
    leaseTtlSeconds: TTL_S,
    datacenterId: 0,
    workerBits: 5,
    owner: 'outage-test',
    logger: silent,
    ...(hooks && { hooks }),
  });
  claims.push(c);
  return c;
}

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  await Promise.all(claims.splice(0).map((c) => c.release()));
  await etcd.dispose();
});

describe('etcd worker-ID claim when etcd goes away', () => {
  it('GIVEN etcd stops THEN the fence lapses before the TTL can end on etcd, and a new claim works once etcd is back', async () => {
    const events: EtcdKeepaliveEvent[] = [];
    const old = await claim({ keepalive: (e) => events.push(e) });
    const lost: string[] = [];
    old.onLost((r) => lost.push(r));
    await sleep(800); // a couple of successful keepalive rounds (every ≈ 333 ms)
    expect(events.filter((e) => e.ok).length).toBeGreaterThanOrEqual(2);

    await etcd.stop();
    const stoppedAt = performance.now();
    const lastOk = events.filter((e) => e.ok).at(-1)!;

    // Bounded poll: the fence must turn invalid (or the claim be lost) on its own.
    let invalidAt = Infinity;
    for (let i = 0; i < 1000 && invalidAt === Infinity; i++) {
      const now = performance.now();
      if (now >= old.safeUntilMs()) invalidAt = now;
      else await sleep(10);
    }

    expect(invalidAt).toBeLessThan(Infinity);
    // The deadline is the last acknowledged SEND + TTL − margin, strictly before etcd could expire it
    // (checked on the deadline itself, not on when this poll happened to look).
    expect(old.safeUntilMs()).toBeLessThanOrEqual(lastOk.sentAtMs + TTL_MS - MARGIN_MS);
    expect(old.safeUntilMs()).toBeLessThan(stoppedAt + TTL_MS);
    expect(events.some((e) => !e.ok)).toBe(true);

    await etcd.restart();
    const fresh = await claim();
    expect(fresh.safeUntilMs()).toBeGreaterThan(performance.now());

    // The old claim either recovers (etcd extends leases when it elects a leader) or is reported lost;
    // it must never be valid while its key does not carry its lease, nor share an ID with the new one.
    const admin = new Etcd3({ hosts: etcd.endpoint });
    try {
      for (let i = 0; i < 20; i++) {
        const valid = performance.now() < old.safeUntilMs();
        const kv = (await admin.get(old.key).exec()).kvs[0];
        if (valid) {
          expect(kv?.lease).toBe(old.leaseId);
          expect(fresh.node.workerId).not.toBe(old.node.workerId);
        }
        if (!old.held) break;
        await sleep(100);
      }
    } finally {
      admin.close();
    }
    expect(lost.length).toBeLessThanOrEqual(1);
  });
});
