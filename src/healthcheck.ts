import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import { probeHealth } from '@snowflake-id/client';
import { SERVICE_NAME } from '@snowflake-id/client/contract';

/**
 * Container HEALTHCHECK and Kubernetes exec probe: asks grpc.health.v1.Health/Check for the service
 * named by its one argument — `snowflake.v1.IdGenerator` (readiness, the default) or `liveness` — and
 * exits 0 only on SERVING (1 otherwise, within 3 s; 2 for more than one argument). Target:
 * SNOWFLAKE_HEALTHCHECK_ADDR, else the port of SNOWFLAKE_GRPC_ADDR on 127.0.0.1, else 127.0.0.1:50051.
 * It reads the server's own environment: TLS when SNOWFLAKE_TLS_CERT_FILE is set, and under mutual TLS
 * (SNOWFLAKE_TLS_CLIENT_CA_FILE) it presents SNOWFLAKE_HEALTHCHECK_CERT_FILE/_KEY_FILE, else the
 * server's own certificate and key. The server's certificate is verified only when
 * SNOWFLAKE_HEALTHCHECK_CA_FILE names a CA: it must then carry SNOWFLAKE_HEALTHCHECK_SERVER_NAME (default
 * localhost).
 */
function target(env: NodeJS.ProcessEnv): string {
  if (env.SNOWFLAKE_HEALTHCHECK_ADDR) return env.SNOWFLAKE_HEALTHCHECK_ADDR;
  const port = /:(\d+)$/.exec(env.SNOWFLAKE_GRPC_ADDR ?? '')?.[1] ?? '50051';
  return `127.0.0.1:${port}`;
}

/** The contents of the PEM file named by `variable`; throws a message naming both if unreadable. */
function readPem(env: NodeJS.ProcessEnv, variable: string): Buffer {
  const file = env[variable] ?? '';
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(
      `${variable}=${file}: cannot be read (${err instanceof Error ? err.message : String(err)})`,
      { cause: err },
    );
  }
}

/** Plaintext, or TLS (with a client certificate under mutual TLS) when the server has TLS on. */
function channel(env: NodeJS.ProcessEnv): { creds: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  if (!env.SNOWFLAKE_TLS_CERT_FILE) return { creds: grpc.credentials.createInsecure(), options: {} };
  // By default the server's certificate is not verified: the probe dials its own container, where a
  // verified identity proves nothing more (the kubelet's HTTPS probes do not verify either), and the
  // certificate names the Service, not 127.0.0.1.
  // Unless a CA is given to verify it with (SNOWFLAKE_HEALTHCHECK_CA_FILE).
  const ca = env.SNOWFLAKE_HEALTHCHECK_CA_FILE ? readPem(env, 'SNOWFLAKE_HEALTHCHECK_CA_FILE') : null;
  const verify: grpc.VerifyOptions = { rejectUnauthorized: ca !== null };
  // A host name as server name: Node warns when the TLS server name is an IP address such as 127.0.0.1.
  const options = {
    'grpc.ssl_target_name_override': (ca !== null && env.SNOWFLAKE_HEALTHCHECK_SERVER_NAME) || 'localhost',
  };
  if (!env.SNOWFLAKE_TLS_CLIENT_CA_FILE) {
    return { creds: grpc.credentials.createSsl(ca, null, null, verify), options };
  }
  const own = !env.SNOWFLAKE_HEALTHCHECK_CERT_FILE;
  const key = readPem(env, own ? 'SNOWFLAKE_TLS_KEY_FILE' : 'SNOWFLAKE_HEALTHCHECK_KEY_FILE');
  const cert = readPem(env, own ? 'SNOWFLAKE_TLS_CERT_FILE' : 'SNOWFLAKE_HEALTHCHECK_CERT_FILE');
  return { creds: grpc.credentials.createSsl(ca, key, cert, verify), options };
}

if (process.argv.length > 3) {
  process.stderr.write(
    'usage: node dist/healthcheck.js [health service name, default snowflake.v1.IdGenerator]\n',
  );
  process.exit(2);
}
const service = process.argv[2] ?? SERVICE_NAME;
const addr = target(process.env);
let connection: ReturnType<typeof channel>;
try {
  connection = channel(process.env);
} catch (err) {
  process.stderr.write(
    `health check of ${addr} failed: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
}
// The client package's probe: the same call and classification as `snowflake health`; this script keeps
// the container's exit codes (0 SERVING, 1 anything else).
// (A malformed address makes probeHealth throw: inside then(), that is a rejection like any other.)
void Promise.resolve()
  .then(() =>
    probeHealth(addr, {
      service,
      timeoutMs: 3000,
      credentials: connection.creds,
      channelOptions: connection.options,
    }),
  )
  .then(
    (result) => {
      if (result.outcome !== 'answered') {
        process.stderr.write(`health check of ${addr} failed: ${result.details}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${addr} ${service}: ${result.status}\n`);
      process.exitCode = result.status === 'SERVING' ? 0 : 1;
    },
    (err: unknown) => {
      process.stderr.write(
        `health check of ${addr} failed: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      process.exitCode = 1;
    },
  );
