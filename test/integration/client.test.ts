import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IdClientError } from '../../packages/client/src/errors';
import { rejection } from '../helpers/client-rejection';
import type { AttemptEvent, ExpiredEvent, RefillEvent } from '../../packages/client/src/hooks';
import { createIdClient, type IdClient } from '../../packages/client/src/id-client';
import type { IdClientOptions } from '../../packages/client/src/options';
import { IdCodec } from '../../src/core/codec';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { startTestServer, type TestServer } from '../helpers/server';

const codec = new IdCodec(DEFAULT_LAYOUT);
const workerOf = (id: bigint) => codec.decode(id).workerId;

/** Every server, client and temp dir a test opens; closed in afterEach. */
const servers: TestServer[] = [];
const clients: IdClient[] = [];
const dirs: string[] = [];

async function server(
  workerId: number,
  env: Record<string, string> = {},
): Promise<{ t: TestServer; address: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-client-test-'));
  dirs.push(dir);
  const t = await startTestServer({
    SNOWFLAKE_WORKER_ID: String(workerId),
    SNOWFLAKE_STATE_DIR: dir,
    ...env,
  });
  servers.push(t);
  return { t, address: `127.0.0.1:${t.server.grpcPort}` };
}

/** A loopback address nothing listens on: a server's port right after it stopped. */
async function deadAddress(): Promise<string> {
  const { t, address } = await server(31);
  await t.close();
  return address;
}

function client(options: IdClientOptions & { attempts?: AttemptEvent[] }): IdClient {
  const { attempts, ...rest } = options;
  const c = createIdClient({
    ...rest,
    hooks: { ...rest.hooks, onAttempt: attempts === undefined ? undefined : (e) => attempts.push(e) },
  });
  clients.push(c);
  return c;
}

/** Polls `condition` every 5 ms for at most `timeoutMs`. */
async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited >= timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((t) => t.close()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('createIdClient against real servers on 127.0.0.1:0', () => {
  it('round-robin spreads calls evenly over two servers with different worker IDs', async () => {
    const [a, b] = await Promise.all([server(1), server(2)]);
    const c = client({ addresses: [a.address, b.address], prefetch: { maxAgeMs: 0 } });
    const workers: number[] = [];
    for (let i = 0; i < 10; i++) workers.push((await c.info()).workerId);
    for (let i = 0; i < 10; i++) workers.push(workerOf(await c.nextId()));
    expect(workers).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 1 : 2)));
  });

  it('pick-first sends every call to the first server, then fails over to the second when it stops', async () => {
    const [a, b] = await Promise.all([server(1), server(2)]);
    const attempts: AttemptEvent[] = [];
    const c = client({ addresses: [a.address, b.address], policy: 'pick-first', attempts });
    const before = await Promise.all(Array.from({ length: 5 }, () => c.batch(10)));
    expect(new Set(before.flat().map(workerOf))).toEqual(new Set([1]));
    await a.t.close();
    const after = await Promise.all(Array.from({ length: 5 }, () => c.batch(10)));
    expect(new Set(after.flat().map(workerOf))).toEqual(new Set([2]));
    expect(
      attempts.filter((e) => e.address === a.address && e.code === 'UNAVAILABLE').length,
    ).toBeGreaterThanOrEqual(1);
  });

  it('keeps issuing unique IDs through the other server when one stops during use', async () => {
    const [a, b] = await Promise.all([server(1), server(2)]);
    const attempts: AttemptEvent[] = [];
    const c = client({
      addresses: [a.address, b.address],
      prefetch: { bufferSize: 100, lowWaterMark: 50 },
      attempts,
    });
    const ids: bigint[] = [];
    const round = async () => {
      ids.push(...(await Promise.all(Array.from({ length: 300 }, () => c.nextId()))));
    };
    for (let i = 0; i < 3; i++) await round();
    const stoppedAt = attempts.length;
    await Promise.all([round(), a.t.close()]);
    for (let i = 0; i < 5; i++) await round();

    expect(ids).toHaveLength(2700);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids.map(workerOf))).toEqual(new Set([1, 2]));
    const later = attempts.slice(stoppedAt);
    expect(
      later.filter((e) => e.address === a.address && e.code === 'UNAVAILABLE').length,
    ).toBeGreaterThanOrEqual(1);
    // Once A is gone, every successful refill comes from B.
    const lastFailureAtA = later.map((e) => e.address === a.address && e.code !== 'OK').lastIndexOf(true);
    expect(later.slice(lastFailureAtA + 1).every((e) => e.address === b.address && e.code === 'OK')).toBe(
      true,
    );
  });

  it('serves 2,000 concurrent nextId() calls with unique IDs from a few BatchIds calls', async () => {
    const { address } = await server(3);
    const attempts: AttemptEvent[] = [];
    const refills: RefillEvent[] = [];
    const c = client({ addresses: [address], attempts, hooks: { onRefill: (e) => refills.push(e) } });
    const ids = await Promise.all(Array.from({ length: 2000 }, () => c.nextId()));
    expect(new Set(ids).size).toBe(2000);
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    expect(attempts.every((e) => e.code === 'OK')).toBe(true);
    // The adaptive buffer asks one server's max_batch_size once, next to its first refill.
    expect(attempts.filter((e) => e.method === 'GetInfo')).toHaveLength(1);
    const batchCalls = attempts.filter((e) => e.method === 'BatchIds').length;
    expect(batchCalls).toBeGreaterThanOrEqual(2);
    expect(batchCalls).toBeLessThanOrEqual(4);
    expect(refills.reduce((n, r) => n + r.received, 0)).toBeGreaterThanOrEqual(2000);
  });

  it('answers nextId() from the buffer without a round trip until the low-water mark', async () => {
    const { address } = await server(3);
    const attempts: AttemptEvent[] = [];
    const c = client({ addresses: [address], prefetch: { bufferSize: 50, lowWaterMark: 10 }, attempts });
    for (let i = 0; i < 40; i++) await c.nextId();
    expect(attempts.map((e) => e.method)).toEqual(['BatchIds']);
    // The 41st ID leaves 9 < 10 buffered: it is still answered at once (a microtask, before any I/O), and
    // a background refill follows.
    await c.nextId();
    expect(attempts).toHaveLength(1);
    await waitFor(() => attempts.length === 2);
    expect(attempts.map((e) => e.method)).toEqual(['BatchIds', 'BatchIds']);
  });

  it('drops buffered IDs older than maxAgeMs (injected clock) and fetches fresh ones', async () => {
    const { address } = await server(4);
    const clock = { ms: 0 };
    const attempts: AttemptEvent[] = [];
    const expired: ExpiredEvent[] = [];
    const c = client({
      addresses: [address],
      prefetch: { bufferSize: 10, lowWaterMark: 0, maxAgeMs: 1000 },
      clock: () => clock.ms,
      attempts,
      hooks: { onExpired: (e) => expired.push(e) },
    });
    const first = await c.nextId();
    clock.ms = 1000;
    const second = await c.nextId();
    expect(second).toBe(first + 1n);
    expect(attempts).toHaveLength(1);

    clock.ms = 1001;
    const third = await c.nextId();
    expect(expired).toEqual([{ count: 8 }]);
    expect(attempts).toHaveLength(2);
    // Not first + 2: the eight left in the old batch were dropped; the new one comes from a new batch.
    expect(third > second + 8n).toBe(true);
  });

  it('with maxAgeMs 0 every nextId() is one NextId call', async () => {
    const { address } = await server(5);
    const attempts: AttemptEvent[] = [];
    const c = client({ addresses: [address], prefetch: { maxAgeMs: 0 }, attempts });
    const ids = [await c.nextId(), await c.nextId(), await c.nextId()];
    expect(ids[2]! > ids[1]! && ids[1]! > ids[0]!).toBe(true);
    expect(attempts.map((e) => e.method)).toEqual(['NextId', 'NextId', 'NextId']);
  });

  it.each([
    ['nextId (through the buffer)', (c: IdClient) => c.nextId()],
    ['nextId (buffer off)', (c: IdClient) => c.nextId()],
    ['batch', (c: IdClient) => c.batch(5)],
    ['info', (c: IdClient) => c.info()],
  ])('%s: every server down → ALL_SERVERS_UNAVAILABLE within the call deadline', async (name, call) => {
    const addresses = [await deadAddress(), await deadAddress()];
    const attempts: AttemptEvent[] = [];
    const c = client({
      addresses,
      timeoutMs: 800,
      retry: { maxAttempts: 100, initialBackoffMs: 20, maxBackoffMs: 100 },
      prefetch: name.includes('off') ? { maxAgeMs: 0 } : {},
      attempts,
    });
    const started = performance.now();
    const err = await rejection(call(c));
    // Bounded by the 800 ms call deadline; the slack only absorbs a loaded CI machine's scheduling delay.
    expect(performance.now() - started).toBeLessThan(800 + 2000);
    expect(err.code).toBe('ALL_SERVERS_UNAVAILABLE');
    expect(err.message).toContain(addresses[0]);
    expect(err.message).toContain(addresses[1]);
    expect(new Set(err.attempts.map((f) => f.address))).toEqual(new Set(addresses));
    expect(attempts.length).toBeGreaterThanOrEqual(4);
    // Every attempt is refused; only the last may instead be cut short by the call deadline.
    expect(attempts.slice(0, -1).every((e) => e.code === 'UNAVAILABLE')).toBe(true);
    expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain(attempts.at(-1)!.code);
  });

  it('stops after maxAttempts when the deadline is far away', async () => {
    const addresses = [await deadAddress()];
    const attempts: AttemptEvent[] = [];
    const c = client({
      addresses,
      retry: { maxAttempts: 3, initialBackoffMs: 1 },
      attempts,
      prefetch: { maxAgeMs: 0 },
    });
    const err = await rejection(c.nextId());
    expect(err.code).toBe('ALL_SERVERS_UNAVAILABLE');
    expect(err.attempts).toHaveLength(3);
    expect(attempts).toHaveLength(3);
  });

  it.each<[string, (c: IdClient) => Promise<unknown>, string | undefined, number]>([
    ['batch above max_batch_size (server check)', (c) => c.batch(10_001), 'BATCH_SIZE_OUT_OF_RANGE', 1],
    [
      'decodeRemote of an ID with bit 63 set (server check)',
      (c) => c.decodeRemote(1n << 63n),
      'INVALID_ID',
      1,
    ],
    ['batch(0) (local check)', (c) => c.batch(0), undefined, 0],
    ['batch(1.5) (local check)', (c) => c.batch(1.5), undefined, 0],
    ['batch(2^32) (local check)', (c) => c.batch(2 ** 32), undefined, 0],
    ['decodeRemote(-1n) (local check)', (c) => c.decodeRemote(-1n), undefined, 0],
    ['decodeRemote(2^64) (local check)', (c) => c.decodeRemote(1n << 64n), undefined, 0],
  ])('%s is INVALID_ARGUMENT and never retried', async (_name, call, serverCode, rpcs) => {
    const [a, b] = await Promise.all([server(1), server(2)]);
    const attempts: AttemptEvent[] = [];
    const c = client({ addresses: [a.address, b.address], attempts });
    const err = await rejection(call(c));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.serverCode).toBe(serverCode);
    expect(attempts).toHaveLength(rpcs);
    expect(attempts.every((e) => e.code === 'INVALID_ARGUMENT')).toBe(true);
  });

  it("carries the server's google.rpc.ErrorInfo: reason, domain and the allowed range", async () => {
    const { address } = await server(7, { SNOWFLAKE_MAX_BATCH_SIZE: '500' });
    const err = await rejection(client({ addresses: [address] }).batch(501));
    expect([err.code, err.serverCode]).toEqual(['INVALID_ARGUMENT', 'BATCH_SIZE_OUT_OF_RANGE']);
    expect(err.errorInfo).toEqual({
      reason: 'BATCH_SIZE_OUT_OF_RANGE',
      domain: 'snowflake.v1',
      metadata: { count: '501', min: '1', max: '500' },
    });
    expect(err.attempts.map((a) => a.errorInfo)).toEqual([err.errorInfo]);
  });

  it('batch returns strictly ascending IDs of one server; decodeRemote, decode and info describe them', async () => {
    const { address } = await server(6, { SNOWFLAKE_DATACENTER_ID: '9', SNOWFLAKE_MAX_BATCH_SIZE: '500' });
    const c = client({ addresses: [address] });
    const before = Date.now();
    const ids = await c.batch(500);
    expect(ids).toHaveLength(500);
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);

    const d = await c.decodeRemote(ids[0]!);
    expect(c.decode(ids[0]!)).toEqual(d);
    const local = codec.decode(ids[0]!);
    expect(d).toEqual({
      id: ids[0],
      timestampMs: local.timestampMs,
      timestamp: new Date(local.timestampMs).toISOString(),
      datacenterId: 9,
      workerId: 6,
      sequence: local.sequence,
    });
    expect(d.timestampMs).toBeGreaterThanOrEqual(before - 1);

    expect(await c.info()).toEqual({
      address,
      epochMs: DEFAULT_LAYOUT.epochMs,
      timestampBits: 41,
      datacenterBits: 5,
      workerBits: 5,
      sequenceBits: 12,
      timeUnitMs: 1,
      datacenterId: 9,
      workerId: 6,
      maxBatchSize: 500,
    });
  });

  it('close() rejects pending and later calls with CLIENT_CLOSED', async () => {
    const addresses = [await deadAddress()];
    const c = client({
      addresses,
      timeoutMs: 60_000,
      retry: { maxAttempts: 100, initialBackoffMs: 5000, maxBackoffMs: 5000 },
    });
    const pending = [c.nextId(), c.batch(3)];
    await new Promise((r) => setTimeout(r, 100));
    await c.close();
    for (const p of pending) expect((await rejection(p)).code).toBe('CLIENT_CLOSED');
    expect((await rejection(c.info())).code).toBe('CLIENT_CLOSED');
    await c.close();
  });

  it('rejects bad options synchronously with INVALID_OPTIONS', () => {
    let caught: unknown;
    try {
      clients.push(createIdClient({ addresses: [] }));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(IdClientError);
    expect((caught as IdClientError).code).toBe('INVALID_OPTIONS');
  });
});
