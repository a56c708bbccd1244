import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';

/** Every child this run started and that has not exited yet; killed on any exit of the runner. */
const live = new Set<ChildProcess>();

/** Synchronous last-resort teardown steps (unmounts), run on process exit after the kills. */
const exitSteps: (() => void)[] = [];

process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const step of exitSteps) {
    try {
      step();
    } catch {
      // Best effort: the process is exiting anyway.
    }
  }
});

/** Tracks `child` so that the runner never leaves it behind, whatever way the runner ends. */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/** spawn(), {@link track}ed. */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  return track(spawn(command, args, options));
}

/** Registers a synchronous step for process exit (e.g. unmounting a tmpfs). */
export function onExitSync(step: () => void): void {
  exitSteps.push(step);
}

/** Resolves with the exit code (or signal name) of `child`, at once if it already ended. */
export function exitOf(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code or signal name. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<number | string> {
  const exited = exitOf(child);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Resident set size of `pid` in bytes (VmRSS of /proc/PID/status), or undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`, or a rejection naming `what` after `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: no result within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
