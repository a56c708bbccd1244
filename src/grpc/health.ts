import type * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { SERVICE_NAME } from './proto';

/** The grpc.health.v1 service, reporting one status for both `""` (the whole server) and snowflake.v1.IdGenerator. */
export interface Health {
  /** SERVING when true, NOT_SERVING when false; watchers are notified on change. */
  setServing(serving: boolean): void;
  addToServer(server: grpc.Server): void;
}

/** Creates the health service, NOT_SERVING until told otherwise. */
export function createHealth(): Health {
  const impl = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  return {
    setServing(serving) {
      const status = serving ? 'SERVING' : 'NOT_SERVING';
      impl.setStatus('', status);
      impl.setStatus(SERVICE_NAME, status);
    },
    addToServer(server) {
      impl.addToServer(server);
    },
  };
}
