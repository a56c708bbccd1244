import { isBrokenCircuitError } from 'cockatiel';
import { openEtcd3Port } from '../../src/worker-id/etcd/etcd3-adapter';
import { describeEtcdPortContract } from '../helpers/etcd-port-contract';
import { startEtcd, type EtcdServer } from '../helpers/etcd';

let etcd: EtcdServer;

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd.dispose();
});

// The etcd3 adapter on a real etcd, against the same contract as the simulation's port
// (test/simulation/sim-etcd-port.test.ts).
describeEtcdPortContract('the etcd3 adapter on a real etcd', () => ({
  open: () => openEtcd3Port({ endpoints: [etcd.endpoint] }),
  run: (call) => call,
}));

describe('the etcd3 adapter across an etcd outage', () => {
  it('GIVEN calls failed while etcd was down THEN once etcd is back calls reach it again, never refused by an open circuit breaker', async () => {
    const port = await openEtcd3Port({ endpoints: [etcd.endpoint] });
    try {
      await port.listKeys('/outage/', 5000);
      await etcd.stop();
      // More failures in a row than etcd3's default breaker (3) takes to open for 5 s.
      for (let i = 0; i < 5; i++) {
        await expect(port.listKeys('/outage/', 1000)).rejects.toBeDefined();
      }
      await etcd.restart();
      const failures: unknown[] = [];
      // Bounded: etcd answers within a few seconds of its restart; a breaker would refuse for 5 s first.
      for (let attempt = 0; attempt < 40; attempt++) {
        try {
          await port.listKeys('/outage/', 1000);
          break;
        } catch (err) {
          failures.push(err);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
      expect(failures.filter((err) => isBrokenCircuitError(err))).toEqual([]);
      await expect(port.listKeys('/outage/', 5000)).resolves.toEqual([]);
    } finally {
      port.close();
    }
  }, 60_000);
});
