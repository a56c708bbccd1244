import * as grpc from '@grpc/grpc-js';
import { packageDefinition, SERVICE_NAME } from './grpc/proto';

/**
 * Container HEALTHCHECK: asks grpc.health.v1.Health/Check for snowflake.v1.IdGenerator and exits 0 only
 * on SERVING (1 otherwise, within 3 s). Target: SNOWFLAKE_HEALTHCHECK_ADDR, else the port of
 * SNOWFLAKE_GRPC_ADDR on 127.0.0.1, else 127.0.0.1:50051.
 */
function target(env: NodeJS.ProcessEnv): string {
  if (env.SNOWFLAKE_HEALTHCHECK_ADDR) return env.SNOWFLAKE_HEALTHCHECK_ADDR;
  const port = /:(\d+)$/.exec(env.SNOWFLAKE_GRPC_ADDR ?? '')?.[1] ?? '50051';
  return `127.0.0.1:${port}`;
}

type HealthClient = grpc.Client & {
  Check(
    req: { service: string },
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
  ): void;
};

const addr = target(process.env);
const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as {
  grpc: { health: { v1: { Health: new (addr: string, creds: grpc.ChannelCredentials) => HealthClient } } };
};
const client = new proto.grpc.health.v1.Health(addr, grpc.credentials.createInsecure());
client.Check({ service: SERVICE_NAME }, { deadline: Date.now() + 3000 }, (err, res) => {
  client.close();
  if (err) {
    process.stderr.write(`health check of ${addr} failed: ${err.message}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`${addr} ${SERVICE_NAME}: ${res?.status ?? 'UNKNOWN'}\n`);
  process.exitCode = res?.status === 'SERVING' ? 0 : 1;
});
