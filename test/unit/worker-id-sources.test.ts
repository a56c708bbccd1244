import pino from 'pino';
import { loadConfig } from '../../src/config';
import type { Timers } from '../../src/timers';
import { createWorkerIdSource, WORKER_ID_SOURCES, workerIdSourceNamed } from '../../src/worker-id/registry';

const NOW = Date.UTC(2026, 10, 25, 12);

/** Timers that never fire: nothing here may wait. */
const frozenTimers: Timers = { after: () => undefined, cancel: () => undefined };

const DEPS = { monotonicNowMs: () => 0, timers: frozenTimers, logger: pino({ level: 'silent' }) };

function sourceFor(env: Record<string, string>) {
  return createWorkerIdSource(loadConfig(env, NOW).config.workerId, DEPS);
}

describe('the worker-ID source registry', () => {
  it('names each source once', () => {
    const names = WORKER_ID_SOURCES.map((s) => s.name);
    expect(names).toEqual(['static', 'ordinal', 'etcd']);
    for (const name of names) expect(workerIdSourceNamed(name).name).toBe(name);
    expect(() => workerIdSourceNamed('consul')).toThrow('no worker-ID source is named "consul"');
  });

  it.each<[string, Record<string, string>, { datacenterId: number; workerId: number }, boolean]>([
    [
      'static',
      { SNOWFLAKE_DATACENTER_ID: '2', SNOWFLAKE_WORKER_ID: '9' },
      { datacenterId: 2, workerId: 9 },
      false,
    ],
    ['static', { SNOWFLAKE_DATACENTER_ID: '2' }, { datacenterId: 2, workerId: 0 }, true],
    [
      'ordinal',
      { SNOWFLAKE_WORKER_ID_SOURCE: 'ordinal', SNOWFLAKE_DATACENTER_ID: '4', HOSTNAME: 'snowflake-7' },
      { datacenterId: 4, workerId: 7 },
      false,
    ],
  ])(
    'GIVEN the %s source configured by %j THEN it claims that node at once, never lost (defaulted: %p)',
    async (name, env, node, defaulted) => {
      const source = sourceFor(env);
      expect(source).toMatchObject({
        name,
        workerIdDefaulted: defaulted,
        capabilities: { nodeMayChange: false, remoteReservation: undefined, claimWaits: false },
      });
      const claim = await source.claim(undefined, 0);
      expect(claim.node).toEqual(node);
      expect(claim.safeUntilMs()).toBe(Infinity);
    },
  );

  it('GIVEN the etcd source THEN it is built without contacting etcd and states what its claims can do', () => {
    const source = sourceFor({
      SNOWFLAKE_WORKER_ID_SOURCE: 'etcd',
      SNOWFLAKE_ETCD_ENDPOINTS: 'http://127.0.0.1:1',
    });
    expect(source).toMatchObject({
      name: 'etcd',
      workerIdDefaulted: false,
      capabilities: { nodeMayChange: true, remoteReservation: 'etcd', claimWaits: true },
    });
  });
});
