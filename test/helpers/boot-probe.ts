import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { MAIN_JS } from './process';

/** How a `node dist/main.js` run with some environment turned out. */
export type BootOutcome =
  | {
      readonly kind: 'serving';
      readonly child: ChildProcess;
      /** Resolves with the exit code (or signal name) when the process ends. */
      readonly exited: Promise<number | string>;
      readonly output: () => { stdout: string; stderr: string };
    }
  | {
      readonly kind: 'exited';
      readonly code: number | string;
      readonly stdout: string;
      readonly stderr: string;
    }
  | { readonly kind: 'hung'; readonly stdout: string; readonly stderr: string };

/** A TCP port on 127.0.0.1 that was free a moment ago (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/**
 * Starts `node dist/main.js` with exactly `env` (plus PATH) and polls `grpcAddr` with GetInfo until it
 * answers (serving), the process exits, or `timeoutMs` passes (then it is killed: hung). Needs no log
 * line, so it works at every SNOWFLAKE_LOG_LEVEL. A serving process is left running: stop it.
 */
export async function bootProbe(
  env: Readonly<Record<string, string>>,
  grpcAddr: string,
  timeoutMs: number,
): Promise<BootOutcome> {
  const child = spawn(process.execPath, [MAIN_JS], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) => {
    child.on('close', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
    });
  });
  let code: number | string | undefined;
  void exited.then((c) => (code = c));
  const client = new grpc.Client(grpcAddr, grpc.credentials.createInsecure());
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && code === undefined) {
      if (await answersGetInfo(client)) {
        return { kind: 'serving', child, exited, output: () => ({ stdout, stderr }) };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (code !== undefined) return { kind: 'exited', code: await exited, stdout, stderr };
    child.kill('SIGKILL');
    await exited;
    return { kind: 'hung', stdout, stderr };
  } finally {
    client.close();
  }
}

function answersGetInfo(client: grpc.Client): Promise<boolean> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/snowflake.v1.IdGenerator/GetInfo',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      { deadline: Date.now() + 300 },
      (err) => {
        resolve(err === null);
      },
    );
  });
}
