import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import * as net from 'node:net';
import { IdClientError } from '../../packages/client/src/errors';
import { probeHealth } from '../../packages/client/src/health-check';

// probeHealth, the library call behind `snowflake health`, against real grpc-js servers on loopback.

let server: grpc.Server;
let addr: string;
let bare: grpc.Server;
let bareAddr: string;
let deadAddr: string;

function bind(s: grpc.Server): Promise<string> {
  return new Promise((resolve, reject) => {
    s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(err);
      else resolve(`127.0.0.1:${port}`);
    });
  });
}

beforeAll(async () => {
  server = new grpc.Server();
  new HealthImplementation({ '': 'SERVING', ready: 'SERVING', starting: 'NOT_SERVING' }).addToServer(server);
  addr = await bind(server);
  // A gRPC server without the health service.
  bare = new grpc.Server();
  bareAddr = await bind(bare);
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  deadAddr = `127.0.0.1:${(probe.address() as net.AddressInfo).port}`;
  await new Promise<void>((resolve) => {
    probe.close(() => {
      resolve();
    });
  });
});

afterAll(() => {
  server.forceShutdown();
  bare.forceShutdown();
});

describe('probeHealth: one health check, classified as grpc_health_probe does', () => {
  it.each<[string, string, object]>([
    ['SERVING', 'ready', { outcome: 'answered', status: 'SERVING' }],
    ['NOT_SERVING', 'starting', { outcome: 'answered', status: 'NOT_SERVING' }],
    ['the whole server', '', { outcome: 'answered', status: 'SERVING' }],
    ['an unknown service', 'nope', { outcome: 'rpc-failed', grpcCode: grpc.status.NOT_FOUND }],
  ])('GIVEN %s (service %j) THEN its outcome', async (_name, service, expected) => {
    expect(await probeHealth(addr, { service, timeoutMs: 10_000 })).toMatchObject(expected);
  });

  it('GIVEN a gRPC server without the health service THEN rpc-failed UNIMPLEMENTED', async () => {
    expect(await probeHealth(bareAddr, { timeoutMs: 10_000 })).toMatchObject({
      outcome: 'rpc-failed',
      grpcCode: grpc.status.UNIMPLEMENTED,
    });
  });

  it('GIVEN nothing listening THEN connection-failed, with the refusal in details', async () => {
    const r = await probeHealth(deadAddr, { timeoutMs: 10_000 });
    expect(r).toMatchObject({ outcome: 'connection-failed', grpcCode: grpc.status.UNAVAILABLE });
    expect(r.outcome === 'answered' ? '' : r.details).toContain('ECONNREFUSED');
  });

  it.each<[string, string, object, RegExp]>([
    ['a bad address', 'localhost', {}, /address "localhost" is not a server address/],
    [
      'a timeout of 0',
      '127.0.0.1:1',
      { timeoutMs: 0 },
      /timeoutMs must be an integer from 1 to 600000; got 0/,
    ],
  ])('GIVEN %s THEN it throws INVALID_OPTIONS at once', (_name, address, options, message) => {
    let caught: unknown;
    try {
      void probeHealth(address, options);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(IdClientError);
    expect((caught as IdClientError).code).toBe('INVALID_OPTIONS');
    expect((caught as IdClientError).message).toMatch(message);
  });
});
