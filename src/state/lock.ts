import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StateDirLockedError } from '../errors';

/** Name of the lock file inside SNOWFLAKE_STATE_DIR. */
export const LOCK_FILE_NAME = 'snowflake.lock';

/** A held lock on a state directory. */
export interface StateDirLock {
  /** Path of the lock file. */
  readonly path: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

interface Owner {
  readonly pid: number;
  readonly hostname: string;
}

/**
 * Takes `<dir>/snowflake.lock` so two processes never share a state dir (they would both trust the
 * same reservation and could issue the same IDs). The file is created with O_EXCL and names the owner
 * (pid, hostname). A lock left by a crashed process is taken over when it names this host and a pid
 * that is no longer alive (or our own pid: a container restarted as pid 1). Staleness is decided by
 * process liveness, never by timestamps, so it still works when the clock was set back — which is
 * why this is not a time-based lock library. A lock from another host is never taken over: the error
 * says how to clear it.
 */
export function acquireStateDirLock(dir: string): StateDirLock {
  fs.mkdirSync(dir, { recursive: true });
  const lockPath = path.join(dir, LOCK_FILE_NAME);
  const me: Owner = { pid: process.pid, hostname: os.hostname() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(lockPath, 'wx', 0o644);
      try {
        fs.writeSync(fd, `${JSON.stringify({ ...me, acquiredAt: new Date().toISOString() })}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      return {
        path: lockPath,
        release() {
          const owner = readOwner(lockPath);
          if (owner?.pid === me.pid && owner.hostname === me.hostname) fs.rmSync(lockPath, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = readOwner(lockPath);
    if (
      owner !== undefined &&
      !(owner.hostname === me.hostname && (owner.pid === me.pid || !isAlive(owner.pid)))
    ) {
      throw new StateDirLockedError(
        `state dir ${dir} is in use by pid ${owner.pid} on host ${owner.hostname} (lock file ${lockPath}); two ` +
          `processes must not share a state dir. If that process is gone, delete the lock file`,
      );
    }
    fs.rmSync(lockPath, { force: true });
  }
  throw new StateDirLockedError(`could not take the lock ${lockPath}: another process keeps taking it`);
}

function readOwner(lockPath: string): Owner | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as Partial<Owner>;
    return typeof v.pid === 'number' && typeof v.hostname === 'string'
      ? { pid: v.pid, hostname: v.hostname }
      : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
