import * as os from 'node:os';
import { CoordinationError } from '../../errors';
import { defineWorkerIdSource } from '../source-registration';
import { claimEtcdWorkerIdVia, type EtcdClaimOptions, type EtcdWorkerIdClaim } from './etcd-claim';
import { ETCD_VARIABLES, parseEtcdConfig } from './etcd-config';
import { etcdWorkerIdSource, type EtcdAttemptFailure } from './etcd-source';
import {
  isEtcdTlsFailure,
  isTransientEtcdError,
  openEtcd3Port,
  type EtcdConnectionOptions,
} from './etcd3-adapter';

/**
 * `SNOWFLAKE_WORKER_ID_SOURCE=etcd`: the lowest free worker ID of the datacenter, held by an etcd lease
 * (see {@link etcdWorkerIdSource}), over etcd3 clients. The owner stored in etcd is `hostname/pid`;
 * failed keepalive rounds go to `deps.hooks.keepalive`.
 */
export const etcdSource = defineWorkerIdSource({
  name: 'etcd',
  summary: 'the lowest free worker ID of SNOWFLAKE_DATACENTER_ID, held by an etcd lease',
  variables: ETCD_VARIABLES,
  parse: parseEtcdConfig,
  create: (config, deps) =>
    etcdWorkerIdSource(
      {
        prefix: config.prefix,
        leaseTtlSeconds: config.leaseTtlSeconds,
        datacenterId: config.datacenterId,
        workerBits: config.workerBits,
        maxReservationMs: config.maxReservationMs,
        owner: `${os.hostname()}/${process.pid}`,
      },
      { ...deps, openPort: () => openEtcd3Port(config), sortFailure: sortEtcd3Failure },
    ),
});

/**
 * Retries what the etcd3 client reports as etcd unreachable or slow ({@link isTransientEtcdError}); a
 * failed TLS handshake is final, with a message saying which variables to check.
 */
function sortEtcd3Failure(err: unknown): EtcdAttemptFailure {
  if (err instanceof CoordinationError && isEtcdTlsFailure(err)) {
    return {
      retry: false,
      error: new CoordinationError(
        `${err.message} (TLS with etcd failed, which waiting does not fix: an https:// endpoint in ` +
          'SNOWFLAKE_ETCD_ENDPOINTS must be a TLS port, verifiable with SNOWFLAKE_ETCD_CA_FILE, and ' +
          'accept the client certificate in SNOWFLAKE_ETCD_CERT_FILE if it requires one)',
        err.cause,
      ),
    };
  }
  return isTransientEtcdError(err) ? { retry: true } : { retry: false, error: err };
}

/** Inputs of {@link claimEtcdWorkerId}: where etcd is, and the claim's own options. */
export type EtcdWorkerIdOptions = EtcdConnectionOptions & EtcdClaimOptions;

/**
 * Claims a worker ID once (no retries) in the etcd at `options.endpoints` over a new etcd3 client: see
 * {@link claimEtcdWorkerIdVia} for the protocol and its errors, and {@link openEtcd3Port} for the
 * connection's. The client is closed when the claim rejects, is lost or is released.
 */
export async function claimEtcdWorkerId(options: EtcdWorkerIdOptions): Promise<EtcdWorkerIdClaim> {
  return claimEtcdWorkerIdVia(await openEtcd3Port(options), options);
}
