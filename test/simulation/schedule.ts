import { IdCodec } from '../../src/core/codec';
import { checkLayout, DEFAULT_EPOCH_MS, type Layout } from '../../src/core/layout';
import { defaultFenceMarginMs } from '../../src/worker-id/etcd/fence';
import { InvariantChecker, type Violation } from './checker';
import { checkAfterPowerLoss } from './durable-state';
import { DEFAULT_SETTLE_HOPS, EventLoop, settle } from './event-loop';
import { Prng } from './prng';
import { SimEtcd } from './sim-etcd';
import { CORRECT, Machine, type Cluster, type Composition, type NodeSettings } from './sim-node';
import { count, type Counters, type World } from './world';

/**
 * Deliberately broken variants, to show the faults bite: each must make the checker fail within a few
 * hundred seeds (simulation.test.ts). Names are the `--broken` values of `npm run simulate`.
 */
export const BROKEN = {
  /**
   * Sessions find no earlier reservation, neither the state file's nor the coordinator's: a restart with
   * the clock behind repeats IDs. (The re-claim's floor at what the process issued is the supervisor's
   * own: it is a source mutant, not a composition.)
   */
  'no-floor': { composition: { restoreFloor: false } },
  /** The floor ignores the coordinator's reservation: a worker ID moving to a machine behind repeats IDs. */
  'no-coordinator-floor': { composition: { coordinatorFloor: false } },
  /** The ceiling follows the disk alone: etcd's reservation lags what was issued. */
  'disk-only-ceiling': { composition: { ceilingNeedsCoordinator: false } },
  /** Grants ignore the fence: a partitioned node keeps issuing after its lease expired. */
  'no-fence': { composition: { honourFence: false } },
  /** etcd's clock runs faster than the fence margin allows for. */
  'etcd-clock-beyond-margin': { composition: {} },
} as const satisfies Record<string, { composition: Partial<Composition> }>;

/** A name of {@link BROKEN}. */
export type Broken = keyof typeof BROKEN;

/** Type guard for `--broken` values. */
export function isBroken(name: string): name is Broken {
  return Object.hasOwn(BROKEN, name);
}

/** How to run one schedule. */
export interface ScheduleOptions {
  /** Run a broken composition (see {@link BROKEN}). */
  readonly broken?: Broken;
  /** No faults at all (liveness: every node that can hold a worker ID must serve). */
  readonly calm?: boolean;
  /** Receives an event log line per fault and per violation (replays with --trace). */
  readonly trace?: (line: string) => void;
}

/** What one schedule did. */
export interface ScheduleResult {
  readonly seed: number;
  readonly mode: 'static' | 'etcd';
  readonly machines: number;
  /** IDs issued and checked. */
  readonly ids: number;
  /** Events run. */
  readonly steps: number;
  readonly simulatedMs: number;
  readonly violations: readonly Violation[];
  readonly counters: Counters;
  /** Digest of every grant in issue order: same seed, same digest. */
  readonly digest: number;
  /** IDs issued per machine. */
  readonly issuedPerMachine: readonly number[];
}

/** Layouts the schedules use: 2 worker bits (4 worker IDs shared by 3–5 nodes), 1 ms and 10 ms ticks. */
const LAYOUTS: readonly Layout[] = [
  {
    epochMs: DEFAULT_EPOCH_MS,
    timeUnitMs: 1,
    timestampBits: 41,
    datacenterBits: 8,
    workerBits: 2,
    sequenceBits: 12,
  },
  {
    epochMs: DEFAULT_EPOCH_MS,
    timeUnitMs: 1,
    timestampBits: 41,
    datacenterBits: 12,
    workerBits: 2,
    sequenceBits: 8,
  },
  {
    epochMs: DEFAULT_EPOCH_MS,
    timeUnitMs: 10,
    timestampBits: 39,
    datacenterBits: 10,
    workerBits: 2,
    sequenceBits: 12,
  },
];

/** Fault kinds and their weights; etcd kinds only apply to the etcd mode. */
const FAULTS = {
  'wall clock steps back': 3,
  'wall clock steps forward': 2,
  'wall/monotonic skew grows': 2,
  crash: 2,
  'power loss': 1,
  'crash mid-write': 1.5,
  'graceful restart (revoke)': 1.5,
  'disk writes fail': 1.5,
  'disk write lost (hangs)': 0.5,
  'disk writes slow': 1,
  'keepalives lost (lease expiry)': 2,
  'partition from etcd': 2,
  'flaky network to etcd': 1,
  'slow etcd answers': 1.5,
} as const;
type FaultKind = keyof typeof FAULTS;
/** Every fault kind a schedule may inject (besides bursts and a fast etcd clock). */
export const FAULT_KINDS = Object.keys(FAULTS) as readonly FaultKind[];
const ETCD_ONLY: ReadonlySet<FaultKind> = new Set([
  'keepalives lost (lease expiry)',
  'partition from etcd',
  'flaky network to etcd',
  'slow etcd answers',
]);
/** A hard cap on events per schedule (a runaway schedule is reported, never looped forever). */
const MAX_STEPS = 2_000_000;

/**
 * Runs the schedule of `seed`: draws a cluster (mode, layout, 2–5 machines, clocks, timeouts), a
 * workload and faults from a {@link Prng} seeded with it, runs the discrete-event loop to the horizon,
 * and returns what the invariant checker saw. A pure function of (seed, options).
 */
export async function runSchedule(seed: number, options: ScheduleOptions = {}): Promise<ScheduleResult> {
  const rng = new Prng(seed);
  const loop = new EventLoop();
  const trace = options.trace;
  const calm = options.calm ?? false;
  const world: World = { loop, rng, counters: {}, dirty: false, calm, trace };
  const broken = options.broken === undefined ? {} : BROKEN[options.broken].composition;
  const composition: Composition = { ...CORRECT, ...broken };

  const mode = rng.chance(0.7) ? 'etcd' : 'static';
  const layout = rng.chance(0.7) ? (LAYOUTS[0] as Layout) : rng.pick(LAYOUTS.slice(1));
  checkLayout(layout);
  const codec = new IdCodec(layout);
  const ttlMs = rng.pick([1000, 2000, 3000]);
  const settings: NodeSettings = {
    codec,
    mode,
    datacenterId: rng.int(0, 3),
    startUnixMs: DEFAULT_EPOCH_MS + rng.int(0, 5 * 365 * 86_400_000),
    maxClockBackwardsMs: rng.pick([0, 10, 50]),
    maxClockSkewMs: rng.pick([20, 100, 1000]),
    reservationMs: rng.pick([250, 1000, 2000]),
    maxStartupWaitMs: rng.pick([300, 3000, 60_000]),
    shutdownTimeoutMs: rng.pick([50, 500]),
    ttlMs,
    composition,
  };
  // etcd's clock may run faster than the nodes' monotonic clocks, within what the fence margin covers:
  // the fence holds if rate(etcd)/rate(node) < ttl/(ttl − margin).
  const marginMs = defaultFenceMarginMs(ttlMs);
  const headroom = marginMs / (ttlMs - marginMs);
  let etcdRate = 1;
  if (options.broken === 'etcd-clock-beyond-margin') etcdRate = (1 + headroom) * rng.range(1.2, 2);
  else if (mode === 'etcd' && !calm && rng.chance(0.5)) etcdRate = 1 + rng.range(0, 0.8 * headroom);
  if (etcdRate > 1) count(world.counters, 'fault.etcd clock runs fast');

  const etcd = new SimEtcd(world, () => loop.now * etcdRate);
  const checker = new InvariantChecker(
    codec,
    () => loop.now,
    trace &&
      ((v) => {
        trace(`t=${v.atMs.toFixed(3)} VIOLATION ${v.kind}: ${v.message}`);
      }),
  );
  const cluster: Cluster = { world, etcd, checker, settings, lastHolder: new Map() };
  const machineCount = mode === 'etcd' ? rng.int(3, 5) : rng.int(2, 4);
  const spread = rng.chance(0.5) ? 5 : rng.range(0, 3000);
  const machines: Machine[] = [];
  for (let i = 0; i < machineCount; i++) {
    machines.push(new Machine(cluster, i, rng.range(-spread, spread), 1 + rng.range(-1e-4, 1e-4), i));
  }
  const horizonMs = rng.range(3000, 7000);
  trace?.(
    `seed ${seed}: ${mode}, ${machineCount} machines, layout ${JSON.stringify(layout)}, ` +
      `settings ${JSON.stringify({ ...settings, codec: undefined, composition: options.broken ?? 'correct' })}, ` +
      `etcd rate ${etcdRate.toFixed(4)}, horizon ${horizonMs.toFixed(0)} ms`,
  );

  for (const m of machines) {
    loop.at(rng.range(0, 300), () => {
      m.boot();
    });
    scheduleWorkload(world, m, rng.range(25, 100), horizonMs);
  }
  if (!calm) {
    if (rng.chance(0.25)) {
      const m = rng.pick(machines);
      const n = rng.int(4097, 8000);
      loop.at(rng.range(500, horizonMs), () => {
        count(world.counters, 'fault.burst over 4096 IDs in one ms');
        trace?.(`t=${loop.now.toFixed(3)} m${m.id}: burst of ${n} IDs`);
        m.request(n);
      });
    }
    // kill -9 keeps what the kernel has; a power loss also loses what was not fsynced.
    const crash = (m: Machine, powerLoss: boolean): void => {
      m.crash();
      if (!powerLoss) return;
      m.disk.powerLoss();
      const node = { datacenterId: settings.datacenterId, workerId: m.staticWorkerId };
      checkAfterPowerLoss(m.disk, layout, node, checker, `m${m.id}`);
    };
    const faults = rng.int(1, 12);
    for (let i = 0; i < faults; i++) {
      const kind = drawFault(rng, mode);
      const m = rng.pick(machines);
      loop.at(rng.range(200, horizonMs * 0.9), () => {
        count(world.counters, `fault.${kind}`);
        trace?.(`t=${loop.now.toFixed(3)} m${m.id}: ${kind}`);
        inject(world, m, kind, ttlMs, crash);
      });
    }
  }

  const progress = (): number => loop.scheduled + checker.idsChecked + checker.violations.length;
  while (loop.step(horizonMs)) {
    if (world.dirty) {
      world.dirty = false;
      await settle(DEFAULT_SETTLE_HOPS, progress);
    }
    if (loop.steps > MAX_STEPS) {
      checker.fail('error', `more than ${MAX_STEPS} events: the schedule does not converge`);
      break;
    }
  }
  return {
    seed,
    mode,
    machines: machineCount,
    ids: checker.idsChecked,
    steps: loop.steps,
    simulatedMs: horizonMs,
    violations: checker.violations,
    // A copy: promise chains of this schedule's processes still pending when time stops may settle later,
    // while another schedule runs, and must not change what this one reports.
    counters: { ...world.counters },
    digest: checker.digest,
    issuedPerMachine: machines.map((m) => m.issued),
  };
}

/** Client calls to `m` until the horizon: mostly NextId, some small and medium BatchIds. */
function scheduleWorkload(world: World, m: Machine, meanGapMs: number, horizonMs: number): void {
  const { loop, rng } = world;
  const next = (): void => {
    const at = loop.now + rng.exp(meanGapMs);
    if (at >= horizonMs) return;
    loop.at(at, () => {
      const r = rng.next();
      m.request(r < 0.7 ? 1 : r < 0.97 ? rng.int(2, 16) : rng.int(17, 300));
      next();
    });
  };
  next();
}

/** Fault weights of the static mode: no etcd, so no etcd faults. */
const STATIC_FAULTS = Object.fromEntries(
  FAULT_KINDS.map((kind) => [kind, ETCD_ONLY.has(kind) ? 0 : FAULTS[kind]]),
) as Record<FaultKind, number>;

function drawFault(rng: Prng, mode: 'static' | 'etcd'): FaultKind {
  return rng.weighted(mode === 'etcd' ? FAULTS : STATIC_FAULTS);
}

function inject(
  world: World,
  m: Machine,
  kind: FaultKind,
  ttlMs: number,
  crash: (m: Machine, powerLoss: boolean) => void,
): void {
  const { loop, rng } = world;
  const now = loop.now;
  switch (kind) {
    case 'wall clock steps back':
      m.stepWall(-(rng.chance(0.3) ? rng.range(0.5, 60) : rng.range(60, 5000)));
      break;
    case 'wall clock steps forward':
      m.stepWall(rng.chance(0.3) ? rng.range(0.5, 60) : rng.range(60, 5000));
      break;
    case 'wall/monotonic skew grows': {
      m.setWallDrift((rng.chance(0.5) ? -1 : 1) * rng.range(0.001, 0.05));
      loop.after(rng.range(500, 4000), () => {
        m.setWallDrift(0);
      });
      break;
    }
    case 'crash':
      crash(m, false);
      break;
    case 'power loss':
      crash(m, true);
      break;
    case 'crash mid-write': {
      const powerLoss = rng.chance(0.5);
      m.disk.crashDuringNextWrite(() => {
        world.trace?.(`t=${loop.now.toFixed(3)} m${m.id}: ${powerLoss ? 'power loss' : 'crash'} mid-write`);
        crash(m, powerLoss);
      });
      break;
    }
    case 'graceful restart (revoke)':
      m.stop();
      break;
    case 'disk writes fail':
      m.disk.failUntilMs = now + rng.range(100, 3000);
      break;
    case 'disk write lost (hangs)':
      m.disk.hangNext++;
      break;
    case 'disk writes slow':
      m.disk.slowUntilMs = now + rng.range(500, 3000);
      break;
    case 'keepalives lost (lease expiry)':
      m.link.keepaliveLossUntilMs = now + rng.range(0.5, 2.5) * ttlMs;
      break;
    case 'partition from etcd':
      m.link.partitionedUntilMs = now + rng.range(0.3, 3) * ttlMs;
      break;
    case 'flaky network to etcd':
      m.link.flakyUntilMs = now + rng.range(500, 3000);
      break;
    case 'slow etcd answers':
      m.link.slowUntilMs = now + rng.range(500, 3000);
      break;
  }
}
