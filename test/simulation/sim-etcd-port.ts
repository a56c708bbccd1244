import {
  EtcdLeaseNotFoundError,
  type EtcdClaimTxn,
  type EtcdClaimTxnResult,
  type EtcdGuardedRead,
  type EtcdGuardedWrite,
  type EtcdGuardedWriteTxn,
  type EtcdHolderGuard,
  type EtcdKv,
  type EtcdPort,
} from '../../src/worker-id/etcd/etcd-port';
import { etcdCall, type LinkState, type SimEtcd, type SimKv } from './sim-etcd';
import type { World } from './world';

/**
 * The {@link EtcdPort} of one simulated process: every call is one request over the machine's link to
 * the shared {@link SimEtcd} (see {@link etcdCall}: delays, drops, partitions), with etcd's numbers as
 * the decimal strings a real client returns. Deadlines are not enforced here: a call whose request or
 * answer is lost never settles, so the claim's own timers (on the process's clock) must end it — the
 * timeout code under test is the claim's, and a claim that forgot one would hang and stop issuing.
 */
export class SimEtcdPort implements EtcdPort {
  readonly target = 'sim-etcd';
  readonly secrets: readonly string[] = [];
  private closed = false;

  constructor(
    private readonly world: World,
    private readonly etcd: SimEtcd,
    private readonly link: LinkState,
    private readonly alive: () => boolean,
  ) {}

  grantLease(ttlSeconds: number): Promise<string> {
    return this.send('LeaseGrant', (etcd) => String(etcd.grant(ttlSeconds * 1000)));
  }

  keepaliveOnce(leaseId: string): Promise<number> {
    return this.send('LeaseKeepAlive', (etcd) => {
      const ttlMs = etcd.keepAlive(Number(leaseId));
      if (ttlMs <= 0) throw new EtcdLeaseNotFoundError(leaseId);
      return ttlMs / 1000;
    });
  }

  listKeys(prefix: string): Promise<readonly string[]> {
    return this.send('Range', (etcd) => etcd.keys(prefix));
  }

  get(key: string): Promise<EtcdKv | undefined> {
    return this.send('Range', (etcd) => toKv(etcd.get(key)));
  }

  claimKey(txn: EtcdClaimTxn): Promise<EtcdClaimTxnResult> {
    return this.send('Txn', (etcd) => {
      const compares = txn.compares.map((c) => ({ key: c.key, createRevision: Number(c.createRevision) }));
      const res = etcd.claimTxn(compares, txn.key, txn.value, Number(txn.leaseId), txn.readKey);
      return res.succeeded
        ? { succeeded: true, createRevision: String(res.revision), read: toKv(res.read) }
        : { succeeded: false };
    });
  }

  readGuarded(guard: EtcdHolderGuard, key: string): Promise<EtcdGuardedRead> {
    return this.send('Txn', (etcd) => {
      const res = etcd.guarded(guard.key, Number(guard.createRevision), Number(guard.leaseId), key);
      return res.succeeded
        ? { succeeded: true, kv: toKv(res.kv) }
        : { succeeded: false, guard: toKv(res.kv) };
    });
  }

  writeGuarded(txn: EtcdGuardedWriteTxn): Promise<EtcdGuardedWrite> {
    const { guard } = txn;
    return this.send('Txn', (etcd) => {
      const res = etcd.guarded(guard.key, Number(guard.createRevision), Number(guard.leaseId), txn.key, {
        modRevision: Number(txn.modRevision),
        value: txn.value,
      });
      return res.succeeded ? { succeeded: true } : { succeeded: false, guard: toKv(res.kv) };
    });
  }

  revokeLease(leaseId: string): Promise<void> {
    return this.send('LeaseRevoke', (etcd) => {
      etcd.revoke(Number(leaseId));
    });
  }

  close(): void {
    this.closed = true;
  }

  private send<T>(what: string, op: (etcd: SimEtcd) => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`${what}: the etcd client is closed`));
    return etcdCall(this.world, this.etcd, this.link, what, op, this.alive);
  }
}

function toKv(kv: SimKv | undefined): EtcdKv | undefined {
  if (kv === undefined) return undefined;
  return {
    value: kv.value,
    lease: String(kv.lease),
    createRevision: String(kv.createRevision),
    modRevision: String(kv.modRevision),
  };
}
