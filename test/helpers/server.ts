import * as fs from 'node:fs';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server';
import type { IdGeneratorClient } from '../../src/generated/snowflake/v1/IdGenerator';
import { FakeClock } from './fake-clock';
import { idGeneratorClient } from './grpc-client';
import { tempStateDir } from './temp-dir';

export { tempStateDir };

/** A server on 127.0.0.1:0 (gRPC and /metrics) with a connected client. */
export interface TestServer {
  readonly server: RunningServer;
  readonly client: IdGeneratorClient;
  /** Closes the client and stops the server; always await it in afterAll/afterEach. */
  close(): Promise<void>;
}

/**
 * Boots the real server on loopback with `env` on top of test defaults (its own temporary state dir, a
 * 10 s reservation lead) and a silent logger, and waits until it serves. The lead: a reservation write
 * may take half of it before the keeper treats it as stalled and refuses (correctly); on a busy CI disk
 * an fsync can take over the 1 s the default 2 s lead allows, which would fail tests that are not about
 * slow disks. Tests about the reservation set SNOWFLAKE_RESERVATION_MS themselves.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: ServerOptions = {},
): Promise<TestServer> {
  const stateDir = tempStateDir();
  const { config } = loadConfig(
    {
      SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
      SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
      SNOWFLAKE_STATE_DIR: stateDir,
      SNOWFLAKE_RESERVATION_MS: '10000',
      ...env,
    },
    Date.now(),
  );
  const server = await startServer(config, { logger: pino({ level: 'silent' }), ...options });
  // A start that fails after listening (e.g. the etcd claim) must not leave its ports and lock behind.
  await server.ready.catch(async (err: unknown) => {
    await server.stop();
    throw err;
  });
  const client = idGeneratorClient(server.grpcPort);
  return {
    server,
    client,
    async close() {
      client.close();
      await server.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * {@link startTestServer} on fake wall and monotonic clocks (wall at the real time, monotonic at 0) that
 * stand still until the test moves them, with SNOWFLAKE_MAX_CLOCK_SKEW_MS=1000 unless `env` says otherwise:
 * stepping `wall` back by more than that, after an ID was issued, makes the server refuse until the test ends.
 */
export async function startTestServerOnFakeClocks(
  env: Record<string, string> = {},
  options: ServerOptions = {},
): Promise<TestServer & { readonly wall: FakeClock; readonly mono: FakeClock }> {
  const wall = new FakeClock(Date.now());
  const mono = new FakeClock(0);
  const t = await startTestServer(
    { SNOWFLAKE_MAX_CLOCK_SKEW_MS: '1000', ...env },
    { ...options, clockSources: { wallMs: () => wall.nowMs(), monotonicMs: () => mono.nowMs() } },
  );
  return { ...t, wall, mono };
}
