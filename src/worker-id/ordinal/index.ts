import * as os from 'node:os';
import { z } from 'zod';
import { fieldMax } from '../../core/layout';
import { fixedSource } from '../claim';
import { defineWorkerIdSource, type WorkerIdSourceConfig } from '../source-registration';

/** The ordinal source's configuration: the worker ID is the StatefulSet pod's ordinal. */
export interface OrdinalWorkerIdConfig extends WorkerIdSourceConfig {
  readonly source: 'ordinal';
  /** The pod ordinal: SNOWFLAKE_ORDINAL, else the `-N` suffix of the hostname; within the worker range. */
  readonly workerId: number;
}

/**
 * `SNOWFLAKE_WORKER_ID_SOURCE=ordinal`: the worker ID of a StatefulSet pod is its ordinal (Kubernetes
 * never runs two pods of one StatefulSet with the same ordinal), never lost.
 */
export const ordinalSource = defineWorkerIdSource({
  name: 'ordinal',
  summary: 'the StatefulSet ordinal (SNOWFLAKE_ORDINAL, else the hostname suffix name-3 → 3)',
  variables: {
    SNOWFLAKE_ORDINAL: {
      doc: {
        defaultValue: '',
        allowed: '0 to 2^WORKER_BITS − 1; only with SNOWFLAKE_WORKER_ID_SOURCE=ordinal',
        description: 'the pod ordinal, when the hostname does not end in -N',
      },
      schema: z.string().regex(/^(\d+)?$/, 'must be a whole number (the pod ordinal)'),
    },
  },
  parse(
    { SNOWFLAKE_ORDINAL: explicit },
    { env, layout, datacenterId, problem, shown },
  ): OrdinalWorkerIdConfig | undefined {
    const workerId = resolveOrdinal(env, explicit, fieldMax(layout.workerBits), problem, shown);
    return workerId === undefined ? undefined : { source: 'ordinal', datacenterId, workerId };
  },
  create: (config) =>
    fixedSource({ datacenterId: config.datacenterId, workerId: config.workerId }, 'ordinal'),
});

/**
 * The worker ID of a StatefulSet pod: SNOWFLAKE_ORDINAL (`explicit`, '' when unset), else the `-N` suffix
 * of the hostname (HOSTNAME, else the OS hostname). Records a problem and returns undefined when it is
 * missing, out of range, or SNOWFLAKE_WORKER_ID is also set (two sources would be ambiguous).
 */
function resolveOrdinal(
  env: Readonly<Record<string, string | undefined>>,
  explicit: string,
  maxWorkerId: number,
  problem: (message: string) => void,
  shown: (name: string, value: string) => string,
): number | undefined {
  if (env.SNOWFLAKE_WORKER_ID !== undefined) {
    problem(
      'SNOWFLAKE_WORKER_ID: must not be set with SNOWFLAKE_WORKER_ID_SOURCE=ordinal (the ordinal is the worker ID)',
    );
    return undefined;
  }
  const hostname = env.HOSTNAME ?? os.hostname();
  const text = explicit !== '' ? explicit : /-(\d+)$/.exec(hostname)?.[1];
  const from =
    explicit !== ''
      ? `SNOWFLAKE_ORDINAL=${shown('SNOWFLAKE_ORDINAL', explicit)}`
      : `hostname ${JSON.stringify(hostname)}`;
  if (text === undefined) {
    problem(
      `SNOWFLAKE_WORKER_ID_SOURCE=ordinal: ${from} does not end in -N and SNOWFLAKE_ORDINAL is not set`,
    );
    return undefined;
  }
  const ordinal = Number(text);
  if (ordinal > maxWorkerId) {
    problem(
      `SNOWFLAKE_WORKER_ID_SOURCE=ordinal: ordinal ${ordinal} (from ${from}) is beyond the worker range 0 to ${maxWorkerId} ` +
        `(SNOWFLAKE_WORKER_BITS); run fewer replicas per datacenter or use more worker bits`,
    );
    return undefined;
  }
  return ordinal;
}
