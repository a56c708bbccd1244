import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as NativeFs from 'fs-native-extensions';
import { StateDirError, StateDirLockedError } from '../errors';
import { prepareStateDir } from './state-dir';

/** Name of the lock file inside SNOWFLAKE_STATE_DIR. */
export const LOCK_FILE_NAME = 'snowflake.lock';

/**
 * The lock addon, loaded at the first lock rather than at import, so that importing this package (for
 * its client, say) still works on a platform without a prebuild of it (musl).
 */
let nativeFs: typeof NativeFs | undefined;

/** A held lock on a state directory. */
export interface StateDirLock {
  /** Path of the lock file. */
  readonly path: string;
  /** Empties the lock file and releases the lock. Idempotent; the file itself is kept. */
  release(): void;
}

/**
 * Prepares `dir` (see {@link prepareStateDir}) and locks `<dir>/snowflake.lock` so that two processes
 * never share a state dir (they would both trust the same reservation and could issue the same IDs).
 *
 * The kernel decides who holds the lock: the file is opened O_RDWR|O_CREAT (never O_EXCL) and locked
 * with an open-file-description lock (`fcntl` F_OFD_SETLK, non-blocking). The kernel drops the lock when
 * the holder closes the file or dies in any way (kill -9, OOM, a container restarted as pid 1), so there
 * is no stale lock to judge: nothing reads pids, hostnames or timestamps to decide, and a clock set back
 * changes nothing. The lock conflicts between two opens of the file in one process too, so a second
 * `acquireStateDirLock` of the same dir in-process is refused. The file's content (pid, hostname,
 * acquiredAt) is written after the lock is granted and is for operators and error messages only. The file
 * is never unlinked: a process that unlinked it could leave a competitor holding a lock on a file that no
 * longer has a name while a third one locks a new file of that name.
 *
 * Throws {@link StateDirLockedError} (naming the dir, the lock file and what the file says of its holder)
 * when another open holds the lock, and {@link StateDirError} naming SNOWFLAKE_STATE_DIR when the dir is
 * unusable, its filesystem refuses locks (ENOLCK: e.g. NFSv3 without a lock daemon), or the owner cannot be
 * written (ENOSPC, EIO).
 */
export function acquireStateDirLock(dir: string): StateDirLock {
  prepareStateDir(dir);
  const lockPath = path.join(dir, LOCK_FILE_NAME);
  const where = `the lock file ${lockPath} in SNOWFLAKE_STATE_DIR=${dir}`;
  let fd: number;
  try {
    // libuv opens with O_CLOEXEC: a child process never inherits (and so never prolongs) the lock.
    fd = fs.openSync(lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  } catch (err) {
    throw new StateDirError(`cannot open ${where} (${(err as Error).message})`, err);
  }
  let locks: typeof NativeFs;
  try {
    locks = loadNativeFs();
  } catch (err) {
    fs.closeSync(fd);
    throw new StateDirError(
      `cannot lock ${where}: the file-lock addon fs-native-extensions does not load here (${(err as Error).message})`,
      err,
    );
  }
  let granted: boolean;
  try {
    granted = locks.tryLock(fd);
  } catch (err) {
    fs.closeSync(fd);
    throw new StateDirError(
      `cannot lock ${where} (${(err as Error).message}): its filesystem does not support fcntl locks; put ` +
        `SNOWFLAKE_STATE_DIR on a local disk (or NFSv4 with locking)`,
      err,
    );
  }
  if (!granted) {
    const holder = describeHolder(fd);
    fs.closeSync(fd);
    throw new StateDirLockedError(
      `state dir ${dir} is in use: another process holds the lock on ${lockPath} (${holder}); two processes ` +
        `must not share a state dir. The lock is freed by the kernel when its holder exits: stop it, or give ` +
        `this instance its own SNOWFLAKE_STATE_DIR (deleting the lock file does not free it)`,
    );
  }
  try {
    const owner = { pid: process.pid, hostname: os.hostname(), acquiredAt: new Date().toISOString() };
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${JSON.stringify(owner)}\n`, 0);
    fs.fsyncSync(fd);
  } catch (err) {
    try {
      locks.unlock(fd);
    } finally {
      fs.closeSync(fd);
    }
    throw new StateDirError(
      `cannot write the owner of ${where} (${(err as Error).message}); the timestamp reservation is ` +
        `written there too: free space or fix the disk`,
      err,
    );
  }
  let held = true;
  return {
    path: lockPath,
    release() {
      if (!held) return;
      held = false;
      try {
        // Emptied while still held, so that no new holder's owner record is ever truncated.
        fs.ftruncateSync(fd, 0);
      } catch {
        // Best effort: the content is informational; the lock is what matters.
      }
      try {
        locks.unlock(fd);
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

function loadNativeFs(): typeof NativeFs {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, see nativeFs
  nativeFs ??= require('fs-native-extensions') as typeof NativeFs;
  return nativeFs;
}

/** What the lock file says of its holder, for the error message only (it may be empty or half written). */
function describeHolder(fd: number): string {
  const buffer = Buffer.alloc(1024);
  let text: string;
  try {
    text = buffer.subarray(0, fs.readSync(fd, buffer, 0, buffer.length, 0)).toString('utf8');
  } catch (err) {
    return `its owner record cannot be read: ${(err as Error).message}`;
  }
  try {
    const v = JSON.parse(text) as { pid?: unknown; hostname?: unknown; acquiredAt?: unknown };
    if (typeof v.pid === 'number' && typeof v.hostname === 'string') {
      const since = typeof v.acquiredAt === 'string' ? ` since ${v.acquiredAt}` : '';
      return `the file names pid ${v.pid} on host ${v.hostname}${since}`;
    }
  } catch {
    // Not JSON: reported as unreadable below.
  }
  return text.trim() === ''
    ? 'the file names no owner: its holder is starting or stopping'
    : 'the file does not name its owner';
}
