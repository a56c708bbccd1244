import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { StateFile } from '../../src/state/state-file';
import { EventLoop } from './event-loop';
import { Prng } from './prng';
import { SimDisk, STATE_DIR } from './sim-disk';
import type { World } from './world';

const node = { datacenterId: 1, workerId: 2 };
const FILE = `${STATE_DIR}/snowflake-state.json`;
/** Bound on the events one call may take. */
const MAX_EVENTS = 1000;

function setup(seed = 1) {
  const loop = new EventLoop();
  const world: World = {
    loop,
    rng: new Prng(seed),
    counters: {},
    dirty: false,
    calm: true,
    trace: undefined,
  };
  const disk = new SimDisk(world);
  const owner = { alive: true };
  const fs = disk.fileSystemFor(owner);
  /** Runs the simulated clock until `call` settles. */
  async function run<T>(call: Promise<T>): Promise<T> {
    const state = { settled: false };
    const settle = (): void => {
      state.settled = true;
    };
    call.then(settle, settle);
    for (let i = 0; i < MAX_EVENTS && !state.settled; i++) {
      loop.step(loop.now + 10_000);
      for (let hop = 0; hop < 20; hop++) await Promise.resolve();
    }
    return call;
  }
  /** A write of `data` to FILE through a temp file, with or without its two fsyncs. */
  async function replace(data: string, { fsyncFile = true, fsyncDir = true } = {}): Promise<void> {
    const tmp = `${FILE}.tmp`;
    const file = await run(fs.openForWrite(tmp));
    await run(file.writeFile(data));
    if (fsyncFile) await run(file.sync());
    await run(file.close());
    await run(fs.rename(tmp, FILE));
    if (fsyncDir) {
      const dir = await run(fs.openDirectory(STATE_DIR));
      await run(dir.sync());
      await run(dir.close());
    }
  }
  const durable = (): string => disk.durableFileSystem().readFile(FILE);
  return { world, disk, owner, fs, run, replace, durable };
}

describe('SimDisk', () => {
  it('GIVEN a write through the real StateFile THEN it reads back, is durable, and survives a crash and a power loss', async () => {
    const { disk, owner, run } = setup();
    const file = new StateFile(STATE_DIR, DEFAULT_LAYOUT, node, disk.fileSystemFor(owner));
    await run(file.write(1_800_000_000_123));
    const reread = () => new StateFile(STATE_DIR, DEFAULT_LAYOUT, node, disk.fileSystemFor({ alive: true }));
    expect(reread().read()).toEqual({ reservedUntilMs: 1_800_000_000_123 });
    expect(new StateFile(STATE_DIR, DEFAULT_LAYOUT, node, disk.durableFileSystem()).read()).toEqual({
      reservedUntilMs: 1_800_000_000_123,
    });
    disk.crash();
    disk.powerLoss();
    expect(reread().read()).toEqual({ reservedUntilMs: 1_800_000_000_123 });
  });

  it('GIVEN content never fsynced THEN reads see it but the durable view has the content at the last fsync', async () => {
    const { replace, durable, fs } = setup();
    await replace('old');
    await replace('new', { fsyncFile: false });
    expect(fs.readFile(FILE)).toBe('new');
    // The renamed temp file was created empty and never fsynced.
    expect(durable()).toBe('');
  });

  it('GIVEN a rename without the directory fsync THEN the durable view still has the old file', async () => {
    const { replace, durable, fs } = setup();
    await replace('old');
    await replace('new', { fsyncDir: false });
    expect(fs.readFile(FILE)).toBe('new');
    expect(durable()).toBe('old');
  });

  it('GIVEN a process crash (kill -9) THEN nothing the kernel had is lost, synced or not', async () => {
    const { replace, disk, fs } = setup();
    await replace('old');
    await replace('new', { fsyncFile: false, fsyncDir: false });
    disk.crash();
    expect(fs.readFile(FILE)).toBe('new');
  });

  it('GIVEN power losses after an unsynced write THEN each leaves the old content, the new one, or an empty file, and all three occur', async () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const { replace, disk, fs } = setup(seed);
      await replace('old');
      await replace('new', { fsyncFile: false, fsyncDir: false });
      disk.crash();
      disk.powerLoss();
      seen.add(fs.readFile(FILE));
    }
    expect([...seen].sort()).toEqual(['', 'new', 'old']);
  });

  it("GIVEN a process that died THEN its calls never settle, while a live process's do", async () => {
    const { world, owner, fs } = setup();
    const settled: string[] = [];
    const track = (who: string, call: Promise<unknown>) =>
      call.then(
        () => settled.push(who),
        () => settled.push(who),
      );
    void track('dead', fs.openForWrite(`${FILE}.tmp`));
    owner.alive = false;
    void track('live', new SimDisk(world).fileSystemFor({ alive: true }).openForWrite(FILE));
    for (let i = 0; i < MAX_EVENTS && world.loop.step(world.loop.now + 10_000); i++) await Promise.resolve();
    await Promise.resolve();
    expect(settled).toEqual(['live']);
  });
});
