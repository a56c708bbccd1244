import { execFileSync, spawnSync } from 'node:child_process';
import * as os from 'node:os';

/**
 * Where the NextId figure runs its processes: the benchmark client on one CPU, each server on the
 * other. Left to the scheduler, which of the two servers shares a core with the client varies between
 * runs, and at 1 call in flight that alone moved the ratio of two identical empty-handler servers
 * between 94 and 101 %; pinned, between 98 and 100 %.
 */
export interface CpuPinning {
  /** CPU of the benchmark process (all its threads). */
  readonly clientCpu: number;
  /** CPU of every server child (all its threads, started under `taskset`). */
  readonly serverCpu: number;
  /** Gives the benchmark process back every CPU it had before. */
  readonly release: () => void;
}

/**
 * Pins this process to the first CPU it may use and reserves the second for servers; undefined (and
 * nothing changed) on a machine with fewer than 2 usable CPUs or without `taskset` (util-linux).
 */
export function pinClient(): CpuPinning | undefined {
  if (os.platform() !== 'linux' || spawnSync('taskset', ['-V']).status !== 0) return undefined;
  const printed = /:\s*(\S+)\s*$/.exec(
    execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' }),
  )?.[1];
  if (printed === undefined) return undefined;
  const allowed = parseCpuList(printed);
  if (allowed.length < 2) return undefined;
  const [clientCpu, serverCpu] = allowed as [number, number];
  const setAffinity = (list: string) => {
    execFileSync('taskset', ['-a', '-cp', list, String(process.pid)], { stdio: 'ignore' });
  };
  setAffinity(String(clientCpu));
  return {
    clientCpu,
    serverCpu,
    release: () => {
      setAffinity(printed);
    },
  };
}

/** `0-2,5` → [0, 1, 2, 5] (the format `taskset -cp` prints); parts that are not a CPU or range are skipped. */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (range === null) continue;
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    for (let cpu = from; cpu <= to; cpu++) cpus.push(cpu);
  }
  return cpus;
}
