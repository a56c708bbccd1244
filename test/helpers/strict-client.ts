import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** The Python client script (see its docstring). */
const SCRIPT = path.join(__dirname, 'strict_client.py');

/** One decoded `google.rpc.ErrorInfo` detail, as the script reports it. */
export interface StrictErrorDetail {
  readonly typeUrl: string;
  /** Decoded with the script's own declaration of google.rpc.ErrorInfo. */
  readonly errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
  /** Decoded with the descriptor the server's reflection served (proto3 JSON: empty maps omitted). */
  readonly errorInfoViaReflection?: Record<string, unknown>;
}

/** The outcome of one call made by the script. */
export type StrictCallResult =
  | { readonly ok: true; readonly response: Record<string, unknown> }
  | {
      readonly ok: false;
      /** Status code name, e.g. `INVALID_ARGUMENT`. */
      readonly code: string;
      readonly details: string;
      /** Trailing metadata; binary values as hex, grpc-status-details-bin as its size. */
      readonly trailers: Record<string, string>;
      /** The google.rpc.Status in grpc-status-details-bin, or null when there was none. */
      readonly status: {
        readonly code: number;
        readonly message: string;
        readonly details: readonly StrictErrorDetail[];
      } | null;
    };

/** What the script saw. */
export interface StrictClientReport {
  /** Services listed by reflection, in the server's order. */
  readonly services: readonly string[];
  /** Names of the descriptor files it loaded. */
  readonly files: readonly string[];
  readonly calls: readonly StrictCallResult[];
}

/** What to ask the script for. */
export interface StrictClientRequest {
  /** Message types to fetch through reflection besides the services', e.g. `google.rpc.ErrorInfo`. */
  readonly messages?: readonly string[];
  readonly calls: readonly { readonly method: string; readonly request?: object }[];
}

let python: string | undefined;

/**
 * A Python 3 with grpcio and protobuf: Debian's /usr/bin/python3 first (a pyenv or venv python3 earlier
 * in PATH usually lacks Debian's python3-grpcio), else python3 from PATH. Throws naming the packages
 * when neither has them: the strict-client tests must not pass without running.
 */
function pythonWithGrpc(): string {
  if (python !== undefined) return python;
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(candidate, ['-c', 'import grpc, google.protobuf'], { encoding: 'utf8' });
    if (r.status === 0) {
      python = candidate;
      return candidate;
    }
  }
  throw new Error(
    'no python3 with grpc and google.protobuf: apt-get install python3-grpcio python3-protobuf',
  );
}

/**
 * Runs the independent Python client against `127.0.0.1:port`: reflection → strict descriptor pool →
 * the calls. Rejects with its stderr when it fails (e.g. a descriptor the runtime rejects).
 */
export function runStrictClient(port: number, request: StrictClientRequest): Promise<StrictClientReport> {
  const child = spawn(pythonWithGrpc(), [SCRIPT, `127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin.end(JSON.stringify(request));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(stdout) as StrictClientReport);
      else reject(new Error(`strict client exited with ${String(code)}: ${stderr.trim()}`));
    });
  });
}
