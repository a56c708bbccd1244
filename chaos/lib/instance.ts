import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { MAIN_JS } from '../../bench/lib/paths';
import { exitOf, spawnTracked, stopChild } from './processes';

/** The unprivileged user the service runs as when the runner is root, so that chmod binds it. */
export const NOBODY = { uid: 65534, gid: 65534 } as const;

/** How one process of an instance ended. */
export type LifeEnd = 'kill9' | 'stopped' | 'exited';

/** One process of a service instance: from spawn to exit. */
export interface Life {
  /** Unique over the run, in start order. */
  readonly id: number;
  /** Name of the instance this process belongs to, e.g. `i2`. */
  readonly instance: string;
  /** How it was started (e.g. `FAKETIME=-20s`), for the report. */
  readonly note: string;
  readonly child: ChildProcess;
  /** Resolves with `host:port` of gRPC and /metrics once the start log line arrives. */
  readonly listening: Promise<{ grpcAddr: string; metricsAddr: string }>;
  readonly exited: Promise<number | string>;
  /** Set once listening. */
  grpcAddr?: string;
  metricsAddr?: string;
  /** When and how the runner ended it (or saw it end). */
  endedAtMs?: number;
  end?: LifeEnd;
  exitCode?: number | string;
  /** When the runner froze it with SIGSTOP (until SIGCONT), Unix ms; see {@link Pause}. */
  readonly pauses: Pause[];
  /** Latest `snowflake_ids_generated_total` read from its /metrics. */
  lastScrape?: number;
  /** True when {@link Life.lastScrape} was taken after the last call on it had finished. */
  scrapeIsFinal: boolean;
  /** Resolves at its `serving` log line (IDs issued); rejects if it exits first. */
  readonly serving: Promise<void>;
  /** `msg` of every JSON log line, counted. */
  readonly messages: Map<string, number>;
  /** The last error or fatal log line, as `msg: err`. */
  lastError?: string;
  /** The last stderr bytes (a stack trace would show here). */
  stderr: string;
}

/** A SIGSTOP…SIGCONT window of a process. */
export interface Pause {
  readonly fromMs: number;
  toMs: number;
  /** The etcd-leased worker ID it held when frozen; its lease expires during the freeze. */
  readonly leasedWorkerId: number | undefined;
}

/** What to start: the service with `env` on top of a loopback, port-0 base. */
export interface LaunchSpec {
  readonly id: number;
  readonly instance: string;
  readonly note: string;
  readonly env: Readonly<Record<string, string>>;
  /** Where its stdout goes. */
  readonly logDir: string;
  /** Run as this user (when the runner is root). */
  readonly runAs?: { readonly uid: number; readonly gid: number };
}

/** Longest wait for the start log line; an etcd claim may wait for etcd to come back. */
const LISTEN_TIMEOUT_MS = 40_000;

/** Starts `node dist/main.js` for one life of an instance; see {@link Life.listening}. */
export function launch(spec: LaunchSpec): Life {
  const logFile = path.join(spec.logDir, `${spec.instance}-life${spec.id}.log`);
  const log = fs.createWriteStream(logFile);
  const child = spawnTracked(process.execPath, [MAIN_JS], {
    env: {
      PATH: process.env.PATH ?? '',
      SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
      SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
      SNOWFLAKE_LOG_LEVEL: 'info',
      ...spec.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...spec.runAs,
  });
  const exited = exitOf(child);
  // The callbacks below run on later events, once `life` exists.
  let servingNow: () => void = () => undefined;
  const serving = new Promise<void>((resolve, reject) => {
    servingNow = resolve;
    void exited.then((code) => {
      reject(
        new Error(
          `${spec.instance} life ${spec.id} exited (${code}) before serving: ${life.lastError ?? life.stderr}`,
        ),
      );
    });
  });
  serving.catch(() => undefined);
  const listening = new Promise<{ grpcAddr: string; metricsAddr: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new Error(`${spec.instance} life ${spec.id} logged no start line within ${LISTEN_TIMEOUT_MS} ms`),
      );
    }, LISTEN_TIMEOUT_MS);
    void exited.then((code) => {
      clearTimeout(timer);
      life.exitCode = code;
      life.endedAtMs ??= Date.now();
      life.end ??= 'exited';
      log.end();
      reject(new Error(`${spec.instance} life ${spec.id} exited (${code})`));
    });
    if (child.stdout === null) return;
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      log.write(`${line}\n`);
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      const msg = String(entry.msg);
      life.messages.set(msg, (life.messages.get(msg) ?? 0) + 1);
      if (typeof entry.level === 'number' && entry.level >= 50)
        life.lastError = `${msg}: ${errorText(entry)}`;
      if (msg === 'serving') servingNow();
      if (msg === 'snowflake service started') {
        clearTimeout(timer);
        life.grpcAddr = String(entry.grpcAddr);
        life.metricsAddr = String(entry.metricsAddr);
        resolve({ grpcAddr: life.grpcAddr, metricsAddr: life.metricsAddr });
      }
    });
  });
  listening.catch(() => undefined);
  const life: Life = {
    id: spec.id,
    instance: spec.instance,
    note: spec.note,
    child,
    exited,
    listening,
    serving,
    scrapeIsFinal: false,
    pauses: [],
    messages: new Map(),
    stderr: '',
  };
  child.stderr?.on('data', (d: Buffer) => {
    life.stderr = (life.stderr + d.toString()).slice(-20_000);
  });
  return life;
}

/** kill -9: records when, then waits for the exit. */
export async function kill9(life: Life): Promise<void> {
  life.endedAtMs ??= Date.now();
  life.end ??= 'kill9';
  life.child.kill('SIGKILL');
  await life.exited;
}

/** Freezes the process (SIGSTOP) for `ms` while `meanwhile` runs, then resumes it (SIGCONT). */
export async function pause(
  life: Life,
  ms: number,
  leasedWorkerId: number | undefined,
  meanwhile: () => Promise<void>,
): Promise<void> {
  const window: Pause = { fromMs: Date.now(), toMs: Number.POSITIVE_INFINITY, leasedWorkerId };
  life.pauses.push(window);
  life.child.kill('SIGSTOP');
  try {
    await Promise.all([meanwhile(), new Promise((resolve) => setTimeout(resolve, ms))]);
  } finally {
    life.child.kill('SIGCONT');
    window.toMs = Date.now();
  }
}

/** SIGTERM (graceful drain), SIGKILL after `graceMs`; returns the exit code. */
export async function stopLife(life: Life, graceMs: number): Promise<number | string> {
  life.end ??= 'stopped';
  const code = await stopChild(life.child, graceMs);
  life.endedAtMs ??= Date.now();
  return code;
}

/** `snowflake_ids_generated_total` from `GET /metrics` at `addr`, or undefined if it does not answer. */
export function scrapeIdsGenerated(addr: string, timeoutMs = 1000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get(`http://${addr}/metrics`, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        const m = /^snowflake_ids_generated_total (\S+)$/m.exec(body);
        resolve(res.statusCode === 200 && m !== null ? Number(m[1]) : undefined);
      });
      res.on('error', () => {
        resolve(undefined);
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => {
      resolve(undefined);
    });
  });
}

/** Scrapes `life` and keeps the value when it answers. */
export async function scrapeLife(life: Life, final = false): Promise<void> {
  if (life.metricsAddr === undefined || life.end !== undefined) return;
  const value = await scrapeIdsGenerated(life.metricsAddr);
  // A value read just before a kill is still that process's count at that moment.
  if (value === undefined) return;
  life.lastScrape = value;
  if (final) life.scrapeIsFinal = true;
}

/** The `err` of a pino log line as text: its message when pino serialized an Error. */
function errorText(entry: Record<string, unknown>): string {
  const err = entry.err;
  if (typeof err === 'object' && err !== null && 'message' in err) return String(err.message);
  return typeof err === 'string' ? err : JSON.stringify(entry.code ?? '');
}
