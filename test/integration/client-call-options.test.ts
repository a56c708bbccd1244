import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import { IdClientError } from '../../packages/client/src/errors';
import { rejection } from '../helpers/client-rejection';
import type { AttemptEvent } from '../../packages/client/src/hooks';
import { createIdClient, type IdClient } from '../../packages/client/src/id-client';
import type { IdClientOptions } from '../../packages/client/src/options';
import { snowflakeProto } from '../../src/grpc/proto';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { startTestServer, type TestServer } from '../helpers/server';

// Per-call control (AbortSignal, deadline, metadata), errors that are not gRPC statuses, and the local
// decode with the layout fetched once, against real servers on 127.0.0.1 — plus a TCP port that
// accepts connections and never answers (a hung server), and, for metadata, a small grpc-js server
// that records what each call carried (the service does not echo request headers).

const servers: TestServer[] = [];
const clients: IdClient[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((t) => t.close()));
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function server(env: Record<string, string> = {}): Promise<string> {
  const t = await startTestServer({ SNOWFLAKE_WORKER_ID: '7', ...env });
  servers.push(t);
  return `127.0.0.1:${t.server.grpcPort}`;
}

/** A loopback port that accepts TCP connections and never says a word: every call to it hangs. */
async function hungServer(): Promise<string> {
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => tcp.close(resolve));
  });
  return `127.0.0.1:${(tcp.address() as net.AddressInfo).port}`;
}

/** What the recording server saw of each call: method and the metadata it carried. */
interface Recorded {
  readonly method: string;
  readonly metadata: grpc.Metadata;
}

/**
 * A grpc-js server of snowflake.v1.IdGenerator that records every call and refuses the first attempt
 * of each call with UNAVAILABLE (so the client retries), then answers NextId with 42 and BatchIds with
 * 1…count.
 */
async function recordingServer(): Promise<{ address: string; calls: Recorded[] }> {
  const calls: Recorded[] = [];
  const s = new grpc.Server();
  const answer = <Req, Res>(method: string, reply: (request: Req) => Res): grpc.handleUnaryCall<Req, Res> => {
    return (call, callback) => {
      calls.push({ method, metadata: call.metadata });
      if (calls.filter((c) => c.method === method).length % 2 === 1) {
        callback({ code: grpc.status.UNAVAILABLE, details: 'first attempt refused' });
      } else callback(null, reply(call.request));
    };
  };
  s.addService(snowflakeProto().IdGenerator.service, {
    NextId: answer('NextId', () => ({ id: '42' })),
    BatchIds: answer('BatchIds', (r: { count: number }) => ({
      ids: Array.from({ length: r.count }, (_, i) => String(i + 1)),
    })),
  });
  const port = await new Promise<number>((resolve, reject) => {
    s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => {
      if (err) reject(err);
      else resolve(p);
    });
  });
  closers.push(
    () =>
      new Promise((resolve) => {
        s.tryShutdown(() => {
          resolve();
        });
      }),
  );
  return { address: `127.0.0.1:${port}`, calls };
}

function client(options: IdClientOptions & { attempts?: AttemptEvent[] }): IdClient {
  const { attempts, ...rest } = options;
  const c = createIdClient({
    ...rest,
    hooks: { onAttempt: attempts === undefined ? undefined : (e) => attempts.push(e) },
  });
  clients.push(c);
  return c;
}

/** A client of a server that never answers, which would wait 10 minutes on its own (timeoutMs). */
async function hungClient(prefetch: IdClientOptions['prefetch']): Promise<IdClient> {
  return client({
    addresses: [await hungServer()],
    timeoutMs: 600_000,
    attemptTimeoutMs: 600_000,
    ...(prefetch !== undefined && { prefetch }),
  });
}

/** A client call's outcome after it settled, and how long it took in ms. */
async function timed(p: Promise<unknown>): Promise<{ err: IdClientError; ms: number }> {
  const started = performance.now();
  const err = await rejection(p);
  return { err, ms: performance.now() - started };
}

describe('AbortSignal and deadline of one call', () => {
  // Each client below would wait 10 minutes on its own (timeoutMs): the call ends only by its signal
  // or deadline. The time bounds are 20 times what the calls need, only to catch a missed abort.

  it.each<[string, IdClientOptions['prefetch'], (c: IdClient, signal: AbortSignal) => Promise<unknown>]>([
    ['batch', undefined, (c, signal) => c.batch(5, { signal })],
    ['nextId through the ID buffer', undefined, (c, signal) => c.nextId({ signal })],
    ['nextId without the buffer', { maxAgeMs: 0 }, (c, signal) => c.nextId({ signal })],
    ['info', undefined, (c, signal) => c.info({ signal })],
    ['decodeRemote', undefined, (c, signal) => c.decodeRemote(1n, { signal })],
    ['layout', undefined, (c, signal) => c.layout({ signal })],
  ])(
    '%s: an abort while the server hangs rejects at once with CANCELLED and the reason',
    async (_name, prefetch, call) => {
      const c = await hungClient(prefetch);
      const abort = new AbortController();
      const pending = call(c, abort.signal);
      await new Promise((r) => setTimeout(r, 100));
      const reason = new Error('request abandoned');
      abort.abort(reason);
      const { err, ms } = await timed(pending);
      expect(err.code).toBe('CANCELLED');
      expect(err.cause).toBe(reason);
      expect(ms).toBeLessThan(5000);
    },
  );

  it.each<[string, IdClientOptions['prefetch'], (c: IdClient, deadline: Date) => Promise<unknown>]>([
    ['batch', undefined, (c, deadline) => c.batch(5, { deadline })],
    ['nextId through the ID buffer', undefined, (c, deadline) => c.nextId({ deadline })],
    [
      'nextId without the buffer',
      { maxAgeMs: 0 },
      (c, deadline) => c.nextId({ deadline: deadline.getTime() }),
    ],
  ])(
    '%s: a deadline ends the call with DEADLINE_EXCEEDED, far before timeoutMs',
    async (_name, prefetch, call) => {
      const c = await hungClient(prefetch);
      const { err, ms } = await timed(call(c, new Date(Date.now() + 250)));
      expect(err.code).toBe('DEADLINE_EXCEEDED');
      expect(ms).toBeLessThan(5000);
    },
  );

  it('an aborted nextId never hands out its ID, not to a later call either', async () => {
    // One server, one refill at a time, handed out first come first served: the IDs callers get are
    // strictly ascending in call order. An ID taken for an aborted call and handed out later would
    // break that order.
    const attempts: AttemptEvent[] = [];
    const c = client({
      addresses: [await server()],
      prefetch: { bufferSize: 50, lowWaterMark: 10 },
      attempts,
    });
    const outcomes: Promise<bigint | IdClientError>[] = [];
    for (let i = 0; i < 600; i++) {
      const abort = new AbortController();
      outcomes.push(
        c.nextId({ signal: abort.signal }).catch((err: unknown) => {
          if (err instanceof IdClientError) return err;
          throw err;
        }),
      );
      // Every third call is abandoned at once, before its ID (buffered or awaited) reaches it.
      if (i % 3 === 0) abort.abort();
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 10));
    }
    const settled = await Promise.all(outcomes);
    const aborted = settled.filter((_outcome, i) => i % 3 === 0);
    const ids = settled.filter((o): o is bigint => typeof o === 'bigint');
    expect(aborted.map((o) => (o instanceof IdClientError ? o.code : 'resolved'))).toEqual(
      Array.from({ length: 200 }, () => 'CANCELLED'),
    );
    expect(ids).toHaveLength(400);
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    const later = await Promise.all(Array.from({ length: 100 }, () => c.nextId()));
    expect(later.every((id) => id > ids.at(-1)!)).toBe(true);
    expect(attempts.every((e) => e.method === 'BatchIds' && e.code === 'OK')).toBe(true);
  });

  it('a signal already aborted, or a deadline already past, sends nothing', async () => {
    const attempts: AttemptEvent[] = [];
    const c = client({ addresses: [await server()], attempts });
    for (const call of [
      () => c.batch(5, { signal: AbortSignal.abort() }),
      () => c.nextId({ signal: AbortSignal.abort() }),
      () => c.info({ signal: AbortSignal.abort() }),
    ]) {
      expect((await rejection(call())).code).toBe('CANCELLED');
    }
    for (const call of [
      () => c.batch(5, { deadline: Date.now() - 1 }),
      () => c.nextId({ deadline: new Date(0) }),
    ]) {
      expect((await rejection(call())).code).toBe('DEADLINE_EXCEEDED');
    }
    expect(attempts).toEqual([]);
  });
});

describe('metadata of one call', () => {
  it('is sent with every attempt of batch and of nextId (buffer off), retries included', async () => {
    const { address, calls } = await recordingServer();
    const c = client({ addresses: [address], prefetch: { maxAgeMs: 0 }, retry: { initialBackoffMs: 1 } });
    const metadata = { 'x-request-id': 'req-1', 'trace-bin': Buffer.from([1, 2, 3]) };
    expect(await c.batch(3, { metadata })).toEqual([1n, 2n, 3n]);
    const grpcMetadata = new grpc.Metadata();
    grpcMetadata.set('x-request-id', 'req-2');
    expect(await c.nextId({ metadata: grpcMetadata })).toBe(42n);

    expect(calls.map((r) => [r.method, r.metadata.get('x-request-id')])).toEqual([
      ['BatchIds', ['req-1']],
      ['BatchIds', ['req-1']],
      ['NextId', ['req-2']],
      ['NextId', ['req-2']],
    ]);
    for (const r of calls.slice(0, 2)) expect(r.metadata.get('trace-bin')).toEqual([Buffer.from([1, 2, 3])]);
  });

  it('is refused for nextId while the ID buffer is on, and nothing is sent', async () => {
    const { address, calls } = await recordingServer();
    const err = await rejection(
      client({ addresses: [address] }).nextId({ metadata: { 'x-request-id': 'r' } }),
    );
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('options.metadata cannot go with the ID buffer');
    expect(calls).toEqual([]);
  });
});

describe('errors that are not gRPC statuses', () => {
  it('a throw while making the call (grpc-js refusing a bad service config) is INTERNAL at once, not retried', async () => {
    const attempts: AttemptEvent[] = [];
    const address = await server();
    const c = client({
      addresses: [address],
      prefetch: { maxAgeMs: 0 },
      channelOptions: { 'grpc.service_config': '{not json' },
      attempts,
    });
    const err = await rejection(c.nextId());
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toContain(`NextId: calling ${address} threw SyntaxError`);
    expect(err.cause).toBeInstanceOf(Error);
    expect(err.attempts).toEqual([]);
    expect(attempts).toEqual([]);
  });

  it('bad call options are INVALID_ARGUMENT at once, nothing sent', async () => {
    const attempts: AttemptEvent[] = [];
    const c = client({ addresses: [await server()], attempts });
    const bad = [
      () => c.batch(5, { deadline: new Date('not a date') }),
      () => c.batch(5, { signal: 'stop' as unknown as AbortSignal }),
      () => c.info({ metadata: { 'Bad Key': 'v' } }),
    ];
    for (const call of bad) expect((await rejection(call())).code).toBe('INVALID_ARGUMENT');
    expect(attempts).toEqual([]);
  });
});

describe('decode: offline, by the layout fetched once', () => {
  const LAYOUT_ENV = {
    SNOWFLAKE_TIMESTAMP_BITS: '42',
    SNOWFLAKE_DATACENTER_BITS: '3',
    SNOWFLAKE_WORKER_BITS: '6',
    SNOWFLAKE_SEQUENCE_BITS: '12',
    SNOWFLAKE_DATACENTER_ID: '5',
    SNOWFLAKE_WORKER_ID: '33',
  };

  it('GIVEN a server with another layout THEN decode matches decodeRemote once layout() fetched it, with one GetInfo in all', async () => {
    const attempts: AttemptEvent[] = [];
    const c = client({ addresses: [await server(LAYOUT_ENV)], attempts });
    const [id] = await c.batch(1);
    const remote = await c.decodeRemote(id!);
    expect([remote.datacenterId, remote.workerId]).toEqual([5, 33]);
    // Before layout(): the default layout, which splits this server's IDs wrongly.
    expect(c.decode(id!)).not.toEqual(remote);

    const layout = await c.layout();
    expect(layout).toEqual({ ...DEFAULT_LAYOUT, timestampBits: 42, datacenterBits: 3, workerBits: 6 });
    expect(c.decode(id!)).toEqual(remote);
    expect(await c.layout()).toBe(layout);
    expect(attempts.filter((e) => e.method === 'GetInfo')).toHaveLength(1);
    // Offline: still decodes after close().
    await c.close();
    expect(c.decode(id!)).toEqual(remote);
  });

  it('GIVEN the layout in the options THEN decode uses it and layout() asks no server', async () => {
    const attempts: AttemptEvent[] = [];
    const layout = { ...DEFAULT_LAYOUT, timestampBits: 42, datacenterBits: 3, workerBits: 6 };
    const c = client({ addresses: [await server(LAYOUT_ENV)], layout, attempts });
    const [id] = await c.batch(1);
    expect(c.decode(id!)).toEqual(await c.decodeRemote(id!));
    expect(await c.layout()).toEqual(layout);
    expect(attempts.map((e) => e.method)).toEqual(['BatchIds', 'DecodeId']);
  });

  it('GIVEN an ID out of range THEN decode throws INVALID_ARGUMENT', () => {
    const c = client({ addresses: ['127.0.0.1:1'] });
    expect(() => c.decode(1n << 63n)).toThrow(IdClientError);
    expect(() => c.decode(-1n)).toThrow('decode takes a bigint from 0 to 9223372036854775807');
  });
});
