import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from 'pino';
import { splitAddress, type Config } from './config';
import { IdCodec, type NodeId } from './core/codec';
import { layoutEndMs } from './core/layout';
import { TimeBase, type ClockSources, type SkewAction } from './core/time-base';
import { checkDescriptorBudget, openFileLimit } from './descriptor-budget';
import { CoordinationError, ShuttingDownError, SnowflakeError, StartingError } from './errors';
import { connectionInterceptor } from './grpc/connection-interceptor';
import { ConnectionTable } from './grpc/connections';
import { createHealth } from './grpc/health';
import { idGeneratorService } from './grpc/id-generator-service';
import { errorInfoDefinition } from './grpc/error-details';
import { listenGrpc, type GrpcListener } from './grpc/listener';
import { packageDefinition } from './grpc/proto';
import { strictDescriptors } from './grpc/strict-descriptors';
import { grpcServerCredentials } from './grpc/tls';
import { timerScheduler, type IdSource, type Scheduler } from './issuer';
import { createLogger } from './logger';
import { grpcServerMetrics } from './metrics/grpc-interceptor';
import { startMetricsServer } from './metrics/http-server';
import { createMetrics, type Metrics } from './metrics/metrics';
import { acquireStateDirLock } from './state/lock';
import { NodeSession, type SessionDeps } from './session';
import { StateFile } from './state/state-file';
import { systemClockSources } from './system-clock';
import type { WorkerIdClaim } from './worker-id/claim';
import { isTransientEtcdError, workerIdSource } from './worker-id/source';

/** Optional collaborators for {@link startServer}; tests inject a fake clock or a silent logger. */
export interface ServerOptions {
  /** Wall and monotonic clocks behind the ID time base. Default: Date.now and performance.now. */
  readonly clockSources?: ClockSources;
  /** How waits happen. Default: real timers. */
  readonly scheduler?: Scheduler;
  /** Default: JSON logs on stdout at config.logLevel. */
  readonly logger?: Logger;
  /**
   * Gives up the start: aborting it while startServer is pending releases whatever is held and rejects
   * with the signal's reason. After startServer has resolved — with etcd, that is before the worker ID is
   * claimed — use {@link RunningServer.stop}, which also ends a pending claim.
   */
  readonly signal?: AbortSignal;
}

/** A started service. */
export interface RunningServer {
  /** Bound gRPC port (the real one when config asked for port 0). */
  readonly grpcPort: number;
  /** Bound /metrics port. */
  readonly metricsPort: number;
  /** The service's private metrics registry and metrics. */
  readonly metrics: Metrics;
  /**
   * The node ID currently stamped into IDs (with etcd it may change after a lost lease); undefined while
   * the etcd source has not claimed a worker ID yet (never after {@link RunningServer.ready} resolved).
   */
  node(): NodeId | undefined;
  /**
   * Resolves once IDs are issued (health SERVING): with etcd, after a worker ID is claimed — etcd being
   * unreachable is retried for up to config.maxStartupWaitMs from the start — then after the clock has
   * passed the reservation persisted by an earlier run (and, with etcd, by earlier holders of the claimed
   * worker ID) and a new one is durable. Rejects if the claim fails for good (etcd still unreachable at
   * that deadline; every worker ID held; authentication, TLS or data errors), if the clock wait would
   * exceed config.maxStartupWaitMs, or if the reservation cannot be written; call stop() then.
   */
  readonly ready: Promise<void>;
  /**
   * Graceful shutdown that waits for calls, not connections: health → NOT_SERVING, stop accepting
   * connections, GOAWAY on every one; connections that never carried a call are closed at once,
   * streaming calls (health Watch, reflection: they never end by themselves) are ended with UNAVAILABLE
   * (SHUTTING_DOWN), and the other connections close as their last answer is sent. Unary calls still
   * running after config.shutdownTimeoutMs are cut: `forced` is then true and `cutCalls` says how many.
   * Then /metrics closes. Safe to call more than once (later calls return the first one's promise).
   */
  stop(): Promise<{ forced: boolean; cutCalls: number }>;
}

/** How often the skew, the lease, the reservation and health are re-checked, in ms. */
const HOUSEKEEPING_MS = 100;

/** Log message per skew-check outcome. */
const SKEW_MESSAGES: Readonly<Record<SkewAction, string>> = {
  tolerated: 'wall clock moved against the ID time base; within the bound, serving on the monotonic base',
  'reanchored-forward': 'wall clock is ahead of the ID time base beyond the bound: time base moved forward',
  refusing: 'wall clock is behind the ID time base beyond the bound',
  'reanchored-after-catch-up': 'wall clock has passed the latest time used: time base re-anchored to it',
};

/** Backoff between attempts to re-claim a worker ID after losing one, in ms: doubled up to the max. */
const RECLAIM_BACKOFF_MS = { first: 500, max: 10_000 } as const;

/** How long one re-claim attempt retries an unreachable etcd before it logs and backs off, in ms. */
const RECLAIM_RETRY_WINDOW_MS = 30_000;

/** Why IdGenerator calls are refused (STARTING) while the etcd source has not claimed a worker ID yet. */
const WAITING_FOR_ETCD =
  'waiting for etcd to grant a worker ID (SNOWFLAKE_WORKER_ID_SOURCE=etcd); no IDs until one is claimed';

/**
 * Starts the gRPC server (IdGenerator, health, reflection) and the /metrics endpoint for a validated
 * config. The static and ordinal sources use the configured node. With `workerIdSource` etcd the ports
 * are bound first (readiness NOT_SERVING, liveness SERVING, calls refused with STARTING) and the worker
 * ID is claimed in the background: {@link RunningServer.ready} tells how that ends. Whenever it rejects,
 * it has released what it held (ports, the state-dir lock, the etcd lease).
 */
export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  checkDescriptorBudget(config, openFileLimit());
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  // Before the lock and the worker-ID claim: bad TLS files stop the boot before anything is held.
  const credentials = grpcServerCredentials(config.tls, { registry: metrics.registry, logger });
  const codec = new IdCodec(config.layout);
  const clockSources = options.clockSources ?? systemClockSources;
  const monotonicNowMs = () => clockSources.monotonicMs();
  const startedAtMs = monotonicNowMs();
  const source = workerIdSource(config, { monotonicNowMs, metrics, logger });
  const acquireClaim = (signal: AbortSignal | undefined, retryWindowMs: number) =>
    source.claim(signal, retryWindowMs);
  const lock = acquireStateDirLock(config.stateDir);

  const timeBase = new TimeBase(
    clockSources,
    config.maxClockSkewMs,
    {
      skewChanged({ skewMs, stepMs, action, stepped }) {
        if (stepped && stepMs < 0) metrics.clockBackwards.inc();
        metrics.clockSkew.set(action === 'tolerated' || action === 'refusing' ? skewMs / 1000 : 0);
        const fields = { skewMs: Math.round(skewMs), stepMs: Math.round(stepMs), action };
        if (action === 'refusing') logger.error(fields, SKEW_MESSAGES[action]);
        else if (stepped) logger.warn(fields, SKEW_MESSAGES[action]);
        // Not a step: a re-anchoring or the end of a refusal after the skew crept past the bound.
        else logger.info(fields, SKEW_MESSAGES[action]);
      },
    },
    'SNOWFLAKE_MAX_CLOCK_SKEW_MS',
  );

  const health = createHealth();
  const refusing = new Set<string>(['starting']);
  const updateServing = () => {
    const serving = refusing.size === 0;
    health.setServing(serving);
    metrics.serving.set(serving ? 1 : 0);
  };
  const setRefusing = (reason: string, on: boolean) => {
    if (on === refusing.has(reason)) return;
    if (on) refusing.add(reason);
    else refusing.delete(reason);
    updateServing();
  };
  updateServing();

  const sessionDeps: SessionDeps = {
    codec,
    timeBase,
    monotonicNowMs,
    scheduler: options.scheduler ?? timerScheduler,
    openStateFile: (node) => new StateFile(config.stateDir, config.layout, node),
    maxClockBackwardsMs: config.maxClockBackwardsMs,
    reservationMs: config.reservationMs,
    metrics,
    logger,
    availabilityChanged(changed, available) {
      if (changed === session) setRefusing('generator', !available);
    },
  };

  /** Builds the first session on a fresh claim; gives the claim back if that fails. */
  const firstSession = async (
    claim: WorkerIdClaim,
    signal: AbortSignal | undefined,
  ): Promise<NodeSession> => {
    try {
      signal?.throwIfAborted();
      return new NodeSession(sessionDeps, claim, 0);
    } catch (err) {
      await claim.release();
      throw err;
    }
  };
  /** Undefined only while the etcd source has not claimed a worker ID yet. */
  let session: NodeSession | undefined;
  // The static and ordinal sources claim at once: a bad state file still fails startServer itself.
  if (!source.capabilities.claimWaits) {
    try {
      session = await firstSession(await acquireClaim(options.signal, 0), options.signal);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  let stopping = false;
  /** Read through a function: the flag changes across awaits, which flow analysis does not see. */
  const isStopping = () => stopping;
  let reclaiming: Promise<void> | undefined;
  let wakeReclaim: (() => void) | undefined;
  /**
   * Aborted by stop(), so shutting down never waits out the first claim, a re-claim's etcd retry window,
   * or a wait for the clock to pass a reservation.
   */
  const stopAbort = new AbortController();
  const showNode = (current: NodeSession) => {
    metrics.workerInfo.reset();
    metrics.workerInfo.set(
      { datacenter_id: current.claim.node.datacenterId, worker_id: current.claim.node.workerId },
      1,
    );
  };
  const watchLoss = (watched: NodeSession) => {
    watched.claim.onLost((reason) => {
      if (stopping || watched !== session) return;
      logger.error({ reason, node: watched.claim.node }, 'worker ID lost: refusing, then claiming one again');
      setRefusing('lease', true);
      metrics.workerLeaseState.set(0);
      watched.close();
      void watched.claim.release();
      reclaiming ??= reclaim(watched).finally(() => {
        reclaiming = undefined;
      });
    });
  };
  /** Claims a worker ID again (possibly another one) and starts a fresh session after the old one's IDs. */
  const reclaim = async (lost: NodeSession): Promise<void> => {
    const notBeforeMs = Math.max(lost.generator.issuedUntilMs, lost.floorMs);
    // Bounded by stop(): every iteration either succeeds, or waits out a backoff that stop() cuts short.
    for (let backoffMs: number = RECLAIM_BACKOFF_MS.first; !stopping;) {
      let claim: WorkerIdClaim | undefined;
      let next: NodeSession | undefined;
      try {
        claim = await acquireClaim(stopAbort.signal, RECLAIM_RETRY_WINDOW_MS);
        if (isStopping()) {
          await claim.release();
          return;
        }
        next = new NodeSession(sessionDeps, claim, notBeforeMs);
        session = next;
        watchLoss(next);
        await next.activate(
          config.maxStartupWaitMs,
          `left in ${claim.capabilities.remoteReservation ?? 'the state file'} by this process or an earlier holder`,
          stopAbort.signal,
        );
        // stop() finalizes and releases the current session; a lost one was handed on by watchLoss.
        if (next !== session || isStopping()) return;
        showNode(next);
        setRefusing('generator', false);
        setRefusing('lease', false);
        metrics.workerLeaseState.set(1);
        logger.info({ node: next.claim.node }, 'worker ID claimed again; serving');
        return;
      } catch (err) {
        if (!isStopping()) {
          logger.error(
            { err: err instanceof SnowflakeError ? err.message : err, retryInMs: backoffMs },
            'cannot claim a worker ID again; still refusing',
          );
        }
        next?.close();
        await claim?.release();
      }
      // stop() may have come while this attempt ran: its wake-up then reached no sleep.
      if (isStopping()) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoffMs);
        wakeReclaim = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      backoffMs = Math.min(backoffMs * 2, RECLAIM_BACKOFF_MS.max);
    }
  };
  /** Starts serving `claimed` as the first session: loss watch, worker metrics. */
  const adopt = (claimed: NodeSession) => {
    session = claimed;
    watchLoss(claimed);
    showNode(claimed);
    metrics.workerLeaseState.set(1);
  };
  if (session !== undefined) adopt(session);
  else metrics.workerLeaseState.set(0);

  /** Refuses a call while there is no session yet, as a session refuses before it is active. */
  const waitingForEtcd = (): Promise<never> => {
    const err = new StartingError(WAITING_FOR_ETCD);
    metrics.refusals.inc({ code: err.code });
    return Promise.reject(err);
  };
  // Calls always go to the current session; one that waits across a re-claim fails on the old gate.
  const issuer: IdSource = {
    next: (isCancelled) => session?.issuer.next(isCancelled) ?? waitingForEtcd(),
    batch: (count, isCancelled) => session?.issuer.batch(count, isCancelled) ?? waitingForEtcd(),
    batchInto: (count, out, offset, isCancelled) =>
      session?.issuer.batchInto(count, out, offset, isCancelled) ?? waitingForEtcd(),
  };
  metrics.workerIdDefaulted.set(config.workerIdDefaulted ? 1 : 0);
  const housekeeping = setInterval(() => {
    const current = session;
    metrics.timeRemaining.set((layoutEndMs(config.layout) - timeBase.peekMs()) / 1000);
    metrics.clockSkew.set(timeBase.skewMs / 1000);
    setRefusing('clock-skew', timeBase.isRefusing);
    // Before the first claim 'starting' keeps the service refusing; the lease gauge shows why.
    const leaseOk = current !== undefined && current.leaseValid && reclaiming === undefined;
    metrics.workerLeaseState.set(leaseOk ? 1 : 0);
    if (current === undefined) return;
    setRefusing('lease', !leaseOk);
    if (!current.active) return;
    if (!timeBase.isRefusing) void current.keeper.maybeRenew();
    const { keeper } = current;
    setRefusing('reservation', keeper.failure !== undefined && keeper.reservedUntilMs <= timeBase.peekMs());
  }, HOUSEKEEPING_MS);
  housekeeping.unref();

  const service = idGeneratorService({
    issuer,
    codec,
    // GetInfo before the first etcd claim: the configured datacenter and worker 0 (see the proto).
    node: () => session?.claim.node ?? { datacenterId: config.node.datacenterId, workerId: 0 },
    maxBatchSize: config.maxBatchSize,
    logger,
  });
  const grpcMetrics = grpcServerMetrics(metrics);
  grpcMetrics.initialize(Object.values(service.definition));
  const connections = new ConnectionTable({
    maxConnections: config.grpcLimits.maxConnections,
    maxBacklogBytesPerConnection: config.grpcLimits.maxBacklogBytesPerConnection,
    maxBacklogBytes: config.grpcLimits.maxBacklogBytes,
  });
  metrics.watchListener('grpc', connections);
  metrics.watchResponseBacklogBytes(() => connections.backlogBytes);

  const server = new grpc.Server({
    // The metrics interceptor comes first so that it also counts the refusals of the second.
    interceptors: [grpcMetrics.interceptor, connectionInterceptor(connections, service.responseSizers)],
    'grpc.max_concurrent_streams': config.grpcLimits.maxConcurrentStreams,
  });
  server.addService(service.definition, service.implementation);
  health.addToServer(server);
  new ReflectionService(strictDescriptors({ ...packageDefinition(), ...errorInfoDefinition() })).addToServer(
    server,
  );

  const closeOnStartFailure = async (err: unknown, listener?: GrpcListener): Promise<never> => {
    stopping = true;
    clearInterval(housekeeping);
    listener?.close();
    server.forceShutdown();
    connections.destroyAll();
    session?.close();
    await session?.claim.release();
    lock.release();
    throw err;
  };
  const grpcAddr = splitAddress(config.grpcAddr);
  const grpcListener = await listenGrpc(server, credentials, grpcAddr.host, grpcAddr.port, connections).catch(
    (err: unknown) =>
      closeOnStartFailure(
        new Error(
          `cannot listen on SNOWFLAKE_GRPC_ADDR=${config.grpcAddr}: ${err instanceof Error ? err.message : String(err)}`,
        ),
      ),
  );
  const grpcPort = grpcListener.port;
  const metricsAddr = splitAddress(config.metricsAddr);
  const metricsServer = await startMetricsServer(metrics.registry, {
    ...metricsAddr,
    maxConnections: config.metricsMaxConnections,
  }).catch((err: unknown) =>
    closeOnStartFailure(
      new Error(`cannot listen on SNOWFLAKE_METRICS_ADDR=${config.metricsAddr}: ${String(err)}`),
      grpcListener,
    ),
  );
  metrics.watchListener('metrics', metricsServer);
  logger.info(
    {
      layout: config.layout,
      epoch: new Date(config.layout.epochMs).toISOString(),
      datacenterId: config.node.datacenterId,
      // Absent with etcd: the worker ID, its state file and reservation are logged once it is claimed.
      ...(session !== undefined && {
        workerId: session.claim.node.workerId,
        stateFile: session.stateFile.path,
        reservedUntil: new Date(session.floorMs).toISOString(),
      }),
      workerIdSource: config.workerIdSource,
      grpcAddr: `${grpcAddr.host}:${grpcPort}`,
      metricsAddr: `${metricsAddr.host}:${metricsServer.port}`,
      maxBatchSize: config.maxBatchSize,
    },
    'snowflake service started',
  );

  /**
   * The etcd claim behind `ready`: retries an unreachable etcd until config.maxStartupWaitMs after the
   * start; final errors (all IDs held, auth, TLS, corrupt data) end it at once, and stop() aborts it.
   */
  const claimFirst = async (): Promise<NodeSession> => {
    logger.info(
      { maxStartupWaitMs: config.maxStartupWaitMs },
      'claiming a worker ID in etcd before serving (NOT_SERVING until then)',
    );
    let claim: WorkerIdClaim;
    try {
      claim = await acquireClaim(stopAbort.signal, startedAtMs + config.maxStartupWaitMs - monotonicNowMs());
    } catch (err) {
      if (stopAbort.signal.aborted || !(err instanceof CoordinationError) || !isTransientEtcdError(err))
        throw err;
      throw new CoordinationError(
        `${err.message} (etcd still unreachable SNOWFLAKE_MAX_STARTUP_WAIT_MS=${config.maxStartupWaitMs} ms ` +
          'after the start: giving up)',
        err.cause,
      );
    }
    const claimed = await firstSession(claim, stopAbort.signal);
    adopt(claimed);
    logger.info(
      {
        datacenterId: claimed.claim.node.datacenterId,
        workerId: claimed.claim.node.workerId,
        stateFile: claimed.stateFile.path,
        reservedUntil: new Date(claimed.floorMs).toISOString(),
      },
      'worker ID claimed',
    );
    return claimed;
  };
  const ready = (async () => {
    const first = session ?? (await claimFirst());
    await first.activate(
      config.maxStartupWaitMs,
      `in ${first.stateFile.path}${
        first.claim.capabilities.remoteReservation === undefined
          ? ''
          : ` or left in ${first.claim.capabilities.remoteReservation} by an earlier holder`
      }`,
      stopAbort.signal,
    );
    setRefusing('starting', false);
    logger.info({ reservedUntil: new Date(first.keeper.reservedUntilMs).toISOString() }, 'serving');
  })();
  ready.catch(() => undefined);

  let stopped: Promise<{ forced: boolean; cutCalls: number }> | undefined;
  const stop = async (): Promise<{ forced: boolean; cutCalls: number }> => {
    stopping = true;
    wakeReclaim?.();
    stopAbort.abort(new ShuttingDownError());
    setRefusing('draining', true);
    health.stopping();
    clearInterval(housekeeping);
    logger.info(
      { timeoutMs: config.shutdownTimeoutMs, inFlightCalls: connections.inFlight },
      'shutting down: draining in-flight calls',
    );
    grpcListener.close();
    // Sends GOAWAY on every connection; the connections themselves are closed by drain().
    server.tryShutdown(() => undefined);
    const cutCalls = await connections.drain(config.shutdownTimeoutMs);
    server.forceShutdown();
    connections.destroyAll();
    // Both end at once on the abort above (an etcd call in flight: within its timeout).
    await Promise.all([reclaiming, ready.catch(() => undefined)]);
    const last = session;
    if (last !== undefined) {
      const wasActive = last.active;
      last.close();
      if (wasActive && last.leaseValid) await last.keeper.finalize();
      if (last.keeper.failure !== undefined)
        logger.error({ err: last.keeper.failure.message }, 'final reservation write failed');
      await last.claim.release();
    }
    lock.release();
    await metricsServer.close();
    if (cutCalls > 0)
      logger.warn(
        { cutCalls, timeoutMs: config.shutdownTimeoutMs },
        `shutdown timeout reached: ${cutCalls} in-flight call${cutCalls === 1 ? ' was' : 's were'} cut`,
      );
    logger.info('stopped');
    return { forced: cutCalls > 0, cutCalls };
  };

  return {
    grpcPort,
    metricsPort: metricsServer.port,
    metrics,
    node: () => session?.claim.node,
    ready,
    stop: () => (stopped ??= stop()),
  };
}
