import {
  EtcdLeaseNotFoundError,
  type EtcdHolderGuard,
  type EtcdPort,
} from '../../src/worker-id/etcd/etcd-port';

/** What the contract needs to run against one implementation of {@link EtcdPort}. */
export interface PortHarness {
  /** A new port (the contract closes it after each case). */
  open(): Promise<EtcdPort>;
  /** Waits for a call's outcome (the simulated port needs its event loop run; a real one just awaits). */
  run<T>(call: Promise<T>): Promise<T>;
}

/** Generous: a loaded machine must never fail a contract case by its deadline. */
const T = 10_000;
const TTL_S = 30;
let prefixCount = 0;

/**
 * The semantics the claim protocol relies on, as one table of cases run against every port: the etcd3
 * adapter on a real etcd (test/integration/etcd3-adapter.test.ts) and the simulation's port
 * (test/simulation/sim-etcd-port.test.ts). What passes here on both is what makes a schedule of the
 * simulation say something about production.
 */
export function describeEtcdPortContract(name: string, harness: () => PortHarness): void {
  describe(`EtcdPort contract: ${name}`, () => {
    let port: EtcdPort;
    let run: PortHarness['run'];
    let prefix: string;
    beforeEach(async () => {
      const h = harness();
      port = await h.open();
      run = h.run.bind(h);
      prefixCount += 1;
      prefix = `/contract-${prefixCount}/`;
    });
    afterEach(() => {
      port.close();
    });

    const claim = async (key: string, leaseId: string, readKey = `${key}/reservation`) =>
      run(
        port.claimKey({ compares: [{ key, createRevision: '0' }], key, value: 'owner', leaseId, readKey }, T),
      );

    it('GIVEN a granted lease THEN its ID is a decimal int64 and a keepalive answers its TTL in seconds', async () => {
      const leaseId = await run(port.grantLease(TTL_S, T));
      expect(leaseId).toMatch(/^[1-9]\d*$/);
      expect(await run(port.keepaliveOnce(leaseId, T))).toBe(TTL_S);
    });

    it('GIVEN a revoked lease THEN a keepalive rejects with EtcdLeaseNotFoundError and revoking again resolves', async () => {
      const leaseId = await run(port.grantLease(TTL_S, T));
      await run(port.revokeLease(leaseId, T));
      const err: unknown = await run(port.keepaliveOnce(leaseId, T)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EtcdLeaseNotFoundError);
      expect((err as EtcdLeaseNotFoundError).leaseId).toBe(leaseId);
      await expect(run(port.revokeLease(leaseId, T))).resolves.toBeUndefined();
    });

    it('GIVEN a free key THEN the claim txn puts it with the lease, answers its create_revision and reads the other key', async () => {
      const leaseId = await run(port.grantLease(TTL_S, T));
      const key = `${prefix}worker/0`;
      const res = await claim(key, leaseId);
      if (!res.succeeded) throw new Error('claim failed');
      expect(res.createRevision).toMatch(/^[1-9]\d*$/);
      expect(res.read).toBeUndefined();
      const kv = await run(port.get(key, T));
      const rev = res.createRevision;
      expect(kv).toEqual({ value: 'owner', lease: leaseId, createRevision: rev, modRevision: rev });
    });

    it('GIVEN a held key THEN the claim txn fails and changes nothing', async () => {
      const [a, b] = [await run(port.grantLease(TTL_S, T)), await run(port.grantLease(TTL_S, T))];
      const key = `${prefix}worker/0`;
      await claim(key, a);
      const before = await run(port.get(key, T));
      expect(await claim(key, b)).toEqual({ succeeded: false });
      expect(await run(port.get(key, T))).toEqual(before);
    });

    it('GIVEN its compares THEN the claim txn applies exactly them: none puts over a held key, keeping its create_revision; one on another key decides alone', async () => {
      const [a, b] = [await run(port.grantLease(TTL_S, T)), await run(port.grantLease(TTL_S, T))];
      const key = `${prefix}worker/0`;
      const other = `${prefix}worker/1`;
      const first = await claim(key, a);
      if (!first.succeeded) throw new Error('claim failed');
      const txn = { key, value: 'second', leaseId: b, readKey: `${key}/reservation` };
      const unguarded = await run(port.claimKey({ ...txn, compares: [] }, T));
      expect(unguarded).toMatchObject({ succeeded: true });
      expect(await run(port.get(key, T))).toMatchObject({
        value: 'second',
        lease: b,
        createRevision: first.createRevision,
      });
      const onOther = { ...txn, compares: [{ key: other, createRevision: '0' }] };
      expect(await run(port.claimKey(onOther, T))).toMatchObject({ succeeded: true });
      await claim(other, a);
      expect(await run(port.claimKey(onOther, T))).toEqual({ succeeded: false });
    });

    it('GIVEN a free key but a revoked lease THEN the claim txn rejects with EtcdLeaseNotFoundError', async () => {
      const leaseId = await run(port.grantLease(TTL_S, T));
      await run(port.revokeLease(leaseId, T));
      const err: unknown = await claim(`${prefix}worker/0`, leaseId).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EtcdLeaseNotFoundError);
      expect(await run(port.get(`${prefix}worker/0`, T))).toBeUndefined();
    });

    it('GIVEN the holder guard THEN guarded writes compare mod_revision, write without a lease, and guarded reads see them', async () => {
      const leaseId = await run(port.grantLease(TTL_S, T));
      const key = `${prefix}worker/0`;
      const resKey = `${prefix}reservation/0`;
      const won = await claim(key, leaseId, resKey);
      if (!won.succeeded) throw new Error('claim failed');
      const guard: EtcdHolderGuard = { key, createRevision: won.createRevision, leaseId };
      const write = (modRevision: string, value: string) =>
        run(port.writeGuarded({ guard, key: resKey, modRevision, value }, T));

      expect(await run(port.readGuarded(guard, resKey, T))).toEqual({ succeeded: true, kv: undefined });
      expect(await write('0', '1000')).toEqual({ succeeded: true });
      const first = await run(port.readGuarded(guard, resKey, T));
      if (!first.succeeded || first.kv === undefined) throw new Error('guarded read failed');
      expect(first.kv).toMatchObject({ value: '1000', lease: '0' });
      expect(first.kv.modRevision).toMatch(/^[1-9]\d*$/);
      const firstMod = first.kv.modRevision;
      expect(await write('0', '2000')).toEqual({ succeeded: false, guard: await run(port.get(key, T)) });
      expect(await write(firstMod, '2000')).toEqual({ succeeded: true });
      expect((await run(port.get(resKey, T)))?.value).toBe('2000');
      expect(await write(firstMod, '3000')).toEqual({ succeeded: false, guard: await run(port.get(key, T)) });
    });

    it('GIVEN the holder lease revoked THEN its key is gone, guarded calls fail with no guard key, and a new holder reads the reservation', async () => {
      const [old, next] = [await run(port.grantLease(TTL_S, T)), await run(port.grantLease(TTL_S, T))];
      const key = `${prefix}worker/0`;
      const resKey = `${prefix}reservation/0`;
      const won = await claim(key, old, resKey);
      if (!won.succeeded) throw new Error('claim failed');
      const guard: EtcdHolderGuard = { key, createRevision: won.createRevision, leaseId: old };
      await run(port.writeGuarded({ guard, key: resKey, modRevision: '0', value: '1234' }, T));

      await run(port.revokeLease(old, T));

      expect(await run(port.get(key, T))).toBeUndefined();
      expect(await run(port.readGuarded(guard, resKey, T))).toEqual({ succeeded: false, guard: undefined });
      expect(await run(port.writeGuarded({ guard, key: resKey, modRevision: '0', value: '9' }, T))).toEqual({
        succeeded: false,
        guard: undefined,
      });
      const again = await claim(key, next, resKey);
      expect(again).toMatchObject({ succeeded: true, read: { value: '1234', lease: '0' } });
      // The same key re-created by another lease: the old guard no longer matches it.
      const taken = await run(port.readGuarded(guard, resKey, T));
      expect(taken).toEqual({ succeeded: false, guard: await run(port.get(key, T)) });
      expect(taken.succeeded ? '' : taken.guard?.lease).toBe(next);
    });

    it('GIVEN keys under and beside a prefix THEN listing the prefix answers exactly the keys under it', async () => {
      const leaseId = await run(port.grantLease(TTL_S, T));
      for (const key of [`${prefix}worker/0`, `${prefix}worker/7`, `${prefix}workers`, `${prefix}other/1`]) {
        await claim(key, leaseId);
      }
      const keys = await run(port.listKeys(`${prefix}worker/`, T));
      expect([...keys].sort()).toEqual([`${prefix}worker/0`, `${prefix}worker/7`]);
    });
  });
}
