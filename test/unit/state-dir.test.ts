import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { StateDirLockedError, StateFileError } from '../../src/errors';
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
  it('GIVEN a held lock THEN a second holder is refused until it is released', () => {
    const lock = acquireStateDirLock(dir);
    const other = path.join(dir, LOCK_FILE_NAME);
    fs.writeFileSync(other, JSON.stringify({ pid: 1, hostname: 'another-host' }));
    expect(() => acquireStateDirLock(dir)).toThrow(StateDirLockedError);
    expect(() => acquireStateDirLock(dir)).toThrow(/in use by pid 1 on host another-host/);
    fs.rmSync(other);
    lock.release();
    acquireStateDirLock(dir).release();
  });

  it('GIVEN a lock left by a dead process on this host THEN it is taken over', () => {
    fs.writeFileSync(
      path.join(dir, LOCK_FILE_NAME),
      JSON.stringify({ pid: 2 ** 22 + 12345, hostname: os.hostname() }),
    );
    const lock = acquireStateDirLock(dir);
    expect(JSON.parse(fs.readFileSync(lock.path, 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();
    expect(fs.existsSync(lock.path)).toBe(false);
  });

  it('GIVEN a lock held by a live process on this host THEN it is refused', () => {
    fs.writeFileSync(
      path.join(dir, LOCK_FILE_NAME),
      JSON.stringify({ pid: process.ppid, hostname: os.hostname() }),
    );
    expect(() => acquireStateDirLock(dir)).toThrow(StateDirLockedError);
  });
});
