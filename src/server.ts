import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from 'pino';
import { splitAddress, type Config } from './config';
import { IdCodec, type NodeId } from './core/codec';
import type { ClockSources } from './core/time-base';
import { checkDescriptorBudget, openFileLimit } from './descriptor-budget';
import type { Scheduler } from './engine/issuer';
import { Supervisor } from './engine/supervisor';
import { CoordinationError, CoordinatorUnreachableError } from './errors';
import { connectionInterceptor } from './grpc/connection-interceptor';
import { ConnectionTable } from './grpc/connections';
import { createHealth } from './grpc/health';
import { idGeneratorService } from './grpc/id-generator-service';
import { errorInfoDefinition } from './grpc/error-details';
import { listenGrpc, type GrpcListener } from './grpc/listener';
import { packageDefinition } from './grpc/proto';
import { strictDescriptors } from './grpc/strict-descriptors';
import { grpcServerCredentials } from './grpc/tls';
import { createLogger } from './logger';
import { engineMetrics } from './metrics/engine-metrics';
import { grpcServerMetrics } from './metrics/grpc-interceptor';
import { startMetricsServer } from './metrics/http-server';
import { createMetrics, type Metrics } from './metrics/metrics';
import { timerScheduler } from './precise-timer';
import { acquireStateDirLock } from './state/lock';
import { StateFile } from './state/state-file';
import { systemClockSources } from './system-clock';
import { backgroundTimers, realTimers } from './timers';
import { createWorkerIdSource } from './worker-id/registry';

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
   * exceed config.maxStartupWaitMs, if the reservation cannot be written, or if the claimed worker ID is
   * lost before serving; call stop() then.
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

/**
 * Starts the gRPC server (IdGenerator, health, reflection) and the /metrics endpoint for a validated
 * config. The static and ordinal sources use the configured node. With a source whose claims wait (etcd) the ports
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
  const source = createWorkerIdSource(config.workerId, {
    monotonicNowMs: () => clockSources.monotonicMs(),
    timers: realTimers,
    logger,
    hooks: {
      keepalive(event) {
        if (!event.ok) metrics.leaseKeepaliveFailures.inc();
      },
    },
  });
  const health = createHealth();
  const engineEvents = engineMetrics(metrics, logger);
  const supervisor = new Supervisor({
    source,
    codec,
    clockSources,
    maxClockSkewMs: config.maxClockSkewMs,
    maxClockBackwardsMs: config.maxClockBackwardsMs,
    reservationMs: config.reservationMs,
    maxStartupWaitMs: config.maxStartupWaitMs,
    scheduler: options.scheduler ?? timerScheduler,
    timers: backgroundTimers,
    openStateFile: (node) => new StateFile(config.stateDir, config.layout, node),
    observer: {
      ...engineEvents,
      availabilityChanged(refusal) {
        engineEvents.availabilityChanged(refusal);
        health.setServing(refusal === undefined);
      },
    },
  });
  const lock = acquireStateDirLock(config.stateDir);
  // The static and ordinal sources claim at once: a bad state file still fails startServer itself.
  try {
    await supervisor.open(options.signal);
  } catch (err) {
    lock.release();
    throw err;
  }
  metrics.workerIdDefaulted.set(source.workerIdDefaulted ? 1 : 0);

  const service = idGeneratorService({
    issuer: supervisor.issuer,
    codec,
    // GetInfo before the first etcd claim: the configured datacenter and worker 0 (see the proto).
    node: () => supervisor.node() ?? { datacenterId: config.workerId.datacenterId, workerId: 0 },
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
    listener?.close();
    server.forceShutdown();
    connections.destroyAll();
    await supervisor.stop(() => Promise.resolve());
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
  const first = supervisor.session;
  logger.info(
    {
      layout: config.layout,
      epoch: new Date(config.layout.epochMs).toISOString(),
      datacenterId: config.workerId.datacenterId,
      // Absent with etcd: the worker ID, its state file and reservation are logged once it is claimed.
      ...(first !== undefined && {
        workerId: first.claim.node.workerId,
        stateFile: first.stateFile.path,
        reservedUntil: new Date(first.floorMs).toISOString(),
      }),
      workerIdSource: source.name,
      grpcAddr: `${grpcAddr.host}:${grpcPort}`,
      metricsAddr: `${metricsAddr.host}:${metricsServer.port}`,
      maxBatchSize: config.maxBatchSize,
    },
    'snowflake service started',
  );

  let stopping = false;
  /** Read through a function: the flag changes across awaits, which flow analysis does not see. */
  const isStopping = () => stopping;
  const ready = supervisor.start().catch((err: unknown) => {
    // The source retried an unreachable coordinator until the startup deadline: say that this is the end.
    if (isStopping() || !(err instanceof CoordinatorUnreachableError)) throw err;
    throw new CoordinationError(
      `${err.message} (${source.name} still unreachable SNOWFLAKE_MAX_STARTUP_WAIT_MS=${config.maxStartupWaitMs} ms ` +
        'after the start: giving up)',
      err.cause,
    );
  });
  ready.catch(() => undefined);

  let stopped: Promise<{ forced: boolean; cutCalls: number }> | undefined;
  const stop = async (): Promise<{ forced: boolean; cutCalls: number }> => {
    stopping = true;
    health.stopping();
    logger.info(
      { timeoutMs: config.shutdownTimeoutMs, inFlightCalls: connections.inFlight },
      'shutting down: draining in-flight calls',
    );
    let cutCalls = 0;
    await supervisor.stop(async () => {
      grpcListener.close();
      // Sends GOAWAY on every connection; the connections themselves are closed by drain().
      server.tryShutdown(() => undefined);
      cutCalls = await connections.drain(config.shutdownTimeoutMs);
      server.forceShutdown();
      connections.destroyAll();
    });
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
    node: () => supervisor.node(),
    ready,
    stop: () => (stopped ??= stop()),
  };
}
