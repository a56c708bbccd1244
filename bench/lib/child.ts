import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as readline from 'node:readline';

/** A Node.js server process started by the benchmark. */
export interface ChildServer {
  readonly child: ChildProcess;
  /** `host:port` of its gRPC listener, from its start log line. */
  readonly grpcAddr: string;
  /** `host:port` of its /metrics listener, when its start line names one. */
  readonly metricsAddr: string | undefined;
  /** Every stderr byte so far (for error messages). */
  readonly stderr: () => string;
  /** CPU time (user + system, all threads) the process used so far, in s; undefined without /proc. */
  readonly cpuSeconds: () => number | undefined;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with the exit code or signal name. */
  readonly stop: (timeoutMs?: number) => Promise<number | string>;
}

/** What to start and how to recognise that it is listening. */
export interface ChildSpec {
  readonly script: string;
  /** Flags for node itself (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  /** Added to a minimal environment (PATH only). */
  readonly env?: Readonly<Record<string, string>>;
  /** `msg` of the JSON log line that says the server is listening; it carries `grpcAddr`. */
  readonly startMessage: string;
  /**
   * `msg` of a later log line that says calls are answered (the service listens before it serves: it
   * refuses with STARTING until its reservation is durable). Default: the start line is enough.
   */
  readonly readyMessage?: string;
  /** Longest wait for those lines, in ms. Default 15,000. */
  readonly timeoutMs?: number;
  /** Run it, all its threads, on this CPU only (via `taskset`, see affinity.ts). Default: any CPU. */
  readonly cpu?: number;
}

/** Linux clock ticks per second for /proc/<pid>/stat (USER_HZ, 100 on every mainstream kernel). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * Starts `node [nodeArgs] script` with stdout and stderr drained (a full pipe would stall the child) and
 * resolves once its start log line arrives; rejects if it exits or stays silent first.
 */
export function startChild(spec: ChildSpec): Promise<ChildServer> {
  const node = [process.execPath, ...(spec.nodeArgs ?? []), spec.script];
  const [command, ...args] = spec.cpu === undefined ? node : ['taskset', '-c', String(spec.cpu), ...node];
  const child = spawn(command!, args, {
    env: { PATH: process.env.PATH ?? '', ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 100_000) stderr += d.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const timeoutMs = spec.timeoutMs ?? 15_000;

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${spec.script} did not start within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${spec.script} exited with ${code} before starting; stderr: ${stderr}`));
    });
    let started: Record<string, unknown> | undefined;
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = parseJson(line);
      if (started === undefined) {
        if (entry?.msg !== spec.startMessage || typeof entry.grpcAddr !== 'string') return;
        started = entry;
        if (spec.readyMessage !== undefined) return;
      } else if (entry?.msg !== spec.readyMessage) return;
      clearTimeout(timer);
      resolve({
        child,
        grpcAddr: String(started.grpcAddr),
        metricsAddr: typeof started.metricsAddr === 'string' ? started.metricsAddr : undefined,
        stderr: () => stderr,
        cpuSeconds: () => (child.pid === undefined ? undefined : procCpuSeconds(child.pid)),
        stop: (stopTimeoutMs = 15_000) => {
          if (child.exitCode !== null || child.signalCode !== null) return exited;
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
          return exited.finally(() => {
            clearTimeout(killer);
          });
        },
      });
    });
  });
}

/** user + system CPU seconds of `pid` from /proc/<pid>/stat, or undefined when unreadable. */
export function procCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after "(comm)": state is field 3, utime field 14, stime field 15 (proc(5)).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime)
    ? (utime + stime) / CLOCK_TICKS_PER_SECOND
    : undefined;
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
