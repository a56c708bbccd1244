import type * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { SERVICE_NAME } from '@snowflake-id/client/contract';

/**
 * Health service name for liveness probes: SERVING from creation until shutdown begins, whatever the
 * readiness state. A pod that correctly refuses IDs (clock behind, lease lost, etcd down) is not fixed by
 * a restart, so liveness must not follow readiness; it fails only when the process cannot answer.
 */
export const LIVENESS_SERVICE = 'liveness';

/**
 * The grpc.health.v1 service. Readiness, one status for `""` (the whole server) and
 * snowflake.v1.IdGenerator: SERVING only while IDs are issued. Liveness: {@link LIVENESS_SERVICE}.
 */
export interface Health {
  /** Readiness: SERVING when true, NOT_SERVING when false; watchers are notified on change. */
  setServing(serving: boolean): void;
  /** Shutdown has begun: liveness turns NOT_SERVING too, for good. */
  stopping(): void;
  addToServer(server: grpc.Server): void;
}

/** Creates the health service: readiness NOT_SERVING until told otherwise, liveness SERVING. */
export function createHealth(): Health {
  const impl = new HealthImplementation({
    '': 'NOT_SERVING',
    [SERVICE_NAME]: 'NOT_SERVING',
    [LIVENESS_SERVICE]: 'SERVING',
  });
  return {
    setServing(serving) {
      const status = serving ? 'SERVING' : 'NOT_SERVING';
      impl.setStatus('', status);
      impl.setStatus(SERVICE_NAME, status);
    },
    stopping() {
      impl.setStatus(LIVENESS_SERVICE, 'NOT_SERVING');
    },
    addToServer(server) {
      impl.addToServer(server);
    },
  };
}
