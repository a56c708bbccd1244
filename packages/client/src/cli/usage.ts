import { MAX_BATCH_SIZE_LIMIT } from '../contract/limits';
import { SERVICE_NAME } from '../contract/service';

/** `--addr` when neither it nor SNOWFLAKE_ADDR is given. */
export const DEFAULT_ADDR = '127.0.0.1:50051';
/** `--timeout-ms` default and limit, in ms. */
export const DEFAULT_TIMEOUT_MS = 5000;
export const MAX_TIMEOUT_MS = 600_000;

/** Exit codes of next, batch, decode and info. */
export const EXIT = Object.freeze({ ok: 0, callFailed: 1, usage: 2 });

/** Exit codes of health: grpc_health_probe's, which Kubernetes exec probes and scripts test. */
export const HEALTH_EXIT = Object.freeze({
  serving: 0,
  usage: 1,
  connectionFailed: 2,
  rpcFailed: 3,
  notServing: 4,
});

/** The exit code for a bad command line: health keeps grpc_health_probe's 1, the others 2. */
export function usageExitCode(command: string): number {
  return command === 'health' ? HEALTH_EXIT.usage : EXIT.usage;
}

/** `snowflake --help`. */
export const USAGE = `Usage: snowflake [options] <command>

Commands:
  next               print one new ID
  batch N            print N new IDs, one per line (N from 1 to ${MAX_BATCH_SIZE_LIMIT}, at most the
                     server's max_batch_size)
  decode ID          print the fields of ID (decimal, 0 to 2^63 - 1), decoded by the server
  decode --local ID  the same, decoded here without a server: by the default layout (41 | 5 | 5 | 12
                     bits from 2020-01-01), or by --layout FILE
  info               print the server's layout, node IDs and limits
  health             ask grpc.health.v1 about --service on each address

Options:
  --addr LIST          servers, comma-separated host:port (IPv6 as [::1]:50051); default
                       $SNOWFLAKE_ADDR, else ${DEFAULT_ADDR}. Calls fail over between them;
                       health checks each one
  --timeout-ms N       deadline of the command in ms, retries included (1 to ${MAX_TIMEOUT_MS},
                       default ${DEFAULT_TIMEOUT_MS})
  --json               print JSON, 64-bit values as decimal strings; text prints the same keys,
                       one "key: value" per line
  --tls                speak TLS, verifying the server by the system's CA certificates
  --ca FILE            speak TLS, verifying the server by the CA certificates in FILE (PEM)
  --cert FILE          speak TLS, presenting this client certificate (PEM; mutual TLS); needs --key
  --key FILE           the private key of --cert (PEM, unencrypted)
  --server-name NAME   with TLS: the name the server's certificate must carry (default: the host
                       of each address)
  --service NAME       health: the service to ask about (default ${SERVICE_NAME};
                       "" = the whole server; "liveness" = the process is alive)
  --local              decode: decode here, asking no server
  --layout FILE        decode --local: the layout, as "snowflake info --json" prints it
  -h, --help           print this help
  --version            print the version

Exit status of next, batch, decode, info:
  0 success; 1 the call failed (no server reachable, refused, server error);
  2 bad usage or input (nothing was sent)
Exit status of health (as grpc_health_probe's):
  0 SERVING; 1 bad usage or input (nothing was sent); 2 connection failed;
  3 the health call failed (e.g. unknown service); 4 answered, but not SERVING
  With several addresses: 0 if all are SERVING, else the status of the first one that is not.
`;
