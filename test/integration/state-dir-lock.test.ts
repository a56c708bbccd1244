import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { LOCK_FILE_NAME } from '../../src/state/lock';
import { StateFile } from '../../src/state/state-file';
import { spawnFrozenAtFirstWrite, STRACE } from '../helpers/freeze-at-write';
import { MAIN_JS, ROOT, startServiceProcess } from '../helpers/process';
import { tempStateDir } from '../helpers/temp-dir';

const LOCK_JS = path.join(ROOT, 'dist/state/lock.js');

/** Takes the lock of $DIR with the compiled module, says `held` (or why not), and holds it until stdin ends. */
const HOLDER = `
const { acquireStateDirLock } = require(process.env.LOCK_JS);
let lock;
try {
  lock = acquireStateDirLock(process.env.DIR);
} catch (err) {
  process.stdout.write(JSON.stringify({ code: err.code, message: err.message }) + '\\n');
  process.exit(3);
}
process.stdout.write('held\\n');
process.stdin.on('end', () => { lock.release(); process.exit(0); }).resume();
`;

/** A pid above Linux's pid_max (2^22): never alive, as a crashed owner's lock file would name. */
const DEAD_PID = 2 ** 22 + 12_345;

const serviceEnv = (stateDir: string) => ({
  PATH: process.env.PATH ?? '',
  SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
  SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
  SNOWFLAKE_STATE_DIR: stateDir,
});

/**
 * How a process ended up: its first stdout line that `decides` recognises, or its exit (code, stderr).
 * Bounded: a process that neither says anything decisive nor exits within `timeoutMs` is SIGKILLed.
 */
function outcome(
  child: ChildProcess,
  decides: (line: string) => boolean,
  timeoutMs = 30_000,
): Promise<{ line?: string; exit?: number | string; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    if (child.stdout !== null) {
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        if (!decides(line)) return;
        clearTimeout(timer);
        resolve({ line, stderr });
      });
    }
    // 'close', not 'exit': every byte of stderr has arrived by then.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exit: code ?? signal ?? 'unknown', stderr });
    });
  });
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
}

/** Runs `node dist/main.js` until it exits, SIGKILLed after `timeoutMs` (a spinning loop ignores SIGTERM). */
function runService(
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN_JS], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code) => {
      resolve({ code, stderr });
    });
  });
}

/** A tmpfs of `sizeKiB` on a fresh directory; needs root (CI runs as root). */
function mountTmpfs(sizeKiB: number, readOnly = false): { dir: string; unmount(): void } {
  const dir = tempStateDir();
  execFileSync('mount', ['-t', 'tmpfs', '-o', `${readOnly ? 'ro,' : ''}size=${sizeKiB}k`, 'tmpfs', dir]);
  return { dir, unmount: () => execFileSync('umount', ['-l', dir]) };
}

describe('state-dir lock: two real processes, the owner frozen at its lock-file write (strace)', () => {
  beforeAll(() => {
    expect(fs.existsSync(STRACE)).toBe(true); // CI installs Debian's strace
    expect(fs.existsSync(LOCK_JS)).toBe(true); // npm test builds dist/ first
  });

  it.each([
    ['a fresh state dir', false],
    ['a stale lock file naming a dead pid on this host', true],
  ])(
    'GIVEN %s and a competitor starting while the owner has not written the lock file yet THEN exactly one holds it, in each of 20 trials',
    async (_name, stale) => {
      const bothHeld: number[] = [];
      const holders: number[] = [];
      const competitorSawEmptyFile: boolean[] = [];
      for (let trial = 0; trial < 20; trial++) {
        const dir = tempStateDir();
        const lockPath = path.join(dir, LOCK_FILE_NAME);
        if (stale) fs.writeFileSync(lockPath, JSON.stringify({ pid: DEAD_PID, hostname: os.hostname() }));
        const env = { PATH: process.env.PATH ?? '', LOCK_JS, DIR: dir };
        const owner = spawnFrozenAtFirstWrite(lockPath, process.execPath, ['-e', HOLDER], {
          env,
          stdio: 'pipe',
        });
        const ownerOutcome = outcome(owner.child, (l) => l !== '');
        let competitor: ChildProcess | undefined;
        try {
          await owner.frozen;
          competitor = spawn(process.execPath, ['-e', HOLDER], { env, stdio: 'pipe' });
          const second = await outcome(competitor, (l) => l !== '');
          owner.resume();
          const first = await ownerOutcome;
          const held = [first, second].filter((o) => o.line === 'held').length;
          holders.push(held);
          if (held > 1) bothHeld.push(trial);
          competitorSawEmptyFile.push(
            second.line !== undefined && /STATE_DIR_LOCKED.*names no owner/.test(second.line),
          );
        } finally {
          owner.child.stdin?.end();
          competitor?.stdin?.end();
          const killer = setTimeout(() => {
            owner.kill();
            competitor?.kill('SIGKILL');
          }, 10_000);
          await Promise.all([exitOf(owner.child), competitor === undefined ? undefined : exitOf(competitor)]);
          clearTimeout(killer);
        }
      }
      expect(bothHeld).toEqual([]);
      expect(holders).toEqual(Array<number>(20).fill(1));
      // The race was really run: each competitor found the lock taken while the file was still empty.
      expect(competitorSawEmptyFile).toEqual(Array<boolean>(20).fill(true));
    },
    120_000,
  );

  it('GIVEN two servers on one state dir, the first frozen at its lock-file write THEN at most one reaches SERVING and the other exits 1 with STATE_DIR_LOCKED, in each of 5 trials', async () => {
    const violations: string[] = [];
    for (let trial = 0; trial < 5; trial++) {
      const dir = tempStateDir();
      const first = spawnFrozenAtFirstWrite(path.join(dir, LOCK_FILE_NAME), process.execPath, [MAIN_JS], {
        env: serviceEnv(dir),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const serving = (l: string) => l.includes('"msg":"serving"');
      const firstOutcome = outcome(first.child, serving);
      let second: ChildProcess | undefined;
      try {
        await first.frozen;
        second = spawn(process.execPath, [MAIN_JS], {
          env: serviceEnv(dir),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const secondEnd = await outcome(second, serving);
        first.resume();
        const firstEnd = await firstOutcome;
        if (firstEnd.line !== undefined && secondEnd.line !== undefined)
          violations.push(`trial ${trial}: both servers SERVING on ${dir}`);
        if (firstEnd.line === undefined) violations.push(`trial ${trial}: the owner did not serve`);
        if (
          secondEnd.exit !== 1 ||
          !secondEnd.stderr.includes(`STATE_DIR_LOCKED: state dir ${dir} is in use`)
        )
          violations.push(`trial ${trial}: the second server ended ${secondEnd.exit ?? 'serving'}`);
      } finally {
        first.signal('SIGTERM');
        second?.kill('SIGTERM');
        const killer = setTimeout(() => {
          first.kill();
          second?.kill('SIGKILL');
        }, 15_000);
        await Promise.all([exitOf(first.child), second === undefined ? undefined : exitOf(second)]);
        clearTimeout(killer);
      }
    }
    expect(violations).toEqual([]);
  }, 150_000);

  it('GIVEN the owner killed -9, its lock file naming a pid now used by another live process THEN the next start takes the lock at once', async () => {
    const dir = tempStateDir();
    const owner = await startServiceProcess({ SNOWFLAKE_STATE_DIR: dir });
    owner.child.kill('SIGKILL');
    await owner.exited;
    const lockPath = path.join(dir, LOCK_FILE_NAME);
    expect(JSON.parse(fs.readFileSync(lockPath, 'utf8'))).toMatchObject({ pid: owner.child.pid });
    // As after a reboot or a container restart that gave the dead owner's pid to another process.
    fs.writeFileSync(lockPath, JSON.stringify({ pid: process.pid, hostname: os.hostname() }));
    const next = await startServiceProcess({ SNOWFLAKE_STATE_DIR: dir });
    try {
      expect(JSON.parse(fs.readFileSync(lockPath, 'utf8'))).toMatchObject({
        pid: next.child.pid,
        hostname: os.hostname(),
      });
    } finally {
      next.child.kill('SIGTERM');
      expect(await next.exited).toBe(0);
    }
    // A graceful stop empties the file and keeps it: nothing ever unlinks a lock file.
    expect(fs.readFileSync(lockPath, 'utf8')).toBe('');
  }, 60_000);
});

describe('unusable SNOWFLAKE_STATE_DIR: exit 1 at boot naming the variable and the path', () => {
  it('GIVEN a state dir under /proc THEN it exits 1 (no endless mkdir loop)', async () => {
    const dir = `/proc/snowflake-state-test-${process.pid}/state`;
    const r = await runService(serviceEnv(dir));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `STATE_DIR_UNUSABLE: SNOWFLAKE_STATE_DIR=${dir} is on the kernel pseudo-filesystem proc`,
    );
  }, 30_000);

  it('GIVEN a state dir that is a regular file THEN it exits 1 saying it is not a directory', async () => {
    const file = path.join(tempStateDir(), 'not-a-dir');
    fs.writeFileSync(file, 'x');
    const r = await runService(serviceEnv(file));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `STATE_DIR_UNUSABLE: SNOWFLAKE_STATE_DIR=${file} cannot be used: ${file} exists and is not a directory`,
    );
  }, 30_000);

  it('GIVEN a read-only filesystem THEN it exits 1 saying so', async () => {
    const disk = mountTmpfs(64, true);
    try {
      const r = await runService(serviceEnv(disk.dir));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `STATE_DIR_UNUSABLE: SNOWFLAKE_STATE_DIR=${disk.dir} is on a read-only filesystem`,
      );
    } finally {
      disk.unmount();
    }
  }, 30_000);

  it('GIVEN a full disk (ENOSPC) THEN it exits 1 naming the lock file and the variable, and a state-file write names its file', async () => {
    const disk = mountTmpfs(64);
    try {
      const filler = fs.openSync(path.join(disk.dir, 'filler'), 'w');
      try {
        // Bounded: 64 KiB fit at most.
        for (let i = 0; i < 64; i++) fs.writeSync(filler, Buffer.alloc(4096));
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        fs.closeSync(filler);
      }
      const lockPath = path.join(disk.dir, LOCK_FILE_NAME);
      const r = await runService(serviceEnv(disk.dir));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `STATE_DIR_UNUSABLE: cannot write the owner of the lock file ${lockPath} in SNOWFLAKE_STATE_DIR=${disk.dir} (ENOSPC`,
      );
      const stateFile = new StateFile(disk.dir, DEFAULT_LAYOUT, { datacenterId: 0, workerId: 0 });
      await expect(stateFile.write(Date.now())).rejects.toThrow(
        new RegExp(`^cannot write ${stateFile.path}\\.\\d+\\.\\d+\\.tmp: ENOSPC`),
      );
    } finally {
      disk.unmount();
    }
  }, 30_000);
});
