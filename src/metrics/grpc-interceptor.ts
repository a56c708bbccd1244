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

/** The series one method writes, resolved once: prom-client's label lookup costs µs per call. */
interface MethodSeries {
  readonly started: { inc(): void };
  readonly seconds: { observe(v: number): void };
  /** grpc_server_handled_total children by status code (grpc.status values 0…16), created on first use. */
  readonly handled: ({ inc(): void } | undefined)[];
  readonly labels: GrpcLabels;
}

/**
 * A grpc-js server interceptor recording grpc_server_started_total, grpc_server_handled_total and
 * grpc_server_handling_seconds for every method of every service on the server. Children of the label
 * sets are cached per method and status code so a call costs no label lookups.
 */
export function metricsInterceptor(metrics: Metrics): grpc.ServerInterceptor {
  const perMethod = new Map<string, MethodSeries>();
  const seriesOf = (method: grpc.ServerMethodDefinition<unknown, unknown>): MethodSeries => {
    let m = perMethod.get(method.path);
    if (m === undefined) {
      const labels = labelsOf(method);
      m = {
        started: metrics.grpcStarted.labels(labels),
        seconds: metrics.grpcHandlingSeconds.labels(labels),
        handled: [],
        labels,
      };
      perMethod.set(method.path, m);
    }
    return m;
  };
  return (method, call) => {
    const m = seriesOf(method);
    const startMs = performance.now();
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      let handled = m.handled[code];
      if (handled === undefined) {
        handled = metrics.grpcHandled.labels({
          ...m.labels,
          grpc_code: CODE_NAMES.get(code) ?? String(code),
        });
        m.handled[code] = handled;
      }
      handled.inc();
      m.seconds.observe((performance.now() - startMs) / 1000);
    };
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        m.started.inc();
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
