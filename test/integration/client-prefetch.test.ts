import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { AttemptEvent, RefillEvent, WasteEvent } from '../../packages/client/src/hooks';
import { createIdClient, type IdClient } from '../../packages/client/src/id-client';
import type { IdClientOptions } from '../../packages/client/src/options';
import { IdCodec } from '../../src/core/codec';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { ROOT } from '../helpers/process';
import { startTestServer, type TestServer } from '../helpers/server';

const codec = new IdCodec(DEFAULT_LAYOUT);

/** Every server and client a test opens; closed in afterEach. */
const servers: TestServer[] = [];
const clients: IdClient[] = [];

async function server(workerId: number, env: Record<string, string> = {}): Promise<string> {
  const t = await startTestServer({ SNOWFLAKE_WORKER_ID: String(workerId), ...env });
  servers.push(t);
  return `127.0.0.1:${t.server.grpcPort}`;
}

function client(options: IdClientOptions): IdClient {
  const c = createIdClient(options);
  clients.push(c);
  return c;
}

/**
 * `callers` concurrent loops until at least `total` IDs are taken (callers already awaiting nextId()
 * when the total is reached add theirs), each taking up to 64 IDs with tryNextId() and then one with
 * `await nextId()` (the hot-loop pattern), and yielding to I/O every few rounds.
 */
async function drain(c: IdClient, total: number, callers: number): Promise<bigint[]> {
  const ids: bigint[] = [];
  const loop = async () => {
    for (let round = 0; ids.length < total; round++) {
      for (let i = 0; i < 64 && ids.length < total; i++) {
        const id = c.tryNextId();
        if (id === undefined) break;
        ids.push(id);
      }
      if (ids.length < total) ids.push(await c.nextId());
      if (round % 16 === 0) await new Promise((r) => setImmediate(r));
    }
  };
  await Promise.all(Array.from({ length: callers }, loop));
  return ids;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((t) => t.close()));
});

describe('adaptive prefetch against real servers on 127.0.0.1:0', () => {
  it('tryNextId and nextId never return a duplicate across many refills (one server, default options)', async () => {
    const address = await server(3);
    const refills: RefillEvent[] = [];
    const c = client({ addresses: [address], hooks: { onRefill: (e) => refills.push(e) } });
    const ids = await drain(c, 300_000, 8);
    expect(ids.length).toBeGreaterThanOrEqual(300_000);
    expect(new Set(ids).size).toBe(ids.length);
    expect(refills.length).toBeGreaterThanOrEqual(10);
    expect(refills.every((r) => r.errorCode === undefined)).toBe(true);
    const stats = c.prefetchStats();
    expect(stats.handedOut).toBe(ids.length);
    expect(stats.failedRefills).toBe(0);
    // The refills grew with the demand: from the first small one to max_batch_size (10,000).
    expect(Math.max(...refills.map((r) => r.requested))).toBe(10_000);
    expect(refills[0]!.requested).toBeLessThan(1000);
  });

  it('spreads refills over three servers and never returns a duplicate across them', async () => {
    const addresses = await Promise.all([server(1), server(2), server(3)]);
    const attempts: AttemptEvent[] = [];
    const c = client({ addresses, hooks: { onAttempt: (e) => attempts.push(e) } });
    const ids = await drain(c, 300_000, 4);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids.map((id) => codec.decode(id).workerId))).toEqual(new Set([1, 2, 3]));
    const batchCalls = attempts.filter((a) => a.method === 'BatchIds');
    expect(batchCalls.every((a) => a.code === 'OK')).toBe(true);
    for (const address of addresses) {
      expect(batchCalls.filter((a) => a.address === address).length).toBeGreaterThanOrEqual(3);
    }
  });

  it('prints no warning with 12 refills in flight on one client (built client in its own process)', async () => {
    const addresses = await Promise.all([server(1), server(2), server(3)]);
    // Up to 12 refills share the client's abort signal; Node warns above 10 listeners unless told not to.
    const script = `
      const { createIdClient } = require(${JSON.stringify(path.join(ROOT, 'packages/client/dist/id-client.js'))});
      const c = createIdClient({ addresses: JSON.parse(process.env.ADDRESSES) });
      (async () => {
        let most = 0;
        for (let i = 0; i < 300000; i++) {
          await c.nextId();
          most = Math.max(most, c.prefetchStats().inFlightRefills);
        }
        await c.close();
        process.stdout.write(String(most));
      })();
    `;
    const child = spawn(process.execPath, ['-e', script], {
      env: { PATH: process.env.PATH ?? '', ADDRESSES: JSON.stringify(addresses) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(Number(stdout)).toBeGreaterThan(10);
  }, 60_000);

  it('hands out no ID older than maxAgeMs, judged by the timestamp in the ID itself', async () => {
    const address = await server(4);
    const waste: WasteEvent[] = [];
    const maxAgeMs = 100;
    const c = client({
      addresses: [address],
      prefetch: { maxAgeMs },
      hooks: { onWaste: (e) => waste.push(e) },
    });
    // The ID's timestamp is whole ms, and the server's time base may differ from Date.now() by a few ms.
    const slackMs = 10;
    const ageOf = (id: bigint) => Date.now() - codec.decode(id).timestampMs;
    const buffered: number[] = [];
    const waited: { ageMs: number; issuedAfterWaitBegan: boolean }[] = [];
    // Bursts of demand separated by pauses of up to 2.5 × maxAgeMs: the buffer holds IDs that age out.
    for (let round = 0; round < 24; round++) {
      for (let i = 0; i < 2000; i++) {
        const id = c.tryNextId();
        if (id !== undefined) {
          buffered.push(ageOf(id));
          continue;
        }
        const waitBegan = Date.now();
        const fresh = await c.nextId();
        waited.push({
          ageMs: ageOf(fresh),
          issuedAfterWaitBegan: codec.decode(fresh).timestampMs >= waitBegan - slackMs,
        });
      }
      await new Promise((r) => setTimeout(r, (round % 6) * 50));
    }
    // Taken from the buffer: never older than maxAgeMs.
    expect(buffered.length).toBeGreaterThan(0);
    expect(Math.max(...buffered)).toBeLessThanOrEqual(maxAgeMs + slackMs);
    // A caller that waited gets an ID within maxAgeMs, or one issued after it began to wait (as fresh as
    // any answer could be: on a loaded machine a refill's round trip alone may exceed maxAgeMs).
    expect(waited.length).toBeGreaterThan(0);
    expect(waited.filter((w) => w.ageMs > maxAgeMs + slackMs && !w.issuedAfterWaitBegan)).toEqual([]);
    expect(c.prefetchStats().droppedForAge).toBeGreaterThan(0);
    expect(waste.filter((w) => w.reason === 'expired').length).toBeGreaterThan(0);
  });

  it("learns a server's smaller max_batch_size (GetInfo, or the refusal's ErrorInfo) and serves every caller", async () => {
    const address = await server(5, { SNOWFLAKE_MAX_BATCH_SIZE: '50' });
    const refills: RefillEvent[] = [];
    const c = client({ addresses: [address], hooks: { onRefill: (e) => refills.push(e) } });
    const ids = await drain(c, 20_000, 4);
    expect(new Set(ids).size).toBe(ids.length);
    expect(c.prefetchStats()).toMatchObject({ failedRefills: 0, lostWithFailedCalls: 0 });
    const ok = refills.filter((r) => r.errorCode === undefined);
    expect(ok.every((r) => r.requested <= 50)).toBe(true);
    // Refused refills (if the first was sent before GetInfo answered) issued nothing and were not retried as is.
    expect(refills.filter((r) => r.errorCode !== undefined).every((r) => r.requested > 50)).toBe(true);
  });

  it('with maxAgeMs 0 tryNextId() is always undefined and makes no call; stats stay zero', async () => {
    const address = await server(6);
    const attempts: AttemptEvent[] = [];
    const c = client({
      addresses: [address],
      prefetch: { maxAgeMs: 0 },
      hooks: { onAttempt: (e) => attempts.push(e) },
    });
    expect(c.tryNextId()).toBeUndefined();
    await c.nextId();
    expect(c.tryNextId()).toBeUndefined();
    expect(attempts.map((a) => a.method)).toEqual(['NextId']);
    expect(c.prefetchStats()).toMatchObject({ handedOut: 0, refills: 0, buffered: 0 });
  });

  it('close() counts the buffered IDs as dropped on close and tryNextId() then returns undefined', async () => {
    const address = await server(7);
    const waste: WasteEvent[] = [];
    const c = client({ addresses: [address], hooks: { onWaste: (e) => waste.push(e) } });
    await c.nextId();
    const buffered = c.prefetchStats().buffered;
    expect(buffered).toBeGreaterThan(0);
    await c.close();
    expect(c.tryNextId()).toBeUndefined();
    expect(c.prefetchStats().droppedOnClose).toBeGreaterThanOrEqual(buffered);
    expect(waste.some((w) => w.reason === 'closed')).toBe(true);
  });
});
