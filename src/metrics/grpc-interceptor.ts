import * as grpc from '@grpc/grpc-js';
import type { LabelValues } from 'prom-client';
import type { Metrics } from './metrics';

type GrpcLabels = LabelValues<'grpc_service' | 'grpc_method' | 'grpc_type'>;

/** `unary`, `client_stream`, `server_stream` or `bidi_stream`, as go-grpc-prometheus names them. */
function grpcType(method: grpc.ServerMethodDefinition<unknown, unknown>): string {
  if (method.requestStream) return method.responseStream ? 'bidi_stream' : 'client_stream';
  return method.responseStream ? 'server_stream' : 'unary';
}

/** Status code names as Prometheus label values: OK, INVALID_ARGUMENT, UNAVAILABLE, … */
const CODE_NAMES = new Map<number, string>(
  Object.entries(grpc.status)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, code]) => [code, name]),
);

/**
 * Pre-creates the started/handled/latency series of `methods` with value 0 so dashboards and alerts see
 * them before the first call (as go-grpc-prometheus's InitializeMetrics does).
 */
export function initializeGrpcMetrics(
  metrics: Metrics,
  methods: Iterable<grpc.ServerMethodDefinition<unknown, unknown>>,
): void {
  for (const method of methods) {
    const labels = labelsOf(method);
    metrics.grpcStarted.labels(labels).inc(0);
    metrics.grpcHandlingSeconds.labels(labels);
    metrics.grpcHandled.labels({ ...labels, grpc_code: 'OK' }).inc(0);
  }
}

/**
 * A grpc-js server interceptor recording grpc_server_started_total, grpc_server_handled_total and
 * grpc_server_handling_seconds for every method of every service on the server. Children of the label
 * sets are cached per method so a call costs no label lookups.
 */
export function metricsInterceptor(metrics: Metrics): grpc.ServerInterceptor {
  const perMethod = new Map<
    string,
    { started: { inc(): void }; seconds: { observe(v: number): void }; labels: GrpcLabels }
  >();
  return (method, call) => {
    let m = perMethod.get(method.path);
    if (m === undefined) {
      const labels = labelsOf(method);
      m = {
        started: metrics.grpcStarted.labels(labels),
        seconds: metrics.grpcHandlingSeconds.labels(labels),
        labels,
      };
      perMethod.set(method.path, m);
    }
    const { started, seconds, labels } = m;
    const startNs = process.hrtime.bigint();
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      metrics.grpcHandled.inc({ ...labels, grpc_code: CODE_NAMES.get(code) ?? String(code) });
      seconds.observe(Number(process.hrtime.bigint() - startNs) / 1e9);
    };
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        started.inc();
        next({
          onCancel() {
            finish(grpc.status.CANCELLED);
          },
        });
      },
      sendStatus(status, next) {
        finish(status.code);
        next(status);
      },
    });
  };
}

function labelsOf(method: grpc.ServerMethodDefinition<unknown, unknown>): GrpcLabels {
  const [, service = '', name = ''] = method.path.split('/');
  return { grpc_service: service, grpc_method: name, grpc_type: grpcType(method) };
}
