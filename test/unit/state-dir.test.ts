import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { StateDirError, StateDirLockedError, StateFileError } from '../../src/errors';
import { nodeFileSystem, type StateFileSystem } from '../../src/state/file-system';
import { acquireStateDirLock, LOCK_FILE_NAME } from '../../src/state/lock';
import { StateFile } from '../../src/state/state-file';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'state-test-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const node = { datacenterId: 1, workerId: 2 };

describe('StateFile', () => {
  it('GIVEN no file THEN the reservation is 0; GIVEN a write THEN it reads back', async () => {
    const f = new StateFile(dir, DEFAULT_LAYOUT, node);
    expect(f.read()).toEqual({ reservedUntilMs: 0 });
    await f.write(1_800_000_000_123);
    expect(f.read()).toEqual({ reservedUntilMs: 1_800_000_000_123 });
    expect(fs.readdirSync(dir)).toEqual(['snowflake-state.json']);
  });

  it('GIVEN overlapping writes from two StateFile objects on one path THEN they land in call order and leave no temp files', async () => {
    // What a re-claimed session does while the lost session's last write is still running.
    const lost = new StateFile(dir, DEFAULT_LAYOUT, node);
    const next = new StateFile(dir, DEFAULT_LAYOUT, { datacenterId: 1, workerId: 3 });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) writes.push((i % 2 === 0 ? lost : next).write(1_800_000_000_000 + i));
    await Promise.all(writes);
    expect(next.read()).toEqual({ reservedUntilMs: 1_800_000_000_019 });
    expect(fs.readdirSync(dir)).toEqual(['snowflake-state.json']);
  });

  it('GIVEN a write THEN the temp file is fsynced before its rename and the directory after it, all before the write resolves', async () => {
    // What makes the write survive a power loss: content durable before the name points at it, the name
    // durable before anyone is told. A crash test cannot show it (the page cache survives a process).
    const calls: string[] = [];
    const note = (call: string) => () => {
      calls.push(call);
    };
    const recording: StateFileSystem = {
      readFile: (p) => nodeFileSystem.readFile(p),
      async openForWrite(p) {
        const file = await nodeFileSystem.openForWrite(p);
        return {
          writeFile: (data) => file.writeFile(data).then(note('write temp file')),
          sync: () => file.sync().then(note('fsync temp file')),
          close: () => file.close(),
        };
      },
      async openDirectory(p) {
        const handle = await nodeFileSystem.openDirectory(p);
        return {
          sync: () => handle.sync().then(note(`fsync ${p === dir ? 'the state dir' : p}`)),
          close: () => handle.close(),
        };
      },
      rename: (from, to) => nodeFileSystem.rename(from, to).then(note(`rename to ${path.basename(to)}`)),
      remove: (p) => nodeFileSystem.remove(p),
    };
    const f = new StateFile(dir, DEFAULT_LAYOUT, node, recording);
    await f.write(1_800_000_000_123);
    calls.push('resolved');
    expect(calls).toEqual([
      'write temp file',
      'fsync temp file',
      'rename to snowflake-state.json',
      'fsync the state dir',
      'resolved',
    ]);
    expect(f.read()).toEqual({ reservedUntilMs: 1_800_000_000_123 });
  });

  it('GIVEN a write that fails THEN it rejects and leaves no temp file behind', async () => {
    const f = new StateFile(dir, DEFAULT_LAYOUT, node);
    // The rename cannot replace a non-empty directory (chmod would not stop root, who runs CI).
    fs.mkdirSync(path.join(f.path, 'occupied'), { recursive: true });
    await expect(f.write(1_800_000_000_500)).rejects.toThrow();
    expect(fs.readdirSync(dir)).toEqual(['snowflake-state.json']);
  });

  it.each([
    ['truncated JSON', '{"format":"snowflake-state/1","lay', /is corrupt or truncated/],
    ['an empty file', '', /is corrupt or truncated/],
    ['a wrong record', '{"format":"other"}', /is not a valid snowflake-state\/1 record/],
  ])('GIVEN %s THEN read fails naming the path', (_n, content, message) => {
    const f = new StateFile(dir, DEFAULT_LAYOUT, node);
    fs.writeFileSync(f.path, content);
    expect(() => f.read()).toThrow(StateFileError);
    expect(() => f.read()).toThrow(message);
    expect(() => f.read()).toThrow(f.path);
  });

  it('GIVEN a file written for another layout or node THEN read refuses to reuse it', async () => {
    await new StateFile(dir, DEFAULT_LAYOUT, node).write(1);
    const otherLayout = new StateFile(dir, { ...DEFAULT_LAYOUT, epochMs: 0 }, node);
    expect(() => otherLayout.read()).toThrow(
      /written for another layout \(epochMs 1577836800000 there, 0 here\)/,
    );
    const otherNode = new StateFile(dir, DEFAULT_LAYOUT, { datacenterId: 1, workerId: 3 });
    expect(() => otherNode.read()).toThrow(
      /written for datacenter 1 worker 2, but this instance is datacenter 1 worker 3/,
    );
    expect(otherNode.read(true)).toEqual({ reservedUntilMs: 0, ignoredNode: node });
  });
});

describe('acquireStateDirLock', () => {
  it('GIVEN a held lock THEN a second acquire in the same process is refused, naming the holder, until it is released', () => {
    // OFD locks belong to the open file, not the process: two opens in one process conflict.
    const lock = acquireStateDirLock(dir);
    expect(() => acquireStateDirLock(dir)).toThrow(StateDirLockedError);
    expect(() => acquireStateDirLock(dir)).toThrow(
      `state dir ${dir} is in use: another process holds the lock on ${lock.path} (the file names pid ${process.pid} on host ${os.hostname()} since `,
    );
    lock.release();
    lock.release();
    acquireStateDirLock(dir).release();
  });

  it.each([
    ['a dead pid on this host', JSON.stringify({ pid: 2 ** 22 + 12345, hostname: os.hostname() })],
    [
      'a live pid on this host (reused after a crash)',
      JSON.stringify({ pid: process.ppid, hostname: os.hostname() }),
    ],
    ['another host', JSON.stringify({ pid: 1, hostname: 'another-host' })],
    ['nothing (a crash before the owner was written)', ''],
    ['garbage', '\u0000{"pid":'],
  ])(
    'GIVEN a lock file naming %s that no process holds THEN it is taken, and release keeps the file, emptied',
    (_n, content) => {
      fs.writeFileSync(path.join(dir, LOCK_FILE_NAME), content);
      const lock = acquireStateDirLock(dir);
      expect(JSON.parse(fs.readFileSync(lock.path, 'utf8'))).toEqual({
        pid: process.pid,
        hostname: os.hostname(),
        acquiredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      });
      lock.release();
      expect(fs.readFileSync(lock.path, 'utf8')).toBe('');
    },
  );

  it('GIVEN missing parents THEN they are created; GIVEN a regular file or a file as a parent THEN StateDirError names the variable', () => {
    const nested = path.join(dir, 'a', 'b', 'c');
    acquireStateDirLock(nested).release();
    expect(fs.statSync(nested).isDirectory()).toBe(true);
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, '');
    for (const target of [file, path.join(file, 'sub')]) {
      expect(() => acquireStateDirLock(target)).toThrow(StateDirError);
      expect(() => acquireStateDirLock(target)).toThrow(
        `SNOWFLAKE_STATE_DIR=${target} cannot be used: ${file} exists and is not a directory (it is a regular file)`,
      );
    }
  });
});
