import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from 'pino';
import { splitAddress, type Config } from './config';
import { IdCodec } from './core/codec';
import { Generator } from './core/generator';
import { layoutEndMs } from './core/layout';
import { TimeBase, type ClockSources } from './core/time-base';
import { StartingError } from './errors';
import { createHealth } from './grpc/health';
import { idGeneratorService } from './grpc/id-generator-service';
import { packageDefinition } from './grpc/proto';
import { IdIssuer, timerScheduler, type Scheduler } from './issuer';
import { createLogger } from './logger';
import { initializeGrpcMetrics, metricsInterceptor } from './metrics/grpc-interceptor';
import { startMetricsServer } from './metrics/http-server';
import { createMetrics, type Metrics } from './metrics/metrics';
import { acquireStateDirLock } from './state/lock';
import { ReservationKeeper } from './state/reservation-keeper';
import { StateFile } from './state/state-file';
import { systemClockSources } from './system-clock';

/** Optional collaborators for {@link startServer}; tests inject a fake clock or a silent logger. */
export interface ServerOptions {
  /** Wall and monotonic clocks behind the ID time base. Default: Date.now and performance.now. */
  readonly clockSources?: ClockSources;
  /** How waits happen. Default: real timers. */
  readonly scheduler?: Scheduler;
  /** Default: JSON logs on stdout at config.logLevel. */
  readonly logger?: Logger;
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
   * Resolves once IDs are issued (health SERVING): after the clock has passed the reservation persisted
   * by an earlier run and a new one is on disk. Rejects if that takes longer than
   * config.maxStartupWaitMs or the reservation cannot be written; call stop() then.
   */
  readonly ready: Promise<void>;
  /**
   * Graceful shutdown: health → NOT_SERVING, stop accepting calls, let in-flight calls finish, close
   * /metrics. Calls still running after config.shutdownTimeoutMs are cut; `forced` then is true.
   * Safe to call more than once (later calls return the first one's promise).
   */
  stop(): Promise<{ forced: boolean }>;
}

/** How often the skew, the reservation and health are re-checked, in ms. */
const HOUSEKEEPING_MS = 100;

/** Starts the gRPC server (IdGenerator, health, reflection) and the /metrics endpoint for a validated config. */
export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const codec = new IdCodec(config.layout);
  const lock = acquireStateDirLock(config.stateDir);
  const stateFile = new StateFile(config.stateDir, config.layout, config.node);
  let persistedMs: number;
  try {
    persistedMs = stateFile.read().reservedUntilMs;
  } catch (err) {
    lock.release();
    throw err;
  }

  const timeBase = new TimeBase(options.clockSources ?? systemClockSources, config.maxClockSkewMs, {
    skewChanged(skewMs, stepMs, action) {
      if (stepMs < 0) metrics.clockBackwards.inc();
      metrics.clockSkew.set(action === 'tolerated' || action === 'refusing' ? skewMs / 1000 : 0);
      const fields = { skewMs: Math.round(skewMs), stepMs: Math.round(stepMs), action };
      if (action === 'refusing')
        logger.error(fields, 'wall clock is behind the ID time base beyond the bound');
      else logger.warn(fields, 'wall clock stepped');
    },
  });
  const generator = new Generator(
    codec,
    config.node,
    timeBase,
    { maxBackwardsMs: config.maxClockBackwardsMs },
    {
      sequenceExhausted() {
        metrics.sequenceExhausted.inc();
      },
    },
  );
  generator.restoreFloor(persistedMs);
  const keeper = new ReservationKeeper(
    { write: (ms) => stateFile.write(ms), description: stateFile.path },
    () => timeBase.peekMs(),
    generator,
    { aheadMs: config.reservationMs },
    {
      failed(err) {
        metrics.stateWriteFailures.inc();
        logger.error({ err: err.message, path: stateFile.path }, 'cannot persist the timestamp reservation');
      },
    },
  );
  keeper.init(persistedMs);

  const health = createHealth();
  const refusing = new Set<string>(['starting']);
  let startingReason = 'starting';
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
  const issuer: IdIssuer = new IdIssuer(
    generator,
    options.scheduler ?? timerScheduler,
    {
      issued(count) {
        metrics.idsGenerated.inc(count);
      },
      refused(err) {
        metrics.refusals.inc({ code: err.code });
      },
      availabilityChanged(available, reason) {
        if (available) logger.info('issuing IDs again');
        else logger.error({ code: reason?.code, err: reason?.message }, 'refusing to issue IDs');
        setRefusing('generator', !available);
      },
    },
    {
      gate: () => (refusing.has('starting') ? new StartingError(startingReason) : undefined),
      extendReservation: () => keeper.ensureCovers(),
    },
  );
  updateServing();
  metrics.workerInfo.set({ datacenter_id: config.node.datacenterId, worker_id: config.node.workerId }, 1);
  const housekeeping = setInterval(() => {
    metrics.timeRemaining.set((layoutEndMs(config.layout) - timeBase.peekMs()) / 1000);
    metrics.clockSkew.set(timeBase.skewMs / 1000);
    setRefusing('clock-skew', timeBase.isRefusing);
    if (!timeBase.isRefusing) void keeper.maybeRenew();
    setRefusing('reservation', keeper.failure !== undefined && keeper.reservedUntilMs <= timeBase.peekMs());
  }, HOUSEKEEPING_MS);
  housekeeping.unref();

  const service = idGeneratorService({
    issuer,
    codec,
    node: config.node,
    maxBatchSize: config.maxBatchSize,
    logger,
  });
  initializeGrpcMetrics(metrics, Object.values(service.definition));

  const server = new grpc.Server({ interceptors: [metricsInterceptor(metrics)] });
  server.addService(service.definition, service.implementation);
  health.addToServer(server);
  new ReflectionService(packageDefinition()).addToServer(server);

  const closeOnStartFailure = (err: unknown): never => {
    clearInterval(housekeeping);
    server.forceShutdown();
    lock.release();
    throw err;
  };
  const grpcPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(config.grpcAddr, grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err === null) resolve(port);
      else reject(new Error(`cannot listen on SNOWFLAKE_GRPC_ADDR=${config.grpcAddr}: ${err.message}`));
    });
  }).catch(closeOnStartFailure);
  const metricsAddr = splitAddress(config.metricsAddr);
  const metricsServer = await startMetricsServer(metrics.registry, metricsAddr.host, metricsAddr.port).catch(
    (err: unknown) =>
      closeOnStartFailure(
        new Error(`cannot listen on SNOWFLAKE_METRICS_ADDR=${config.metricsAddr}: ${String(err)}`),
      ),
  );
  logger.info(
    {
      layout: config.layout,
      epoch: new Date(config.layout.epochMs).toISOString(),
      datacenterId: config.node.datacenterId,
      workerId: config.node.workerId,
      workerIdSource: config.workerIdSource,
      grpcAddr: `${splitAddress(config.grpcAddr).host}:${grpcPort}`,
      metricsAddr: `${metricsAddr.host}:${metricsServer.port}`,
      maxBatchSize: config.maxBatchSize,
      stateFile: stateFile.path,
      reservedUntil: new Date(persistedMs).toISOString(),
    },
    'snowflake service started',
  );

  const ready = (async () => {
    const behindMs = persistedMs - timeBase.peekMs();
    if (behindMs > 0) {
      const fields = { behindMs: Math.ceil(behindMs), reservedUntil: new Date(persistedMs).toISOString() };
      if (behindMs > config.maxStartupWaitMs) {
        throw new StartingError(
          `clock is ${fields.behindMs} ms behind the timestamp reservation in ${stateFile.path} ` +
            `(${fields.reservedUntil}), more than SNOWFLAKE_MAX_STARTUP_WAIT_MS=${config.maxStartupWaitMs}: ` +
            `IDs issued before the restart could be repeated; refusing to start`,
        );
      }
      startingReason = `waiting ${fields.behindMs} ms for the clock to pass the persisted reservation ${fields.reservedUntil}`;
      logger.warn(fields, 'clock is behind the persisted reservation: waiting before serving (NOT_SERVING)');
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(behindMs)).unref());
    }
    await keeper.ensureCovers();
    setRefusing('starting', false);
    logger.info({ reservedUntil: new Date(keeper.reservedUntilMs).toISOString() }, 'serving');
  })();
  ready.catch(() => undefined);

  let stopping: Promise<{ forced: boolean }> | undefined;
  const stop = async (): Promise<{ forced: boolean }> => {
    setRefusing('draining', true);
    clearInterval(housekeeping);
    logger.info({ timeoutMs: config.shutdownTimeoutMs }, 'shutting down: draining in-flight calls');
    const forced = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve(true);
      }, config.shutdownTimeoutMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    issuer.close();
    if (!refusing.has('starting')) await keeper.finalize();
    if (keeper.failure !== undefined)
      logger.error({ err: keeper.failure.message }, 'final reservation write failed');
    lock.release();
    await metricsServer.close();
    if (forced) logger.warn('shutdown timeout reached: in-flight calls were cut');
    logger.info('stopped');
    return { forced };
  };

  return {
    grpcPort,
    metricsPort: metricsServer.port,
    metrics,
    ready,
    stop: () => (stopping ??= stop()),
  };
}
