import { describeEtcdPortContract } from '../helpers/etcd-port-contract';
import { EventLoop } from './event-loop';
import { Prng } from './prng';
import { healthyLink, SimEtcd } from './sim-etcd';
import { SimEtcdPort } from './sim-etcd-port';
import type { World } from './world';

/** Bound on the events one call may take (two network hops each way at most). */
const MAX_EVENTS_PER_CALL = 100;

// The simulation's etcd and network, on a calm link, against the same contract as the etcd3 adapter on
// a real etcd (test/integration/etcd3-adapter.test.ts).
describeEtcdPortContract('the simulated etcd (SimEtcdPort)', () => {
  const loop = new EventLoop();
  const world: World = { loop, rng: new Prng(1), counters: {}, dirty: false, calm: true, trace: undefined };
  const etcd = new SimEtcd(world, () => loop.now);
  return {
    open: () => Promise.resolve(new SimEtcdPort(world, etcd, healthyLink(), () => true)),
    async run<T>(call: Promise<T>): Promise<T> {
      const state = { settled: false };
      const settle = (): void => {
        state.settled = true;
      };
      call.then(settle, settle);
      for (let i = 0; i < MAX_EVENTS_PER_CALL && !state.settled; i++) {
        loop.step(loop.now + 10_000);
        await Promise.resolve();
      }
      return call;
    },
  };
});
