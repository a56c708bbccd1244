import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { tempStateDir } from './temp-dir';

/** Repository root (where package.json and dist/ live). */
export const ROOT = path.resolve(__dirname, '../..');

/** The compiled service entry point; `npm test` builds it first (pretest). */
export const MAIN_JS = path.join(ROOT, 'dist/main.js');

/** A service process started from dist/main.js. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Bound ports, read from the start log line. */
  readonly grpcPort: number;
  readonly metricsPort: number;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the exit code (or the signal name) when the process ends. */
  readonly exited: Promise<number | string>;
}

/**
 * Starts `node dist/main.js` on 127.0.0.1 port 0 (gRPC and metrics, a temporary state dir) with `env`
 * on top, and waits (at most `timeoutMs`) for its `serving` log line — or only its start line when
 * `waitForServing` is false. Rejects with the output if it exits first.
 */
export function startServiceProcess(
  env: Record<string, string> = {},
  timeoutMs = 15_000,
  waitForServing = true,
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [MAIN_JS], {
    env: {
      PATH: process.env.PATH ?? '',
      SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
      SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
      SNOWFLAKE_STATE_DIR: env.SNOWFLAKE_STATE_DIR ?? tempStateDir(),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`service did not start within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      const start = logs.find((l) => l.msg === 'snowflake service started');
      if (start !== undefined && (!waitForServing || entry.msg === 'serving')) {
        clearTimeout(timer);
        const port = (addr: unknown) => Number(/:(\d+)$/.exec(String(addr))?.[1]);
        resolve({
          child,
          grpcPort: port(start.grpcAddr),
          metricsPort: port(start.metricsAddr),
          logs,
          exited,
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`service exited with ${code} before starting; stderr: ${stderr}`));
    });
  });
}

/** Runs a node script to completion (bounded by `timeoutMs`) and returns its exit code and output. */
export function runNode(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

/** How a {@link launchService} process went, so far or in the end. */
export interface LaunchedService {
  readonly child: ChildProcess;
  /** Every JSON log line so far (stdout). */
  readonly logs: Record<string, unknown>[];
  /** stderr so far. */
  stderr(): string;
  /**
   * Resolves when the process ends: its exit code (null when a signal ended it, e.g. the SIGKILL after
   * `killAfterMs`) and how long it ran, in ms.
   */
  readonly exited: Promise<{ readonly code: number | null; readonly elapsedMs: number }>;
}

/**
 * Starts `node dist/main.js` like {@link startServiceProcess} (127.0.0.1 port 0, a temporary state dir,
 * `env` on top) without waiting for anything; SIGKILLs it if it is still running after `killAfterMs`,
 * so a process that never exits cannot hang the test.
 */
export function launchService(env: Record<string, string>, killAfterMs: number): LaunchedService {
  const startedAt = performance.now();
  const child = spawn(process.execPath, [MAIN_JS], {
    env: {
      PATH: process.env.PATH ?? '',
      SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
      SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
      SNOWFLAKE_STATE_DIR: env.SNOWFLAKE_STATE_DIR ?? tempStateDir(),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const exited = new Promise<{ code: number | null; elapsedMs: number }>((resolve) => {
    // 'close', not 'exit': every output line has been read by then.
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, elapsedMs: performance.now() - startedAt });
    });
  });
  return { child, logs, stderr: () => stderr, exited };
}
