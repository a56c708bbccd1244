import { fixedSource } from '../claim';
import { defineWorkerIdSource, type WorkerIdSourceConfig } from '../source-registration';

/** The static source's configuration: the node is SNOWFLAKE_DATACENTER_ID / SNOWFLAKE_WORKER_ID. */
export interface StaticWorkerIdConfig extends WorkerIdSourceConfig {
  readonly source: 'static';
  /** SNOWFLAKE_WORKER_ID; 0 when unset. */
  readonly workerId: number;
  /**
   * True when SNOWFLAKE_WORKER_ID is not set, so `workerId` is the default 0: two such instances in one
   * datacenter issue the same IDs. Logged at WARN and exported as `snowflake_worker_id_defaulted`.
   */
  readonly defaulted: boolean;
}

/**
 * `SNOWFLAKE_WORKER_ID_SOURCE=static` (the default): the configured node, never lost. Its variable,
 * SNOWFLAKE_WORKER_ID, is a general one (range-checked against the layout; the other sources refuse it).
 */
export const staticSource = defineWorkerIdSource({
  name: 'static',
  summary: 'SNOWFLAKE_WORKER_ID',
  variables: {},
  parse(_values, { env, datacenterId, workerId, warn }): StaticWorkerIdConfig {
    const defaulted = env.SNOWFLAKE_WORKER_ID === undefined;
    if (defaulted) {
      warn(
        `SNOWFLAKE_WORKER_ID is not set: serving as the default worker ${workerId} of datacenter ` +
          `${datacenterId}. Two instances on the default issue duplicate IDs; give each ` +
          'instance its own SNOWFLAKE_WORKER_ID, or use SNOWFLAKE_WORKER_ID_SOURCE=ordinal or etcd',
      );
    }
    return { source: 'static', datacenterId, workerId, defaulted };
  },
  create: (config) =>
    fixedSource({ datacenterId: config.datacenterId, workerId: config.workerId }, 'static', config.defaulted),
});
