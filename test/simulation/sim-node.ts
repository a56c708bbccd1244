import pino from 'pino';
import type { IdCodec, NodeId } from '../../src/core/codec';
import type { Allocation, Generator } from '../../src/core/generator';
import type { EngineObserver } from '../../src/engine/events';
import type { Scheduler } from '../../src/engine/issuer';
import type { LocalReservationFile, NodeSession } from '../../src/engine/session';
import { Supervisor } from '../../src/engine/supervisor';
import { CancelledError, RefusalError, SnowflakeError } from '../../src/errors';
import type { Timers } from '../../src/timers';
import { fixedSource, type WorkerIdClaim, type WorkerIdSource } from '../../src/worker-id/claim';
import { StateFile } from '../../src/state/state-file';
import {
  etcdReservationKey,
  etcdWorkerKey,
  type EtcdWorkerIdClaim,
} from '../../src/worker-id/etcd/etcd-claim';
import { etcdWorkerIdSource } from '../../src/worker-id/etcd/etcd-source';
import { batchOf } from '../helpers/batch';
import type { InvariantChecker } from './checker';
import type { SimTimer } from './event-loop';
import { durableReading } from './durable-state';
import { SimDisk, STATE_DIR } from './sim-disk';
import { healthyLink, type LinkState, type SimEtcd } from './sim-etcd';
import { SimEtcdPort } from './sim-etcd-port';
import { count, type World } from './world';

/**
 * What the world hands a process's supervisor. Correct: the real claim and state file. Each rule can be
 * broken by wrapping the claims its worker-ID source returns, or the state file it opens, to check that
 * the simulation notices: see `BROKEN` in schedule.ts. (Rules inside the supervisor, such as the re-claim
 * floor, cannot be broken from here: `npm run mutants` changes the source for those.)
 */
export interface Composition {
  /** The session reads the state file's reservation (else it finds none) and the coordinator's. */
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

/** A session of a process, as the checker names it. */
interface Held {
  readonly session: NodeSession;
  /** `m<machine>#<process>.s<session> w<worker>`, for messages. */
  readonly label: string;
}

/**
 * One process of the service: the real {@link Supervisor} (claim → session → housekeeping → loss →
 * re-claim → stop, all of it src/engine/supervisor.ts) on this process's clocks and timers, the
 * machine's simulated state file and a worker-ID source over the simulated etcd. What stays here is
 * what startServer and main do around it (the boot sequence, exit on a failed start, the drain of calls
 * in flight, which is the gRPC layer's) and the checker's hooks on every session the supervisor opens.
 */
export class Process {
  alive = true;
  stopping = false;
  readonly label: string;
  readonly supervisor: Supervisor;
  readonly cluster: Cluster;
  readonly machine: Machine;
  private readonly bootAtMs: number;
  private readonly monoOriginMs: number;
  /** The sessions the supervisor opened, with their labels. */
  private readonly held = new Map<NodeSession, Held>();
  /** Lease ID behind each claim handed to the supervisor (etcd mode), for the lease check. */
  private readonly leaseIds = new WeakMap<WorkerIdClaim, number>();
  private sessions = 0;
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
    const scheduler: Scheduler = {
      sleep: (ms) =>
        new Promise<void>((resolve) => {
          // Real waits always let some time pass; a zero wait here could spin at one instant.
          this.after(Math.max(MIN_SLEEP_MS, ms), resolve);
        }),
    };
    const rules = settings.composition;
    this.supervisor = new Supervisor({
      source: this.source(),
      codec: settings.codec,
      clockSources: { wallMs: () => machine.wallMs(), monotonicMs: () => this.monotonicMs() },
      maxClockSkewMs: settings.maxClockSkewMs,
      maxClockBackwardsMs: settings.maxClockBackwardsMs,
      reservationMs: settings.reservationMs,
      maxStartupWaitMs: settings.maxStartupWaitMs,
      scheduler,
      timers: this.timers(),
      openStateFile: (node) => this.stateFile(node, rules.restoreFloor),
      observer: this.observer(),
    });
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
  after(ms: number, fn: () => void): SimTimer {
    const { world } = this.cluster;
    return world.loop.after(ms / this.machine.monoRate, () => {
      if (!this.alive) return;
      world.dirty = true;
      fn();
    });
  }

  /** Boot, as startServer + main: first claim, then serving; stop and exit 1 if that fails. */
  async start(): Promise<void> {
    try {
      await this.supervisor.open();
      if (!this.alive) return;
      await this.supervisor.start();
    } catch (err) {
      // A stop that came first ends the start on its own (main: a signal's stop exits).
      if (!this.alive || this.stopping) return;
      count(this.cluster.world.counters, `event.start failed: ${codeOf(err)}`);
      this.log(`start failed: ${String(err)}`);
      await this.stop();
      this.machine.exitAndRestart(this);
    }
  }

  /** Serves one call through the supervisor's issuer, as the gRPC handlers do. */
  serve(n: number): void {
    const { world, checker } = this.cluster;
    const current = this.supervisor.session;
    // The issuer routes the call to this session (or refuses it without one) in this same step.
    const held = current === undefined ? undefined : this.held.get(current);
    world.dirty = true;
    let cancelled = false;
    const cancel = (): void => {
      cancelled = true;
    };
    const isCancelled = (): boolean => cancelled;
    this.inFlight++;
    this.cancellers.add(cancel);
    const { issuer } = this.supervisor;
    const call: Promise<bigint[]> =
      n === 1 ? issuer.next(isCancelled).then((id) => [id]) : batchOf(issuer, n, isCancelled);
    call
      .then(
        (ids) => {
          if (held === undefined) checker.fail('delivery', `${this.label}: IDs issued without a session`);
          else this.checkDelivered(held, ids, n);
          count(world.counters, 'calls.ok');
        },
        (err: unknown) => {
          if (err instanceof RefusalError || err instanceof CancelledError) {
            count(world.counters, `refused.${err.code}`);
          } else {
            checker.fail('error', `${held?.label ?? this.label}: call failed with ${String(err)}`);
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

  /** Graceful stop, as RunningServer.stop: the supervisor's stop around the drain of calls in flight. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.supervisor.stop(() => this.drain());
  }

  /** kill -9 or exit: nothing of this process runs any more (its timers and etcd calls check `alive`). */
  die(): void {
    this.log('exits');
    this.alive = false;
  }

  /** Waits for the calls in flight, as the gRPC layer's drain: cut after the shutdown timeout. */
  private drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    const { world, settings } = this.cluster;
    return new Promise<void>((resolve) => {
      const timer = this.after(settings.shutdownTimeoutMs, () => {
        count(world.counters, 'event.shutdown forced');
        for (const cancel of this.cancellers) cancel();
        resolve();
      });
      this.drained = () => {
        world.loop.cancel(timer);
        world.dirty = true;
        resolve();
      };
    });
  }

  /** This process's timers, as the supervisor and the etcd claim get them: {@link Process.after} and cancel. */
  private timers(): Timers {
    const { loop } = this.cluster.world;
    return {
      after: (ms, fn) => this.after(ms, fn),
      cancel: (timer) => {
        loop.cancel(timer as SimTimer | undefined);
      },
    };
  }

  /**
   * The worker-ID source: the configured worker ID (static), or the real etcd source
   * (src/worker-id/etcd/etcd-source.ts: retries within the window, then the real claim) over this machine's
   * link, on this process's clock and timers, its claims wrapped per the composition.
   */
  private source(): WorkerIdSource {
    const { settings, world, etcd } = this.cluster;
    if (settings.mode === 'static') {
      return fixedSource(
        { datacenterId: settings.datacenterId, workerId: this.machine.staticWorkerId },
        'static',
      );
    }
    const real = etcdWorkerIdSource(
      {
        prefix: PREFIX,
        leaseTtlSeconds: settings.ttlMs / 1000,
        datacenterId: settings.datacenterId,
        workerBits: settings.codec.layout.workerBits,
        owner: this.label,
      },
      {
        monotonicNowMs: () => this.monotonicMs(),
        timers: this.timers(),
        logger: SILENT,
        openPort: () => Promise.resolve(new SimEtcdPort(world, etcd, this.machine.link, () => this.alive)),
      },
    );
    return {
      name: real.name,
      capabilities: real.capabilities,
      workerIdDefaulted: real.workerIdDefaulted,
      claim: async (signal, retryWindowMs) => {
        // The etcd source's claims are EtcdWorkerIdClaims; the checker needs the lease ID.
        const claim = (await real.claim(signal, retryWindowMs)) as EtcdWorkerIdClaim;
        const composed = composeClaim(claim, settings.composition);
        this.leaseIds.set(composed, Number(claim.leaseId));
        return composed;
      },
    };
  }

  /** Engine events: the checker's hook on every session, and counters for the report. */
  private observer(): EngineObserver {
    const counters = this.cluster.world.counters;
    const ignore = (): void => undefined;
    return {
      issued: ignore,
      refused: ignore,
      sequenceExhausted: ignore,
      stateWriteFailed: ignore,
      foreignStateFileIgnored: ignore,
      waitingForFloor: ignore,
      firstWriteRetry: ignore,
      availabilityChanged: ignore,
      leaseStateChanged: ignore,
      nodeChanged: ignore,
      skewChanged: ignore,
      clockRead: ignore,
      claiming: ignore,
      finalWriteFailed: ignore,
      sessionOpened: (session) => {
        this.watch(session);
      },
      serving: (session, cause) => {
        count(counters, cause === 'start' ? 'event.started' : 'event.re-claimed');
        this.log(`serving as ${this.held.get(session)?.label ?? '?'}`);
      },
      claimLost: (node) => {
        count(counters, 'event.lease lost (node noticed)');
        this.log(`lost worker ${node.workerId}`);
      },
      reclaimFailed: (err) => {
        count(counters, `event.re-claim failed: ${codeOf(err)}`);
        this.log(`re-claim failed: ${String(err)}`);
      },
    };
  }

  /** The real StateFile on this machine's simulated disk, as NodeSession opens it (unread when `!readable`). */
  private stateFile(node: NodeId, readable: boolean): LocalReservationFile {
    const { layout } = this.cluster.settings.codec;
    const file = new StateFile(STATE_DIR, layout, node, this.machine.disk.fileSystemFor(this));
    if (readable) return file;
    return { path: file.path, read: () => ({ reservedUntilMs: 0 }), write: (untilMs) => file.write(untilMs) };
  }

  /** Names a session the supervisor opened and checks every grant of its generator the moment it is made. */
  private watch(session: NodeSession): void {
    const { checker, etcd, settings } = this.cluster;
    this.sessions++;
    const node = session.claim.node;
    const held: Held = { session, label: `${this.label}.s${this.sessions} w${node.workerId}` };
    this.held.set(session, held);
    const previous = this.cluster.lastHolder.get(node.workerId);
    if (previous !== undefined && previous !== this.machine.id) {
      count(this.cluster.world.counters, 'event.worker ID moved to another machine');
    }
    this.cluster.lastHolder.set(node.workerId, this.machine.id);
    const leaseId = this.leaseIds.get(session.claim);
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
    this.log(`session ${held.label}, floor ${session.floorMs}`);
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
}

/** The etcd claim logs through this; nothing is printed. */
const SILENT = pino({ level: 'silent' });

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
