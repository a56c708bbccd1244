import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Debian's strace (CI installs it). */
export const STRACE = '/usr/bin/strace';

/** Every syscall that can write a file's bytes. */
const WRITES = 'write,pwrite64,writev,pwritev,pwritev2';

/** A command run under strace that freezes at its first write to one file. */
export interface FrozenAtWrite {
  /** The strace process (exits with the traced command's code); the command is its child. */
  readonly child: ChildProcess;
  /**
   * Resolves with the pid of the traced process once it is stopped at its first write to the file,
   * before any byte of it landed; rejects if strace exits first or after `timeoutMs`.
   */
  readonly frozen: Promise<number>;
  /** SIGCONT: the interrupted write is retried (libuv retries on EINTR) and goes through. */
  resume(): void;
  /** Sends `sig` to the traced command (strace itself would not pass SIGTERM on). */
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL to the traced command (even while frozen) and to strace; for cleanup. */
  kill(): void;
}

/**
 * Runs `command args` under strace so that its first write to `file` fails with EINTR and stops the
 * process (SIGSTOP) — an owner frozen between creating a file and writing it, for as long as the caller
 * wants, without any timing guess. Only that write is touched (`-P file`, `when=1`); everything else
 * runs as usual. Used to race a competitor into exactly that window.
 */
export function spawnFrozenAtFirstWrite(
  file: string,
  command: string,
  args: readonly string[],
  options: SpawnOptions,
  timeoutMs = 30_000,
): FrozenAtWrite {
  const traceDir = fs.mkdtempSync(path.join(os.tmpdir(), 'freeze-at-write-'));
  const traceFile = path.join(traceDir, 'trace');
  const child = spawn(
    STRACE,
    [
      '-f',
      '-qq',
      '-o',
      traceFile,
      '-e',
      `trace=${WRITES}`,
      '-e',
      'signal=SIGSTOP',
      '-e',
      `inject=${WRITES}:signal=SIGSTOP:error=EINTR:when=1`,
      '-P',
      file,
      command,
      ...args,
    ],
    options,
  );
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  void exited.then(() => {
    fs.rmSync(traceDir, { recursive: true, force: true });
  });
  let pid: number | undefined;
  /** Sends `sig` to the traced command (strace's child), not to strace, which would not pass it on. */
  const signal = (sig: NodeJS.Signals) => {
    let children: string[] = [];
    try {
      children = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/);
    } catch {
      // strace is gone, and so is its child.
    }
    for (const p of children.filter((c) => c !== '')) {
      try {
        process.kill(Number(p), sig);
      } catch {
        // Already gone.
      }
    }
  };
  const kill = () => {
    signal('SIGKILL');
    child.kill('SIGKILL');
  };
  const frozen = new Promise<number>((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    // Bounded by the deadline; the trace file is tiny (only writes to `file` and SIGSTOPs are traced).
    const poll = setInterval(() => {
      let trace = '';
      try {
        trace = fs.readFileSync(traceFile, 'utf8');
      } catch {
        // Not created yet.
      }
      const injected = /^(\d+) +\w+\(.*\(INJECTED\)$/m.exec(trace);
      if (injected !== null && new RegExp(`^${injected[1]} +--- stopped by SIGSTOP ---$`, 'm').test(trace)) {
        clearInterval(poll);
        pid = Number(injected[1]);
        resolve(pid);
      } else if (child.exitCode !== null || child.signalCode !== null) {
        clearInterval(poll);
        reject(new Error(`${command} exited (${child.exitCode ?? child.signalCode}) before writing ${file}`));
      } else if (Date.now() > deadline) {
        clearInterval(poll);
        kill();
        reject(new Error(`${command} did not write ${file} within ${timeoutMs} ms`));
      }
    }, 20);
  });
  frozen.catch(() => undefined);
  return {
    child,
    frozen,
    resume() {
      if (pid !== undefined) process.kill(pid, 'SIGCONT');
    },
    signal,
    kill,
  };
}
