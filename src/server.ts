import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from 'pino';
import { splitAddress, type Config } from './config';
import type { Clock } from './core/clock';
import { IdCodec } from './core/codec';
import { Generator } from './core/generator';
import { createHealth } from './grpc/health';
import { idGeneratorService } from './grpc/id-generator-service';
import { packageDefinition } from './grpc/proto';
import { IdIssuer, timerScheduler, type Scheduler } from './issuer';
import { createLogger } from './logger';
import { initializeGrpcMetrics, metricsInterceptor } from './metrics/grpc-interceptor';
import { startMetricsServer } from './metrics/http-server';
import { createMetrics, type Metrics } from './metrics/metrics';
import { systemClock } from './system-clock';

/** Optional collaborators for {@link startServer}; tests inject a fake clock or a silent logger. */
export interface ServerOptions {
  /** Time source for IDs. Default: the system clock. */
  readonly clock?: Clock;
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
   * Graceful shutdown: health → NOT_SERVING, stop accepting calls, let in-flight calls finish, close
   * /metrics. Calls still running after config.shutdownTimeoutMs are cut; `forced` then is true.
   * Safe to call more than once (later calls return the first one's promise).
   */
  stop(): Promise<{ forced: boolean }>;
}

/** Starts the gRPC server (IdGenerator, health, reflection) and the /metrics endpoint for a validated config. */
export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const codec = new IdCodec(config.layout);
  const generator = new Generator(
    codec,
    config.node,
    options.clock ?? systemClock,
    { maxBackwardsMs: config.maxClockBackwardsMs },
    {
      clockBackwards(stepMs) {
        metrics.clockBackwards.inc();
        logger.warn({ stepMs }, 'clock stepped backwards');
      },
      sequenceExhausted() {
        metrics.sequenceExhausted.inc();
      },
    },
  );

  const health = createHealth();
  let draining = false;
  const issuer: IdIssuer = new IdIssuer(generator, options.scheduler ?? timerScheduler, {
    issued(count) {
      metrics.idsGenerated.inc(count);
    },
    availabilityChanged(available, reason) {
      if (available) logger.info('clock recovered; issuing IDs again');
      else logger.error({ code: reason?.code, err: reason?.message }, 'refusing to issue IDs');
      setServing(available && !draining);
    },
  });
  const setServing = (serving: boolean) => {
    health.setServing(serving);
    metrics.serving.set(serving ? 1 : 0);
  };
  setServing(false);
  metrics.workerInfo.set({ datacenter_id: config.node.datacenterId, worker_id: config.node.workerId }, 1);

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

  const grpcPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(config.grpcAddr, grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err === null) resolve(port);
      else reject(new Error(`cannot listen on SNOWFLAKE_GRPC_ADDR=${config.grpcAddr}: ${err.message}`));
    });
  });
  const metricsAddr = splitAddress(config.metricsAddr);
  const metricsServer = await startMetricsServer(metrics.registry, metricsAddr.host, metricsAddr.port).catch(
    (err: unknown) => {
      server.forceShutdown();
      throw new Error(`cannot listen on SNOWFLAKE_METRICS_ADDR=${config.metricsAddr}: ${String(err)}`);
    },
  );
  setServing(issuer.available);
  logger.info(
    {
      layout: config.layout,
      epoch: new Date(config.layout.epochMs).toISOString(),
      datacenterId: config.node.datacenterId,
      workerId: config.node.workerId,
      grpcAddr: `${splitAddress(config.grpcAddr).host}:${grpcPort}`,
      metricsAddr: `${metricsAddr.host}:${metricsServer.port}`,
      maxBatchSize: config.maxBatchSize,
    },
    'snowflake service started',
  );

  let stopping: Promise<{ forced: boolean }> | undefined;
  const stop = async (): Promise<{ forced: boolean }> => {
    draining = true;
    setServing(false);
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
    await metricsServer.close();
    if (forced) logger.warn('shutdown timeout reached: in-flight calls were cut');
    logger.info('stopped');
    return { forced };
  };

  return {
    grpcPort,
    metricsPort: metricsServer.port,
    metrics,
    stop: () => (stopping ??= stop()),
  };
}
