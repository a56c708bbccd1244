import * as fs from 'node:fs';

/** A file opened by {@link StateFileSystem.openForWrite}. */
export interface WritableFile {
  /** Writes `data` (UTF-8) as the file's whole content. */
  writeFile(data: string): Promise<void>;
  /** fsync: once it resolves, the file's content survives a power loss. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** A directory opened by {@link StateFileSystem.openDirectory}. */
export interface SyncableDirectory {
  /** fsync of the directory: once it resolves, the names created, renamed or removed in it survive a power loss. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file-system calls `StateFile` makes, and nothing more: node:fs in production
 * ({@link nodeFileSystem}); the fault simulation passes a disk that loses, on a power loss, whatever was
 * not fsynced. Errors are node:fs errors (an `ENOENT` code for a missing file).
 */
export interface StateFileSystem {
  /** The whole file as UTF-8 (synchronous: read at boot only); throws with code `ENOENT` when it does not exist. */
  readFile(path: string): string;
  /** Creates `path`, or truncates it, for writing (mode 0644). */
  openForWrite(path: string): Promise<WritableFile>;
  /** Opens directory `path` to fsync it. */
  openDirectory(path: string): Promise<SyncableDirectory>;
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): Promise<void>;
  /** Removes `path`; resolves as well when it does not exist. */
  remove(path: string): Promise<void>;
}

/** The real file system (node:fs). */
export const nodeFileSystem: StateFileSystem = {
  readFile: (path) => fs.readFileSync(path, 'utf8'),
  openForWrite: (path) => fs.promises.open(path, 'w', 0o644),
  openDirectory: (path) => fs.promises.open(path, 'r'),
  rename: (from, to) => fs.promises.rename(from, to),
  remove: (path) => fs.promises.rm(path, { force: true }),
};
