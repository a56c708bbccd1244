import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAIN_JS } from '../bench/lib/paths';
import { startEtcd, type EtcdServer } from '../test/helpers/etcd';
import { kill9, launch, NOBODY, pause, scrapeLife, stopLife, type Life } from './lib/instance';
import type { ClientConfig, ClientDone, Target, ToClient } from './lib/messages';
import { exitOf, sleep, track, withTimeout } from './lib/processes';
import { mountSmallDisk, setReadOnly, type SmallDisk } from './lib/state-faults';
import { verifyRun, type RunVerdict } from './lib/verify';
import { callRaw, decodeInfo, METHOD, rawClient, type ServerInfo } from './lib/wire';

/** libfaketime as Debian's faketime package installs it. */
export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/** Settings of the chaos phase (flags of chaos/run). */
export interface ChaosOptions {
  /** Length of the client phase, in s; the fault schedule is spread over it. */
  readonly seconds: number;
  /** `etcd`: worker IDs claimed through etcd leases; `static`: fixed distinct SNOWFLAKE_WORKER_ID. */
  readonly mode: 'etcd' | 'static';
  /** Ceiling on IDs requested per second by each client. */
  readonly clientIdsPerSecond: number;
  readonly seed: number;
  /** Work folder (state dirs, logs, client files); the caller removes it. */
  readonly workDir: string;
}

/** Every kind of fault the schedule injects (and the supervisor's restarts of processes that exited). */
const FAULT_KINDS = [
  'kill9',
  'restartPlain',
  'restartFaketimeBack',
  'restartFaketimeForward',
  'liveClockStepBack',
  'liveClockStepForward',
  'etcdKill9',
  'etcdGracefulRestart',
  'stateDirReadOnly',
  'stateDirDiskFull',
  'pauseBeyondLease',
  'supervisorRestart',
] as const;

/** Faults injected, by kind. */
export type FaultCounts = Record<(typeof FAULT_KINDS)[number], number>;

/** What the chaos phase reports. */
export interface ChaosReport extends RunVerdict {
  readonly mode: 'etcd' | 'static';
  readonly seconds: number;
  readonly seed: number;
  readonly faults: FaultCounts;
  readonly skippedFaults: readonly string[];
  readonly lives: readonly LifeSummary[];
  readonly clients: readonly ClientDone[];
}

interface LifeSummary {
  readonly life: number;
  readonly instance: string;
  readonly note: string;
  readonly end: string;
  readonly exitCode: number | string | null;
  readonly refusalLogLines: number;
  /** Its last error or fatal log line (why it exited, for unexpected exits). */
  readonly lastError: string | null;
}

const INSTANCES = 4;
const CLIENTS = 8;
const STREAMS_PER_CLIENT = 2;
const CALL_DEADLINE_MS = 3000;
const MAX_BATCH = 10_000;
/** Unexpected exits restarted per instance, at most (keeps a crash loop bounded). */
const MAX_SUPERVISOR_RESTARTS = 10;
const SMALL_DISK_KIB = 1024;

/** One instance: a name, a state dir kept across its lives, and the env every life gets. */
interface Instance {
  readonly name: string;
  readonly stateDir: string;
  readonly env: Readonly<Record<string, string>>;
  current?: Life;
  supervisorRestarts: number;
}

/**
 * The chaos scenario: etcd (unless static), 4 service instances, 8 client processes doing BatchIds for
 * `seconds` while a fixed schedule of faults runs; then every ID and error the clients recorded is
 * checked (see verifyRun).
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { workDir, mode } = options;
  const runAs = unprivilegedUser();
  const readOnlyBinds = runAs !== undefined || process.getuid?.() !== 0;
  const logDir = path.join(workDir, 'logs');
  const clientDir = path.join(workDir, 'clients');
  for (const dir of [logDir, clientDir]) fs.mkdirSync(dir, { recursive: true });
  // The service may run as nobody: it must reach its state dir and the faketime file below workDir.
  fs.chmodSync(workDir, 0o755);

  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as FaultCounts;
  const skippedFaults: string[] = [];
  const lives: Life[] = [];
  const clients: ChildProcess[] = [];
  const clientConfigs: ClientConfig[] = [];
  let etcd: EtcdServer | undefined;
  let smallDisk: SmallDisk | undefined;
  let stopping = false;
  /** Read through a call so that the compiler does not narrow it across awaits. */
  const isStopping = () => stopping;

  const liveFile = path.join(workDir, 'faketime-offset');
  fs.writeFileSync(liveFile, '+0\n', { mode: 0o644 });
  const liveClockEnv = {
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME_TIMESTAMP_FILE: liveFile,
    FAKETIME_NO_CACHE: '1',
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
  const fixedClockEnv = (offset: string) => ({
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME: offset,
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  });

  try {
    let sourceEnv: (i: number) => Record<string, string>;
    if (mode === 'etcd') {
      etcd = await startEtcd();
      const endpoint = etcd.endpoint;
      sourceEnv = () => ({
        SNOWFLAKE_WORKER_ID_SOURCE: 'etcd',
        SNOWFLAKE_ETCD_ENDPOINTS: endpoint,
        SNOWFLAKE_ETCD_PREFIX: '/chaos/',
        SNOWFLAKE_ETCD_LEASE_TTL_S: '2',
      });
    } else {
      sourceEnv = (i) => ({ SNOWFLAKE_WORKER_ID_SOURCE: 'static', SNOWFLAKE_WORKER_ID: String(i + 1) });
    }

    const instances: Instance[] = [];
    for (let i = 0; i < INSTANCES; i++) {
      const stateDir = path.join(workDir, `state-i${i}`);
      fs.mkdirSync(stateDir);
      if (runAs !== undefined) fs.chownSync(stateDir, runAs.uid, runAs.gid);
      instances.push({
        name: `i${i}`,
        stateDir,
        env: { ...sourceEnv(i), SNOWFLAKE_STATE_DIR: stateDir, ...(i === 3 ? liveClockEnv : {}) },
        supervisorRestarts: 0,
      });
    }
    const [i0, i1, i2, i3] = instances as [Instance, Instance, Instance, Instance];
    const disk = mountSmallDisk(i1.stateDir, SMALL_DISK_KIB, runAs);
    if (typeof disk === 'string') skippedFaults.push(`stateDirDiskFull: ${disk}`);
    else smallDisk = disk;

    const broadcastTargets = () => {
      const targets: Target[] = lives
        .filter((l) => l.end === undefined && l.grpcAddr !== undefined)
        .map((l) => ({ life: l.id, addr: l.grpcAddr ?? '' }));
      const msg: ToClient = { type: 'targets', targets };
      for (const c of clients) if (c.connected) c.send(msg);
    };

    const startLife = (instance: Instance, extraEnv: Record<string, string>, note: string): Life => {
      const life = launch({
        id: lives.length,
        instance: instance.name,
        note,
        env: { ...instance.env, ...extraEnv },
        logDir,
        ...(runAs !== undefined && { runAs }),
      });
      lives.push(life);
      instance.current = life;
      life.listening.then(broadcastTargets, () => undefined);
      void life.exited.then(async () => {
        broadcastTargets();
        // Supervise: an exit the schedule did not cause is restarted, as a process manager would.
        if (life.end !== 'exited' || stopping || instance.current !== life) return;
        if (instance.supervisorRestarts >= MAX_SUPERVISOR_RESTARTS) return;
        instance.supervisorRestarts++;
        faults.supervisorRestart++;
        await sleep(1000);
        if (!isStopping() && instance.current === life) startLife(instance, {}, 'supervisor restart');
      });
      return life;
    };

    /**
     * Waits (at most 8 s) for the instance's current process to serve, so that a state-dir fault hits
     * a running service rather than one still booting (which would only fail to take its lock).
     */
    const settled = async (instance: Instance) => {
      await withTimeout(instance.current?.serving ?? Promise.resolve(), 8000, 'serving').catch(
        () => undefined,
      );
    };

    /** kill -9 the instance's process, run `meanwhile` (e.g. repair its disk), start it again. */
    const killAndRestart = async (
      instance: Instance,
      extraEnv: Record<string, string>,
      note: string,
      meanwhile: () => void = () => undefined,
    ) => {
      const life = instance.current;
      if (life !== undefined && life.end === undefined) {
        await scrapeLife(life);
        await kill9(life);
        faults.kill9++;
        broadcastTargets();
      }
      meanwhile();
      startLife(instance, extraEnv, note);
    };

    // A clean start: every instance serving before the clients and faults begin.
    await withTimeout(
      Promise.all(instances.map((inst) => startLife(inst, {}, 'initial').serving)),
      45_000,
      'starting 4 instances',
    );
    const info = await serverInfo(i0.current?.grpcAddr ?? '');

    for (let c = 0; c < CLIENTS; c++) {
      const config: ClientConfig = {
        index: c,
        idsFile: path.join(clientDir, `client-${c}.ids`),
        errorsFile: path.join(clientDir, `client-${c}.errors.jsonl`),
        streams: STREAMS_PER_CLIENT,
        idsPerSecond: options.clientIdsPerSecond,
        deadlineMs: CALL_DEADLINE_MS,
        maxCount: Math.min(MAX_BATCH, info.maxBatchSize),
        seed: (options.seed + c * 7919) >>> 0,
      };
      clientConfigs.push(config);
      clients.push(
        track(
          fork(path.join(__dirname, 'client.js'), [], {
            env: { PATH: process.env.PATH ?? '', CHAOS_CLIENT: JSON.stringify(config) },
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          }),
        ),
      );
    }
    const clientDone = clients.map(
      (c) =>
        new Promise<ClientDone | undefined>((resolve) => {
          c.on('message', (m: ClientDone) => {
            resolve(m);
          });
          c.once('exit', () => {
            resolve(undefined);
          });
        }),
    );
    broadcastTargets();

    const scraper = setInterval(() => {
      for (const l of lives) void scrapeLife(l);
    }, 500);

    /**
     * SIGSTOP the instance holding the lowest worker ID for longer than its lease (TTL 2 s), restart
     * another instance meanwhile (in etcd mode it claims the lowest free worker ID: the frozen one's),
     * then resume the frozen one: the calls queued meanwhile must never be answered with the lost ID.
     */
    const pauseLowestWorker = async () => {
      const candidates = instances.filter(
        (inst) => inst.current?.end === undefined && inst.current?.grpcAddr,
      );
      // Only instances that serve: one still claiming in the background answers GetInfo with worker 0.
      const withWorker = await Promise.all(
        candidates.map(async (inst) => ({
          inst,
          workerId: (await hasResolved(inst.current?.serving))
            ? await workerIdOf(inst.current?.grpcAddr ?? '')
            : undefined,
        })),
      );
      const frozen = withWorker
        .filter((c) => c.workerId !== undefined)
        .sort((a, b) => (a.workerId ?? 0) - (b.workerId ?? 0))[0];
      const life = frozen?.inst.current;
      if (frozen === undefined || life === undefined) return;
      const other = instances.find((inst) => inst !== frozen.inst && inst !== i0) ?? i1;
      log(`  freezing ${frozen.inst.name} (worker ${frozen.workerId}); restarting ${other.name} meanwhile`);
      faults.pauseBeyondLease++;
      await pause(life, 7000, mode === 'etcd' ? frozen.workerId : undefined, async () => {
        await sleep(3500);
        faults.restartPlain++;
        await killAndRestart(other, {}, `restart while ${frozen.inst.name} is frozen`);
        await withTimeout(other.current?.serving ?? Promise.resolve(), 3000, 'serving').catch(
          () => undefined,
        );
      });
    };

    const step = {
      live: (offset: string, kind: 'liveClockStepBack' | 'liveClockStepForward') => () => {
        fs.writeFileSync(liveFile, `${offset}\n`);
        faults[kind]++;
      },
      etcdKill: async () => {
        if (etcd === undefined) return;
        await etcd.kill();
        faults.etcdKill9++;
        await sleep(1500);
        await etcd.restart();
      },
      etcdRestart: async () => {
        if (etcd === undefined) return;
        await etcd.restart();
        faults.etcdGracefulRestart++;
      },
      restart: (instance: Instance, how: 'plain' | '-20s' | '+10s') => () => {
        if (how === 'plain') {
          faults.restartPlain++;
          return killAndRestart(instance, {}, 'restart');
        }
        faults[how === '-20s' ? 'restartFaketimeBack' : 'restartFaketimeForward']++;
        return killAndRestart(instance, fixedClockEnv(how), `restart FAKETIME=${how}`);
      },
    };
    const schedule: [number, string, () => unknown][] = [
      [0.06, 'kill -9 i0, restart', step.restart(i0, 'plain')],
      [0.1, 'i3 clock -3 s (live)', step.live('-3s', 'liveClockStepBack')],
      [0.13, 'kill -9 i2, restart FAKETIME=-20s', step.restart(i2, '-20s')],
      [0.18, 'kill -9 etcd, restart 1.5 s later', step.etcdKill],
      [
        0.22,
        'i1 state dir disk full',
        async () => {
          if (smallDisk === undefined) return;
          await settled(i1);
          smallDisk.fill();
          faults.stateDirDiskFull++;
        },
      ],
      [
        0.3,
        'kill -9 i1 while its disk is full, free the space, restart',
        () => {
          faults.restartPlain++;
          return killAndRestart(i1, {}, 'restart after disk full', () => smallDisk?.drain());
        },
      ],
      [0.33, 'i3 clock +5 s (live)', step.live('+5s', 'liveClockStepForward')],
      [0.36, 'kill -9 i0, restart FAKETIME=+10s', step.restart(i0, '+10s')],
      [0.42, 'i3 clock back to +0 (live)', step.live('+0', 'liveClockStepBack')],
      [0.45, 'etcd graceful restart', step.etcdRestart],
      [
        0.48,
        'i0 state dir read-only',
        async () => {
          if (!readOnlyBinds) return;
          await settled(i0);
          setReadOnly(i0.stateDir, true);
          faults.stateDirReadOnly++;
        },
      ],
      [0.56, 'kill -9 i1, restart', step.restart(i1, 'plain')],
      [
        0.6,
        'i0 state dir writable',
        () => {
          setReadOnly(i0.stateDir, false);
        },
      ],
      [0.62, 'SIGSTOP the holder of the lowest worker ID for 7 s', pauseLowestWorker],
      [0.76, 'kill -9 i3, restart', step.restart(i3, 'plain')],
      [0.78, 'kill -9 i0 (at +10 s), restart without offset', step.restart(i0, 'plain')],
      [0.8, 'kill -9 etcd, restart 1.5 s later', step.etcdKill],
      [
        0.84,
        'kill -9 i1 and i2 at once, restart both',
        () => Promise.all([step.restart(i1, 'plain')(), step.restart(i2, 'plain')()]),
      ],
      [0.88, 'i3 clock -2 s (live)', step.live('-2s', 'liveClockStepBack')],
      [0.94, 'i3 clock back to +0 (live)', step.live('+0', 'liveClockStepForward')],
    ];
    if (!readOnlyBinds)
      skippedFaults.push('stateDirReadOnly: running as root and user nobody cannot run dist/main.js here');
    if (mode === 'static') skippedFaults.push('etcdKill9, etcdGracefulRestart: static worker IDs, no etcd');

    const startMs = Date.now();
    const endMs = startMs + options.seconds * 1000;
    for (const [at, what, run] of schedule) {
      await sleep(startMs + at * options.seconds * 1000 - Date.now());
      log(`t=${((Date.now() - startMs) / 1000).toFixed(1)}s ${what}`);
      await run();
    }
    await sleep(endMs - Date.now());

    log('stopping clients');
    stopping = true;
    clearInterval(scraper);
    for (const c of clients) if (c.connected) c.send({ type: 'stop' } satisfies ToClient);
    const doneTimer = setTimeout(() => {
      for (const c of clients) c.kill('SIGKILL');
    }, CALL_DEADLINE_MS + 10_000);
    const done = await Promise.all(clientDone);
    clearTimeout(doneTimer);
    await Promise.all(clients.map((c) => exitOf(c)));

    // No call is in flight now: these counters are exact.
    await Promise.all(lives.map((l) => scrapeLife(l, true)));
    await Promise.all(lives.filter((l) => l.end === undefined).map((l) => stopLife(l, 15_000)));

    log('checking every ID and error');
    const verdict = await verifyRun({
      clients: clientConfigs,
      lives,
      info,
      runStartMs: startMs,
      runEndMs: Date.now(),
    });
    const missing = done.flatMap((d, i) => (d === undefined ? [`client ${i} did not report (killed)`] : []));
    // A process still starting (e.g. claiming its worker ID) has no SIGTERM handler yet: only ones that
    // served must drain and exit 0.
    const processProblems = lives.flatMap((l) => [
      ...(l.end === 'stopped' && l.messages.has('serving') && l.exitCode !== 0
        ? [`${l.instance} life ${l.id} exited ${String(l.exitCode)} on SIGTERM with no call in flight`]
        : []),
      ...(STACK_FRAME.test(l.stderr)
        ? [`${l.instance} life ${l.id} printed a stack trace: ${l.stderr.slice(0, 500)}`]
        : []),
    ]);
    return {
      mode,
      seconds: options.seconds,
      seed: options.seed,
      faults,
      skippedFaults,
      ...verdict,
      violations: [...missing, ...processProblems, ...verdict.violations],
      lives: lives.map((l) => ({
        life: l.id,
        instance: l.instance,
        note: l.note,
        end: l.end ?? 'running',
        exitCode: l.exitCode ?? null,
        refusalLogLines: l.messages.get('refusing to issue IDs') ?? 0,
        lastError: l.lastError?.slice(0, 300) ?? null,
      })),
      clients: done.filter((d) => d !== undefined),
    };
  } finally {
    stopping = true;
    for (const c of clients) c.kill('SIGKILL');
    await Promise.all(lives.filter((l) => l.end === undefined).map((l) => kill9(l)));
    await etcd?.dispose();
    smallDisk?.unmount();
  }
}

/**
 * As root, a read-only mode does not bind: run the service as `nobody` then, if that user can run it
 * from this checkout (a checkout under /root cannot be read by it). Undefined: run as the current user.
 */
function unprivilegedUser(): typeof NOBODY | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const probe = spawnSync(process.execPath, [MAIN_JS, '--help'], {
    ...NOBODY,
    stdio: 'ignore',
    timeout: 10_000,
  });
  return probe.status === 0 ? NOBODY : undefined;
}

/** A V8 stack frame on stderr: an uncaught exception, never a handled refusal. */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

/** The worker ID the server at `addr` stamps now (GetInfo), or undefined if it does not answer in 1 s. */
/** True when `promise` has already resolved (checked without waiting for anything but microtasks). */
async function hasResolved(promise: Promise<unknown> | undefined): Promise<boolean> {
  if (promise === undefined) return false;
  const pending = Symbol('pending');
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => false,
    ),
    new Promise<typeof pending>((resolve) => {
      setImmediate(() => {
        resolve(pending);
      });
    }),
  ]);
  return settled === true;
}

async function workerIdOf(addr: string): Promise<number | undefined> {
  const client = rawClient(addr);
  try {
    const r = await callRaw(client, METHOD.getInfo, Buffer.alloc(0), 1000);
    return r.ok ? decodeInfo(r.bytes).workerId : undefined;
  } finally {
    client.close();
  }
}

/** GetInfo from the first instance: the layout every ID is decoded with. */
async function serverInfo(addr: string): Promise<ServerInfo> {
  const client = rawClient(addr);
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      const r = await callRaw(client, METHOD.getInfo, Buffer.alloc(0), 2000);
      if (r.ok) return decodeInfo(r.bytes);
      await sleep(250);
    }
    throw new Error(`GetInfo on ${addr} kept failing`);
  } finally {
    client.close();
  }
}

const processStartMs = Date.now();

function log(line: string): void {
  process.stdout.write(`[chaos +${((Date.now() - processStartMs) / 1000).toFixed(1)}s] ${line}\n`);
}
