/**
 * The part of `fs-native-extensions` (holepunch; ships no types) that the state-dir lock uses. On Linux
 * these are open-file-description locks (`fcntl` F_OFD_SETLK) over the whole file; on macOS `flock`.
 */
declare module 'fs-native-extensions' {
  /**
   * Tries to take an exclusive lock on the open file `fd` without waiting: true when granted, false when
   * another open file description holds a conflicting lock (EAGAIN); throws any other error (ENOLCK on a
   * filesystem without lock support).
   */
  export function tryLock(fd: number): boolean;
  /** Releases the lock taken through `fd` (closing `fd` releases it too). */
  export function unlock(fd: number): void;
}
