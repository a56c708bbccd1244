import pino from 'pino';
import type { IdCodec, NodeId } from '../../src/core/codec';
import type { Allocation, Generator } from '../../src/core/generator';
import { TimeBase } from '../../src/core/time-base';
import { CancelledError, RefusalError, SnowflakeError } from '../../src/errors';
import type { IdIssuer, Scheduler } from '../../src/issuer';
import { createMetrics, type Metrics } from '../../src/metrics/metrics';
import { NodeSession, type LocalReservationFile, type SessionDeps } from '../../src/session';
import { StateFile } from '../../src/state/state-file';
import type { Timers } from '../../src/timers';
import { fixedClaim, type WorkerIdClaim } from '../../src/worker-id/claim';
import {
  claimEtcdWorkerIdVia,
  etcdReservationKey,
  etcdWorkerKey,
  type EtcdWorkerIdClaim,
} from '../../src/worker-id/etcd-claim';
import type { InvariantChecker } from './checker';
import type { SimTimer } from './event-loop';
import { durableReading } from './durable-state';
import { SimDisk, STATE_DIR } from './sim-disk';
import { healthyLink, type LinkState, type SimEtcd } from './sim-etcd';
import { SimEtcdPort } from './sim-etcd-port';
import { count, type World } from './world';

/**
 * What a process hands each NodeSession. Correct: everything as startServer does. Each rule can be
 * broken (by wrapping the claim or the state file the session gets) to check that the simulation
 * notices: see `BROKEN` in schedule.ts.
 */
export interface Composition {
  /** The session gets the state file's reservation and this process's earlier sessions' (notBeforeMs). */
  readonly restoreFloor: boolean;
  /** The session gets the coordinator's reservation left by earlier holders of the worker ID. */
  readonly coordinatorFloor: boolean;
  /** claim.storeReservation resolves once etcd has the reservation (else at once, etcd best effort). */
  readonly ceilingNeedsCoordinator: boolean;
  /** claim.safeUntilMs is the fence (else Infinity: the lease is never doubted). */
  readonly honourFence: boolean;
}

/** The rules as intended. */
export const CORRECT: Composition = {
  restoreFloor: true,
  coordinatorFloor: true,
  ceilingNeedsCoordinator: true,
  honourFence: true,
};

/** Settings shared by every node of a schedule (the service config, scaled down for short schedules). */
export interface NodeSettings {
  readonly codec: IdCodec;
  /** `static`: fixed worker IDs, state file only (today's server). `etcd`: claimed worker IDs. */
  readonly mode: 'static' | 'etcd';
  readonly datacenterId: number;
  /** Unix ms at true time 0. */
  readonly startUnixMs: number;
  readonly maxClockBackwardsMs: number;
  readonly maxClockSkewMs: number;
  readonly reservationMs: number;
  readonly maxStartupWaitMs: number;
  readonly shutdownTimeoutMs: number;
  readonly ttlMs: number;
  readonly composition: Composition;
}

/** What the nodes of one schedule share. */
export interface Cluster {
  readonly world: World;
  readonly etcd: SimEtcd;
  readonly checker: InvariantChecker;
  readonly settings: NodeSettings;
  /** The machine that last held each worker ID (to count IDs moving between machines). */
  readonly lastHolder: Map<number, number>;
}

const PREFIX = '/snowflake/';
/** startServer's housekeeping period, ms. */
const HOUSEKEEPING_MS = 100;
/** startServer's re-claim backoff, ms. */
const RECLAIM_BACKOFF_MS = { first: 500, max: 10_000 } as const;
/** Shortest simulated sleep, ms. */
const MIN_SLEEP_MS = 0.001;
/** A stop that has not finished after this is ended by SIGKILL (Kubernetes' grace period, scaled). */
const KILL_AFTER_MS = 4000;

/**
 * One machine: a wall clock (offset from true time, may step and drift), a monotonic clock rate, a
 * state-file disk that survives its processes, and a network link to etcd. It runs one process at a
 * time and restarts it after a crash or stop, like a supervisor.
 */
export class Machine {
  readonly id: number;
  readonly disk: SimDisk;
  readonly link: LinkState = healthyLink();
  /** Monotonic ms per true ms (a crystal's error; the same for every process of this machine). */
  readonly monoRate: number;
  /** Worker ID for the static mode. */
  readonly staticWorkerId: number;
  process: Process | undefined;
  /** IDs this machine's processes issued. */
  issued = 0;
  private readonly cluster: Cluster;
  private wallOffsetMs: number;
  private wallDriftPerMs = 0;
  private driftFromMs = 0;
  private incarnations = 0;

  constructor(cluster: Cluster, id: number, wallOffsetMs: number, monoRate: number, staticWorkerId: number) {
    this.cluster = cluster;
    this.id = id;
    this.disk = new SimDisk(cluster.world);
    this.wallOffsetMs = wallOffsetMs;
    this.monoRate = monoRate;
    this.staticWorkerId = staticWorkerId;
  }

  /** The wall clock (Date.now) in Unix ms. */
  wallMs(): number {
    const t = this.cluster.world.loop.now;
    return (
      this.cluster.settings.startUnixMs + t + this.wallOffsetMs + this.wallDriftPerMs * (t - this.driftFromMs)
    );
  }

  /** NTP or an operator steps the wall clock by `deltaMs`. */
  stepWall(deltaMs: number): void {
    this.foldDrift();
    this.wallOffsetMs += deltaMs;
  }

  /** The wall clock starts gaining `perMs` ms per ms on the monotonic clock (negative: losing). */
  setWallDrift(perMs: number): void {
    this.foldDrift();
    this.wallDriftPerMs = perMs;
  }

  /** Starts a new process. */
  boot(): void {
    if (this.process?.alive === true) return;
    this.incarnations++;
    const proc = new Process(this.cluster, this, this.incarnations);
    this.process = proc;
    this.cluster.world.dirty = true;
    void proc.start();
  }

  /** kill -9: the process and everything in memory are gone; the disk keeps completed writes. */
  crash(): void {
    const proc = this.process;
    if (proc?.alive !== true) return;
    proc.die();
    this.disk.crash();
    this.restartLater(this.cluster.world.rng.chance(0.3) ? 0 : this.cluster.world.rng.range(10, 3000));
  }

  /** SIGTERM: a graceful stop (drain, final reservation, revoke), then a restart. */
  stop(): void {
    const proc = this.process;
    if (proc?.alive !== true || proc.stopping) return;
    this.cluster.world.dirty = true;
    const killTimer = this.cluster.world.loop.after(KILL_AFTER_MS, () => {
      count(this.cluster.world.counters, 'event.stop took too long: killed');
      this.crash();
    });
    void proc.stop().then(() => {
      this.cluster.world.loop.cancel(killTimer);
      if (!proc.alive) return;
      proc.die();
      this.disk.crash(false);
      this.restartLater(this.cluster.world.rng.range(0, 2000));
    });
  }

  /** A client call for `n` IDs (NextId when 1, else BatchIds). */
  request(n: number): void {
    const proc = this.process;
    if (proc?.alive !== true || proc.stopping) {
      count(this.cluster.world.counters, 'refused.NOT_RUNNING');
      return;
    }
    proc.serve(n);
  }

  /** Closes the issuers' background timers (the only real timers of the modules driven). */
  closeAll(): void {
    this.process?.closeIssuers();
  }

  /** After a failed start: exit 1, and the supervisor restarts the process later. */
  exitAndRestart(proc: Process): void {
    if (this.process !== proc || !proc.alive) return;
    proc.die();
    this.disk.crash(false);
    this.restartLater(this.cluster.world.rng.range(500, 3000));
  }

  private restartLater(ms: number): void {
    this.cluster.world.loop.after(ms, () => {
      this.boot();
    });
  }

  private foldDrift(): void {
    const t = this.cluster.world.loop.now;
    this.wallOffsetMs += this.wallDriftPerMs * (t - this.driftFromMs);
    this.driftFromMs = t;
  }
}

/** A held worker ID: the real NodeSession and what the checker needs to know about it. */
interface Held {
  readonly session: NodeSession;
  /** `m<machine>#<process>.s<session> w<worker>`, for messages. */
  readonly label: string;
}

/**
 * One process of the service, composed as startServer does (startServer itself binds gRPC and HTTP
 * ports and a lock file, so its wiring is mirrored here, not called): one TimeBase (wall + monotonic)
 * for the process; a real {@link NodeSession} per held worker ID, built from the claim, the simulated
 * state file and the floor; a 100 ms housekeeping timer renewing the reservation; on a lost claim, a
 * re-claim loop with backoff; stop = drain, final reservation, release.
 */
export class Process {
  alive = true;
  stopping = false;
  readonly label: string;
  held: Held | undefined;
  readonly scheduler: Scheduler;
  /** This process's timers, as the etcd claim gets them: {@link Process.after} and cancel. */
  readonly timers: Timers;
  readonly timeBase: TimeBase;
  readonly cluster: Cluster;
  readonly machine: Machine;
  private readonly bootAtMs: number;
  private readonly monoOriginMs: number;
  private readonly issuers: IdIssuer[] = [];
  private readonly deps: SessionDeps;
  private sessions = 0;
  private housekeeping: SimTimer | undefined;
  private reclaiming: Promise<void> | undefined;
  private wakeReclaim: (() => void) | undefined;
  private inFlight = 0;
  private readonly cancellers = new Set<() => void>();
  private drained: (() => void) | undefined;

  constructor(cluster: Cluster, machine: Machine, incarnation: number) {
    const { settings, world } = cluster;
    this.cluster = cluster;
    this.machine = machine;
    this.label = `m${machine.id}#${incarnation}`;
    this.bootAtMs = world.loop.now;
    this.monoOriginMs = world.rng.range(0, 50);
    this.scheduler = {
      sleep: (ms) =>
        new Promise<void>((resolve) => {
          // Real waits always let some time pass; a zero wait here could spin at one instant.
          this.after(Math.max(MIN_SLEEP_MS, ms), resolve);
        }),
    };
    this.timers = {
      after: (ms, fn) => this.after(ms, fn),
      cancel: (timer) => {
        world.loop.cancel(timer as SimTimer | undefined);
      },
    };
    this.timeBase = new TimeBase(
      { wallMs: () => machine.wallMs(), monotonicMs: () => this.monotonicMs() },
      settings.maxClockSkewMs,
    );
    const rules = settings.composition;
    this.deps = {
      codec: settings.codec,
      timeBase: this.timeBase,
      monotonicNowMs: () => this.monotonicMs(),
      scheduler: this.scheduler,
      writeTimeout: (ms) => this.scheduler.sleep(ms),
      openStateFile: (node) => this.stateFile(node, rules.restoreFloor),
      maxClockBackwardsMs: settings.maxClockBackwardsMs,
      reservationMs: settings.reservationMs,
      metrics: sharedMetrics(),
      logger: SILENT,
      availabilityChanged: () => undefined,
    };
  }

  /** The current session, if any. */
  get session(): NodeSession | undefined {
    return this.held?.session;
  }

  /** Stopping or dead (a method, so the type checker re-reads it after every await). */
  halted(): boolean {
    return this.stopping || !this.alive;
  }

  /** A line in the --trace log. */
  log(message: string): void {
    const trace = this.cluster.world.trace;
    if (trace !== undefined) trace(`t=${this.cluster.world.loop.now.toFixed(3)} ${this.label}: ${message}`);
  }

  /** performance.now() of this process. */
  monotonicMs(): number {
    return this.monoOriginMs + (this.cluster.world.loop.now - this.bootAtMs) * this.machine.monoRate;
  }

  /** A timer of this process: `fn` runs after `ms` monotonic ms, unless the process has died. */
  after(ms: number, fn: () => void, settles = true): SimTimer {
    const { world } = this.cluster;
    return world.loop.after(ms / this.machine.monoRate, () => {
      if (!this.alive) return;
      if (settles) world.dirty = true;
      fn();
    });
  }

  /** Boot, as startServer + main: claim, first session, housekeeping, activate; exit 1 if that fails. */
  async start(): Promise<void> {
    const { world, settings } = this.cluster;
    let claim: WorkerIdClaim | undefined;
    try {
      claim = await this.acquireClaim();
      if (!this.alive) return;
      const held = this.newSession(claim, 0);
      this.watchLoss(held);
      this.scheduleHousekeeping();
      await held.session.activate(settings.maxStartupWaitMs, 'in the simulated state file');
      count(world.counters, 'event.started');
      this.log(`serving as ${held.label}`);
    } catch (err) {
      if (!this.alive) return;
      count(world.counters, `event.start failed: ${codeOf(err)}`);
      this.log(`start failed: ${String(err)}`);
      if (this.held === undefined) await claim?.release();
      else await this.stop();
      this.machine.exitAndRestart(this);
    }
  }

  /** Serves one call on the current session's issuer, as the gRPC handlers do. */
  serve(n: number): void {
    const held = this.held;
    const { world, checker } = this.cluster;
    if (held === undefined) {
      count(world.counters, 'refused.STARTING');
      return;
    }
    world.dirty = true;
    let cancelled = false;
    const cancel = (): void => {
      cancelled = true;
    };
    const isCancelled = (): boolean => cancelled;
    this.inFlight++;
    this.cancellers.add(cancel);
    const { issuer } = held.session;
    const call: Promise<bigint[]> =
      n === 1 ? issuer.next(isCancelled).then((id) => [id]) : issuer.batch(n, isCancelled);
    call
      .then(
        (ids) => {
          this.checkDelivered(held, ids, n);
          count(world.counters, 'calls.ok');
        },
        (err: unknown) => {
          if (err instanceof RefusalError || err instanceof CancelledError) {
            count(world.counters, `refused.${err.code}`);
          } else {
            checker.fail('error', `${held.label}: call failed with ${String(err)}`);
          }
        },
      )
      .finally(() => {
        this.inFlight--;
        this.cancellers.delete(cancel);
        if (this.inFlight === 0) this.drained?.();
      })
      .catch(() => undefined);
  }

  /** Graceful stop, as RunningServer.stop: drain (bounded), final reservation if serving, release. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wakeReclaim?.();
    this.cluster.world.loop.cancel(this.housekeeping);
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.after(this.cluster.settings.shutdownTimeoutMs, () => {
          count(this.cluster.world.counters, 'event.shutdown forced');
          for (const cancel of this.cancellers) cancel();
          resolve();
        });
        this.drained = () => {
          this.cluster.world.loop.cancel(timer);
          this.cluster.world.dirty = true;
          resolve();
        };
      });
    }
    await this.reclaiming;
    const last = this.session;
    if (last === undefined) return;
    const wasActive = last.active;
    last.close();
    if (wasActive && last.leaseValid) await last.keeper.finalize();
    await last.claim.release();
  }

  /** kill -9 or exit: nothing of this process runs any more. */
  die(): void {
    this.log('exits');
    this.alive = false;
    this.closeIssuers();
  }

  /** Clears the issuers' recovery timers (real setTimeout; see README.md). */
  closeIssuers(): void {
    for (const issuer of this.issuers) issuer.close();
  }

  /**
   * A worker ID: the configured one (static), or one claimed from etcd by the real claim
   * (src/worker-id/etcd-claim.ts) over this machine's link, on this process's clock and timers.
   */
  acquireClaim(): Promise<WorkerIdClaim> {
    const { settings, world, etcd } = this.cluster;
    if (settings.mode === 'static') {
      return Promise.resolve(
        fixedClaim({ datacenterId: settings.datacenterId, workerId: this.machine.staticWorkerId }),
      );
    }
    const port = new SimEtcdPort(world, etcd, this.machine.link, () => this.alive);
    return claimEtcdWorkerIdVia(port, {
      prefix: PREFIX,
      leaseTtlSeconds: settings.ttlMs / 1000,
      datacenterId: settings.datacenterId,
      workerBits: settings.codec.layout.workerBits,
      owner: this.label,
      monotonicNowMs: () => this.monotonicMs(),
      timers: this.timers,
      logger: SILENT,
    });
  }

  /** The real StateFile on this machine's simulated disk, as NodeSession opens it (unread when `!readable`). */
  private stateFile(node: NodeId, readable: boolean): LocalReservationFile {
    const { layout } = this.cluster.settings.codec;
    const file = new StateFile(STATE_DIR, layout, node, this.machine.disk.fileSystemFor(this));
    if (readable) return file;
    return { path: file.path, read: () => ({ reservedUntilMs: 0 }), write: (untilMs) => file.write(untilMs) };
  }

  /** A real NodeSession for `claim`, with every grant of its generator checked the moment it is made. */
  private newSession(claim: WorkerIdClaim, notBeforeMs: number): Held {
    const { settings, checker, etcd } = this.cluster;
    const rules = settings.composition;
    this.sessions++;
    const session = new NodeSession(
      this.deps,
      composeClaim(claim, rules),
      rules.restoreFloor ? notBeforeMs : 0,
    );
    const node = claim.node;
    const held: Held = { session, label: `${this.label}.s${this.sessions} w${node.workerId}` };
    const previous = this.cluster.lastHolder.get(node.workerId);
    if (previous !== undefined && previous !== this.machine.id) {
      count(this.cluster.world.counters, 'event.worker ID moved to another machine');
    }
    this.cluster.lastHolder.set(node.workerId, this.machine.id);
    const leaseId = 'leaseId' in claim ? Number((claim as EtcdWorkerIdClaim).leaseId) : undefined;
    const resKey = etcdReservationKey(PREFIX, node.datacenterId, node.workerId);
    const workerKey = etcdWorkerKey(PREFIX, node.datacenterId, node.workerId);
    const { epochMs, timeUnitMs } = settings.codec.layout;
    const disk = this.machine.disk;
    observeGrants(session.generator, (run) => {
      const lo = checker.granted(session.generator, run, node, held.label);
      this.machine.issued += run.count;
      if (leaseId !== undefined && !etcd.isAlive(leaseId)) {
        checker.fail(
          'lease',
          `${held.label} granted ID ${lo.toString()} while lease ${leaseId} is dead in etcd`,
        );
      } else if (leaseId !== undefined && etcd.peek(workerKey)?.lease !== leaseId) {
        checker.fail(
          'lease',
          `${held.label} granted ID ${lo.toString()} while its worker key carries lease ` +
            `${String(etcd.peek(workerKey)?.lease)}, not ${leaseId}`,
        );
      }
      // What a successor would start after: etcd's record for a claimed ID, the state file for a static one.
      const durable = leaseId === undefined ? durableReading(disk, settings.codec.layout, node) : undefined;
      if (durable !== undefined && 'refused' in durable) {
        checker.fail(
          'durability',
          `${held.label} granted ID ${lo.toString()}; a power loss now: ${durable.refused}`,
        );
        return;
      }
      const successorFloorMs = durable?.reservedUntilMs ?? Number(etcd.peek(resKey)?.value ?? 0);
      if (run.tick >= Math.ceil((successorFloorMs - epochMs) / timeUnitMs)) {
        checker.fail(
          'coverage',
          `${held.label} granted tick ${run.tick} at or past the durable reservation ` +
            `${successorFloorMs} (${leaseId !== undefined ? 'etcd' : 'state file'})`,
        );
      }
    });
    this.issuers.push(session.issuer);
    this.held = held;
    this.log(`session ${held.label}, floor ${session.floorMs}`);
    return held;
  }

  /** The IDs a call received must be `n` IDs of its node, strictly ascending. */
  private checkDelivered(held: Held, ids: readonly bigint[], n: number): void {
    const { checker, settings } = this.cluster;
    if (ids.length !== n) {
      checker.fail('delivery', `${held.label}: asked for ${n} IDs, got ${ids.length}`);
      return;
    }
    let prev = -1n;
    for (const id of ids) {
      if (id <= prev) {
        checker.fail('delivery', `${held.label}: batch not ascending at ID ${id.toString()}`);
        return;
      }
      prev = id;
    }
    const node = held.session.claim.node;
    for (const id of n === 1 ? [prev] : [ids[0] as bigint, prev]) {
      const d = settings.codec.decode(id);
      if (d.datacenterId !== node.datacenterId || d.workerId !== node.workerId) {
        checker.fail('delivery', `${held.label}: got ID ${id.toString()} of another node`);
      }
    }
  }

  private watchLoss(watched: Held): void {
    watched.session.claim.onLost(() => {
      if (this.stopping || watched !== this.held || !this.alive) return;
      count(this.cluster.world.counters, 'event.lease lost (node noticed)');
      this.log(`lost ${watched.label}`);
      watched.session.close();
      void watched.session.claim.release();
      this.reclaiming ??= this.reclaim(watched.session).finally(() => {
        this.reclaiming = undefined;
      });
    });
  }

  /** Claims a worker ID again, as startServer's reclaim; ends with the schedule (time stops) or a stop. */
  private async reclaim(lost: NodeSession): Promise<void> {
    const { world, settings } = this.cluster;
    const notBeforeMs = Math.max(lost.generator.issuedUntilMs, lost.floorMs);
    for (let backoffMs: number = RECLAIM_BACKOFF_MS.first; !this.halted();) {
      let claim: WorkerIdClaim | undefined;
      try {
        claim = await this.acquireClaim();
        if (this.halted()) {
          await claim.release();
          return;
        }
        const next = this.newSession(claim, notBeforeMs);
        this.watchLoss(next);
        await next.session.activate(settings.maxStartupWaitMs, 'left in etcd');
        if (next !== this.held || this.halted()) return;
        count(world.counters, 'event.re-claimed');
        this.log(`serving again as ${next.label}`);
        return;
      } catch (err) {
        count(world.counters, `event.re-claim failed: ${codeOf(err)}`);
        this.log(`re-claim failed: ${String(err)}`);
        await claim?.release();
      }
      await new Promise<void>((resolve) => {
        const timer = this.after(backoffMs, resolve);
        this.wakeReclaim = () => {
          world.loop.cancel(timer);
          world.dirty = true;
          resolve();
        };
      });
      backoffMs = Math.min(backoffMs * 2, RECLAIM_BACKOFF_MS.max);
    }
  }

  private scheduleHousekeeping(): void {
    this.housekeeping = this.after(
      HOUSEKEEPING_MS,
      () => {
        this.housekeep();
        this.scheduleHousekeeping();
      },
      false,
    );
  }

  /** startServer's housekeeping tick: the readings it takes (peekMs can re-anchor the time base) and renewal. */
  private housekeep(): void {
    const current = this.session;
    if (current === undefined) return;
    this.timeBase.peekMs();
    if (!current.active) return;
    if (!this.timeBase.isRefusing) void current.keeper.maybeRenew();
  }
}

/** NodeSession logs through this; nothing is printed. */
const SILENT = pino({ level: 'silent' });

let metrics: Metrics | undefined;

/** One real metrics registry for every simulated process (counting into it changes no behaviour). */
function sharedMetrics(): Metrics {
  metrics ??= createMetrics();
  return metrics;
}

/**
 * Wraps the generator's allocate (on this instance only) so that `onGrant` sees every run it grants,
 * synchronously, before the issuer hands the IDs out.
 */
function observeGrants(generator: Generator, onGrant: (run: Allocation) => void): void {
  const allocate = generator.allocate.bind(generator);
  generator.allocate = (max) => {
    const result = allocate(max);
    if (result.kind === 'ids') onGrant(result);
    return result;
  };
}

/** The claim as the session sees it under `rules` (the claim itself when nothing is broken). */
function composeClaim(claim: WorkerIdClaim, rules: Composition): WorkerIdClaim {
  if (rules.restoreFloor && rules.coordinatorFloor && rules.ceilingNeedsCoordinator && rules.honourFence) {
    return claim;
  }
  return {
    node: claim.node,
    capabilities: claim.capabilities,
    previousReservationMs: rules.restoreFloor && rules.coordinatorFloor ? claim.previousReservationMs : 0,
    storeReservation: rules.ceilingNeedsCoordinator
      ? (ms) => claim.storeReservation(ms)
      : (ms) => {
          claim.storeReservation(ms).catch(() => undefined);
          return Promise.resolve();
        },
    safeUntilMs: rules.honourFence ? () => claim.safeUntilMs() : () => Infinity,
    onLost: (listener) => {
      claim.onLost(listener);
    },
    release: () => claim.release(),
  };
}

function codeOf(err: unknown): string {
  if (err instanceof SnowflakeError) return err.code;
  return err instanceof Error ? err.name : 'unknown';
}
