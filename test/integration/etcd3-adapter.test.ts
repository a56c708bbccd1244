import { openEtcd3Port } from '../../src/worker-id/etcd3-adapter';
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
