import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { helpText, loadConfig, SECRET_VARIABLES, VARIABLE_DOCS, type Config } from '../../src/config';
import { DEFAULT_LAYOUT, layoutEndMs } from '../../src/core/layout';
import { InvalidConfigError } from '../../src/errors';
import { WORKER_ID_SOURCES } from '../../src/worker-id/registry';

const NOW = Date.UTC(2026, 10, 25, 12);

function load(env: Record<string, string | undefined>) {
  return loadConfig(env, NOW);
}

/** The worker ID of a static or ordinal configuration (an etcd one has none until it claims). */
function workerIdOf(config: Config): number | undefined {
  return config.workerId.source === 'etcd' ? undefined : config.workerId.workerId;
}

function errorOf(env: Record<string, string | undefined>): string {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('loadConfig', () => {
  it('GIVEN no variables THEN every default applies (static worker 0/0, 41|5|5|12 since 2020)', () => {
    expect(load({})).toEqual({
      config: {
        grpcAddr: '0.0.0.0:50051',
        metricsAddr: '0.0.0.0:9464',
        layout: DEFAULT_LAYOUT,
        workerId: { source: 'static', datacenterId: 0, workerId: 0, defaulted: true },
        maxBatchSize: 10_000,
        grpcLimits: {
          maxConnections: 512,
          maxConcurrentStreams: 100,
          maxBacklogBytesPerConnection: 4 * 2 ** 20,
          maxBacklogBytes: 64 * 2 ** 20,
        },
        metricsMaxConnections: 16,
        maxClockBackwardsMs: 10,
        logLevel: 'info',
        shutdownTimeoutMs: 10_000,
        maxClockSkewMs: 1000,
        stateDir: path.resolve('state'),
        reservationMs: 2000,
        maxStartupWaitMs: 60_000,
      },
      warnings: [
        'SNOWFLAKE_WORKER_ID is not set: serving as the default worker 0 of datacenter 0. Two instances on ' +
          'the default issue duplicate IDs; give each instance its own SNOWFLAKE_WORKER_ID, or use ' +
          'SNOWFLAKE_WORKER_ID_SOURCE=ordinal or etcd',
      ],
    });
  });

  // [variable, good value, how it shows in the config, bad values]
  const table: [string, string, (c: ReturnType<typeof load>['config']) => unknown, unknown, string[]][] = [
    [
      'SNOWFLAKE_GRPC_ADDR',
      '127.0.0.1:0',
      (c) => c.grpcAddr,
      '127.0.0.1:0',
      ['50051', 'localhost:70000', ':50051', ''],
    ],
    ['SNOWFLAKE_GRPC_ADDR', '[::1]:50051', (c) => c.grpcAddr, '[::1]:50051', ['::1:50051']],
    [
      'SNOWFLAKE_METRICS_ADDR',
      'localhost:9100',
      (c) => c.metricsAddr,
      'localhost:9100',
      ['localhost', 'a b:1'],
    ],
    [
      'SNOWFLAKE_DATACENTER_ID',
      '31',
      (c) => c.workerId.datacenterId,
      31,
      ['32', '-1', '1.5', 'one', '0x1', ' 1'],
    ],
    ['SNOWFLAKE_WORKER_ID', '17', workerIdOf, 17, ['32', '-3', '3e1', '']],
    [
      'SNOWFLAKE_EPOCH',
      '2024-01-01T00:00:00Z',
      (c) => c.layout.epochMs,
      Date.UTC(2024, 0, 1),
      ['2020-02-30', 'yesterday', '2020-01-01T00:00:00'],
    ],
    [
      'SNOWFLAKE_EPOCH',
      '2024-01-01T02:00:00+02:00',
      (c) => c.layout.epochMs,
      Date.UTC(2024, 0, 1),
      ['2024-01-01T25:00:00Z'],
    ],
    ['SNOWFLAKE_EPOCH', '2024-01-01', (c) => c.layout.epochMs, Date.UTC(2024, 0, 1), ['2024-13-01']],
    ['SNOWFLAKE_EPOCH', '1288834974657', (c) => c.layout.epochMs, 1288834974657, ['-1', '12.5']],
    ['SNOWFLAKE_TIME_UNIT_MS', '1', (c) => c.layout.timeUnitMs, 1, ['0', '86400001', '1.5']],
    ['SNOWFLAKE_MAX_BATCH_SIZE', '100000', (c) => c.maxBatchSize, 100_000, ['0', '100001', '1e5']],
    ['SNOWFLAKE_GRPC_MAX_CONNECTIONS', '1', (c) => c.grpcLimits.maxConnections, 1, ['0', '1000001', '1e3']],
    [
      'SNOWFLAKE_GRPC_MAX_STREAMS',
      '100000',
      (c) => c.grpcLimits.maxConcurrentStreams,
      100_000,
      ['0', '100001'],
    ],
    [
      'SNOWFLAKE_GRPC_BACKLOG_MIB',
      '1',
      (c) => c.grpcLimits.maxBacklogBytesPerConnection,
      2 ** 20,
      ['0', '1025', '4M'],
    ],
    [
      'SNOWFLAKE_GRPC_TOTAL_BACKLOG_MIB',
      '16384',
      (c) => c.grpcLimits.maxBacklogBytes,
      2 ** 34,
      ['3', '16385'],
    ],
    ['SNOWFLAKE_METRICS_MAX_CONNECTIONS', '10000', (c) => c.metricsMaxConnections, 10_000, ['0', '10001']],
    ['SNOWFLAKE_MAX_CLOCK_BACKWARDS_MS', '0', (c) => c.maxClockBackwardsMs, 0, ['10001', '-1']],
    ['SNOWFLAKE_LOG_LEVEL', 'debug', (c) => c.logLevel, 'debug', ['verbose', 'INFO', '']],
    ['SNOWFLAKE_SHUTDOWN_TIMEOUT_MS', '500', (c) => c.shutdownTimeoutMs, 500, ['0', '600001', 'soon']],
    ['SNOWFLAKE_MAX_CLOCK_SKEW_MS', '50', (c) => c.maxClockSkewMs, 50, ['0', '3600001', '1s']],
    ['SNOWFLAKE_STATE_DIR', '/var/lib/snowflake', (c) => c.stateDir, '/var/lib/snowflake', ['']],
    ['SNOWFLAKE_STATE_DIR', 'data/state', (c) => c.stateDir, path.resolve('data/state'), []],
    ['SNOWFLAKE_RESERVATION_MS', '100', (c) => c.reservationMs, 100, ['99', '60001']],
    ['SNOWFLAKE_MAX_STARTUP_WAIT_MS', '0', (c) => c.maxStartupWaitMs, 0, ['-1', '3600001']],
  ];

  it.each(table.map(([name, good, get, expected]) => [name, good, get, expected] as const))(
    'GIVEN %s=%s THEN it is accepted',
    (name, good, get, expected) => {
      expect(get(load({ [name]: good }).config)).toEqual(expected);
    },
  );

  it.each(table.flatMap(([name, , , , bads]) => bads.map((bad) => [name, bad] as const)))(
    'GIVEN %s=%j THEN boot fails naming the variable, the value and what is allowed',
    (name, bad) => {
      const message = errorOf({ [name]: bad });
      expect(message).toContain(`${name}=${JSON.stringify(bad)}`);
      expect(message).toMatch(/must /);
    },
  );

  it.each([
    [
      'SNOWFLAKE_TIMESTAMP_BITS',
      '40',
      'SNOWFLAKE_SEQUENCE_BITS',
      '13',
      (c: ReturnType<typeof load>['config']) => [c.layout.timestampBits, c.layout.sequenceBits],
      [40, 13],
    ],
    [
      'SNOWFLAKE_DATACENTER_BITS',
      '0',
      'SNOWFLAKE_WORKER_BITS',
      '10',
      (c: ReturnType<typeof load>['config']) => [c.layout.datacenterBits, c.layout.workerBits],
      [0, 10],
    ],
  ] as const)(
    'GIVEN %s=%s and %s=%s summing to 63 THEN the layout is accepted',
    (a, av, b, bv, get, expected) => {
      expect(get(load({ [a]: av, [b]: bv }).config)).toEqual(expected);
    },
  );

  it.each([
    ['SNOWFLAKE_TIMESTAMP_BITS', ['0', '64']],
    ['SNOWFLAKE_DATACENTER_BITS', ['32', '-1']],
    ['SNOWFLAKE_WORKER_BITS', ['32', 'five']],
    ['SNOWFLAKE_SEQUENCE_BITS', ['32', '']],
  ] as const)('GIVEN %s out of range THEN boot fails naming it', (name, bads) => {
    for (const bad of bads) expect(errorOf({ [name]: bad })).toContain(`${name}=${JSON.stringify(bad)}`);
  });

  it('GIVEN worker 32 with 5 worker bits THEN it is an error, not a mask', () => {
    expect(errorOf({ SNOWFLAKE_WORKER_ID: '32' })).toContain(
      'SNOWFLAKE_WORKER_ID="32": must be an integer from 0 to 31',
    );
  });

  it('GIVEN worker 32 with 6 worker bits THEN it is accepted', () => {
    const { config } = load({
      SNOWFLAKE_WORKER_ID: '32',
      SNOWFLAKE_WORKER_BITS: '6',
      SNOWFLAKE_SEQUENCE_BITS: '11',
    });
    expect(workerIdOf(config)).toBe(32);
  });

  it('GIVEN datacenter 4 with 2 datacenter bits THEN the message names both variables', () => {
    const message = errorOf({
      SNOWFLAKE_DATACENTER_ID: '4',
      SNOWFLAKE_DATACENTER_BITS: '2',
      SNOWFLAKE_TIMESTAMP_BITS: '44',
    });
    expect(message).toContain(
      'SNOWFLAKE_DATACENTER_ID="4": must be an integer from 0 to 3 (SNOWFLAKE_DATACENTER_BITS=2)',
    );
  });

  it('GIVEN bits that do not sum to 63 THEN boot fails saying so', () => {
    expect(errorOf({ SNOWFLAKE_SEQUENCE_BITS: '13' })).toContain(
      'SNOWFLAKE_TIMESTAMP_BITS + SNOWFLAKE_DATACENTER_BITS + SNOWFLAKE_WORKER_BITS + SNOWFLAKE_SEQUENCE_BITS must sum to 63; got 41 + 5 + 5 + 13 = 64',
    );
  });

  it('GIVEN an epoch in the future THEN boot fails', () => {
    expect(errorOf({ SNOWFLAKE_EPOCH: '2027-01-01T00:00:00Z' })).toMatch(
      /SNOWFLAKE_EPOCH=.*must not be in the future/,
    );
  });

  it('GIVEN a layout whose ID range already ended THEN boot fails', () => {
    const message = errorOf({
      SNOWFLAKE_EPOCH: '2020-01-01T00:00:00Z',
      SNOWFLAKE_TIMESTAMP_BITS: '30',
      SNOWFLAKE_SEQUENCE_BITS: '23',
    });
    expect(message).toMatch(/ID range ended at 2020-01-13T10:15:41.824Z/);
  });

  it('GIVEN a layout running past year 9999 THEN boot fails', () => {
    expect(errorOf({ SNOWFLAKE_TIMESTAMP_BITS: '51', SNOWFLAKE_SEQUENCE_BITS: '2' })).toMatch(
      /past year 9999/,
    );
  });

  it('GIVEN several bad variables THEN every one is reported at once', () => {
    const message = errorOf({
      SNOWFLAKE_WORKER_ID: 'x',
      SNOWFLAKE_LOG_LEVEL: 'loud',
      SNOWFLAKE_MAX_BATCH_SIZE: '0',
    });
    expect(message).toContain('SNOWFLAKE_WORKER_ID');
    expect(message).toContain('SNOWFLAKE_LOG_LEVEL');
    expect(message).toContain('SNOWFLAKE_MAX_BATCH_SIZE');
  });
});

describe('unknown SNOWFLAKE_* variables', () => {
  it.each([
    ['a missing underscore', 'SNOWFLAKE_WORKERID', '5', 'SNOWFLAKE_WORKER_ID'],
    ['a missing letter', 'SNOWFLAKE_ETCD_ENDPOINT', 'http://127.0.0.1:2379', 'SNOWFLAKE_ETCD_ENDPOINTS'],
    ['two swapped letters', 'SNOWFLAKE_EPCOH', '2024-01-01', 'SNOWFLAKE_EPOCH'],
    ['a guessed name', 'SNOWFLAKE_LOGLEVEL', 'debug', 'SNOWFLAKE_LOG_LEVEL'],
    ['a port variable that is no Kubernetes link', 'SNOWFLAKE_GRPC_PORT', '50051', 'SNOWFLAKE_GRPC_ADDR'],
    ['a Kubernetes link name with a plain value', 'SNOWFLAKE_PORT', '50051', 'SNOWFLAKE_EPOCH'],
  ])(
    'GIVEN %s (%s=%s) THEN boot fails naming it and the closest known name, %s',
    (_what, name, value, closest) => {
      expect(errorOf({ [name]: value })).toContain(`${name}: unknown variable (did you mean ${closest}?)`);
    },
  );

  it('GIVEN several unknown variables next to a bad value THEN every one is reported at once', () => {
    const message = errorOf({
      SNOWFLAKE_WORKERID: '5',
      SNOWFLAKE_STATEDIR: '/x',
      SNOWFLAKE_MAX_BATCH_SIZE: '0',
    });
    expect(message).toContain('SNOWFLAKE_WORKERID: unknown variable (did you mean SNOWFLAKE_WORKER_ID?)');
    expect(message).toContain('SNOWFLAKE_STATEDIR: unknown variable (did you mean SNOWFLAKE_STATE_DIR?)');
    expect(message).toContain('SNOWFLAKE_MAX_BATCH_SIZE="0"');
  });

  it.each([
    ['SNOWFLAKE_SERVICE_HOST', '10.0.0.1'],
    ['SNOWFLAKE_SERVICE_PORT', '50051'],
    ['SNOWFLAKE_SERVICE_PORT_GRPC', '50051'],
    ['SNOWFLAKE_PORT', 'tcp://10.0.0.1:50051'],
    ['SNOWFLAKE_PORT_50051_TCP', 'tcp://10.0.0.1:50051'],
    ['SNOWFLAKE_PORT_50051_TCP_PROTO', 'tcp'],
    ['SNOWFLAKE_PORT_50051_TCP_PORT', '50051'],
    ['SNOWFLAKE_PORT_50051_TCP_ADDR', '10.0.0.1'],
    ['SNOWFLAKE_METRICS_SERVICE_HOST', '10.0.0.2'],
    ['SNOWFLAKE_METRICS_PORT', 'tcp://10.0.0.2:9464'],
    ['SNOWFLAKE_METRICS_PORT_9464_TCP_ADDR', '10.0.0.2'],
    ['SNOWFLAKE_HEALTHCHECK_ADDR', '127.0.0.1:50051'],
    ['SNOWFLAKE_ADDR', '127.0.0.1:50051'],
  ])(
    'GIVEN %s=%s (Kubernetes service links, or read by another program) THEN it is accepted',
    (name, value) => {
      expect(load({ SNOWFLAKE_WORKER_ID: '1', [name]: value })).toMatchObject({ warnings: [] });
    },
  );
});

describe('the default static worker ID', () => {
  it.each<[string, Record<string, string>, boolean]>([
    ['the static source without SNOWFLAKE_WORKER_ID', {}, true],
    ['SNOWFLAKE_WORKER_ID=0', { SNOWFLAKE_WORKER_ID: '0' }, false],
    ['SNOWFLAKE_WORKER_ID=7', { SNOWFLAKE_WORKER_ID: '7' }, false],
    ['the ordinal source', { SNOWFLAKE_WORKER_ID_SOURCE: 'ordinal', HOSTNAME: 'snowflake-0' }, false],
    [
      'the etcd source',
      { SNOWFLAKE_WORKER_ID_SOURCE: 'etcd', SNOWFLAKE_ETCD_ENDPOINTS: 'http://127.0.0.1:2379' },
      false,
    ],
  ])('GIVEN %s THEN defaulted is %p and a warning says so only then', (_what, env, defaulted) => {
    const { config, warnings } = load(env);
    expect(config.workerId.source === 'static' && config.workerId.defaulted).toBe(defaulted);
    expect(warnings).toEqual(defaulted ? [expect.stringContaining('SNOWFLAKE_WORKER_ID is not set')] : []);
  });
});

describe('SNOWFLAKE_WORKER_ID_SOURCE=ordinal', () => {
  it.each([
    ['the hostname suffix', { HOSTNAME: 'snowflake-3' }, 3],
    ['a multi-dash StatefulSet name', { HOSTNAME: 'id-gen-eu-31' }, 31],
    ['SNOWFLAKE_ORDINAL over the hostname', { HOSTNAME: 'snowflake-3', SNOWFLAKE_ORDINAL: '7' }, 7],
    ['SNOWFLAKE_ORDINAL with a plain hostname', { HOSTNAME: 'box', SNOWFLAKE_ORDINAL: '0' }, 0],
  ])('GIVEN %s THEN the worker ID is the ordinal', (_n, env, workerId) => {
    const { config } = load({ SNOWFLAKE_WORKER_ID_SOURCE: 'ordinal', ...env });
    expect(config.workerId).toEqual({ source: 'ordinal', datacenterId: 0, workerId });
  });

  it.each([
    [
      'an ordinal beyond the worker range',
      { HOSTNAME: 'snowflake-32' },
      /ordinal 32 \(from hostname "snowflake-32"\) is beyond the worker range 0 to 31/,
    ],
    [
      'a hostname without -N',
      { HOSTNAME: 'snowflake' },
      /does not end in -N and SNOWFLAKE_ORDINAL is not set/,
    ],
    [
      'SNOWFLAKE_WORKER_ID set as well',
      { HOSTNAME: 'snowflake-1', SNOWFLAKE_WORKER_ID: '1' },
      /SNOWFLAKE_WORKER_ID: must not be set with SNOWFLAKE_WORKER_ID_SOURCE=ordinal/,
    ],
    ['a bad SNOWFLAKE_ORDINAL', { SNOWFLAKE_ORDINAL: 'x' }, /SNOWFLAKE_ORDINAL="x": must be a whole number/],
  ])('GIVEN %s THEN boot fails clearly', (_n, env, message) => {
    expect(errorOf({ SNOWFLAKE_WORKER_ID_SOURCE: 'ordinal', ...env })).toMatch(message);
  });

  it('GIVEN SNOWFLAKE_ORDINAL without the ordinal source THEN boot fails instead of ignoring it', () => {
    expect(errorOf({ SNOWFLAKE_ORDINAL: '2' })).toMatch(/only used with SNOWFLAKE_WORKER_ID_SOURCE=ordinal/);
  });

  it('GIVEN an unknown source THEN boot fails listing the allowed ones', () => {
    expect(errorOf({ SNOWFLAKE_WORKER_ID_SOURCE: 'zookeeper' })).toContain(
      'must be one of static, ordinal, etcd',
    );
  });
});

describe('SNOWFLAKE_WORKER_ID_SOURCE=etcd', () => {
  const etcd = { SNOWFLAKE_WORKER_ID_SOURCE: 'etcd', SNOWFLAKE_ETCD_ENDPOINTS: 'http://127.0.0.1:2379' };

  it('GIVEN only the endpoints THEN the defaults apply (prefix /snowflake/, TTL 10 s, no TLS or auth)', () => {
    const { config } = load(etcd);
    expect(config.workerId).toEqual({
      source: 'etcd',
      datacenterId: 0,
      endpoints: ['http://127.0.0.1:2379'],
      prefix: '/snowflake/',
      leaseTtlSeconds: 10,
      workerBits: DEFAULT_LAYOUT.workerBits,
      maxReservationMs: layoutEndMs(DEFAULT_LAYOUT),
    });
  });

  /** A directory holding empty ca.pem, cert.pem and key.pem (the loader checks only that they can be read). */
  let tls: string;
  beforeAll(() => {
    tls = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-config-tls-'));
    for (const name of ['ca.pem', 'cert.pem', 'key.pem']) fs.writeFileSync(path.join(tls, name), '');
  });
  afterAll(() => {
    fs.rmSync(tls, { recursive: true, force: true });
  });

  it('GIVEN every etcd variable THEN each reaches the config, with the worker bits and end of the layout', () => {
    const { config } = load({
      ...etcd,
      SNOWFLAKE_ETCD_ENDPOINTS: 'https://etcd-0:2379, https://[::1]:2379',
      SNOWFLAKE_ETCD_PREFIX: '/ids/eu/',
      SNOWFLAKE_ETCD_LEASE_TTL_S: '30',
      SNOWFLAKE_ETCD_CA_FILE: path.join(tls, 'ca.pem'),
      SNOWFLAKE_ETCD_CERT_FILE: path.join(tls, 'cert.pem'),
      SNOWFLAKE_ETCD_KEY_FILE: path.join(tls, 'key.pem'),
      SNOWFLAKE_ETCD_USERNAME: 'snowflake',
      SNOWFLAKE_ETCD_PASSWORD: 's3cret',
      SNOWFLAKE_DATACENTER_ID: '7',
      SNOWFLAKE_WORKER_BITS: '6',
      SNOWFLAKE_SEQUENCE_BITS: '11',
    });
    expect(config.workerId).toEqual({
      source: 'etcd',
      datacenterId: 7,
      endpoints: ['https://etcd-0:2379', 'https://[::1]:2379'],
      prefix: '/ids/eu/',
      leaseTtlSeconds: 30,
      tls: {
        caFile: path.join(tls, 'ca.pem'),
        certFile: path.join(tls, 'cert.pem'),
        keyFile: path.join(tls, 'key.pem'),
      },
      auth: { username: 'snowflake', password: 's3cret' },
      workerBits: 6,
      maxReservationMs: layoutEndMs({ ...DEFAULT_LAYOUT, workerBits: 6, sequenceBits: 11 }),
    });
  });

  it.each([
    [
      'no endpoints',
      { SNOWFLAKE_ETCD_ENDPOINTS: undefined },
      /SNOWFLAKE_ETCD_ENDPOINTS: required with SNOWFLAKE_WORKER_ID_SOURCE=etcd/,
    ],
    [
      'an endpoint without a scheme',
      { SNOWFLAKE_ETCD_ENDPOINTS: 'etcd:2379' },
      /SNOWFLAKE_ETCD_ENDPOINTS="etcd:2379": must be a comma-separated list of http:\/\/host:port/,
    ],
    [
      'a prefix without a trailing /',
      { SNOWFLAKE_ETCD_PREFIX: '/ids' },
      /SNOWFLAKE_ETCD_PREFIX="\/ids": must start and end with \//,
    ],
    [
      'a TTL of 0',
      { SNOWFLAKE_ETCD_LEASE_TTL_S: '0' },
      /SNOWFLAKE_ETCD_LEASE_TTL_S="0": must be an integer from 1 to 86400/,
    ],
    ['a TTL beyond a day', { SNOWFLAKE_ETCD_LEASE_TTL_S: '86401' }, /must be an integer from 1 to 86400/],
    [
      'SNOWFLAKE_WORKER_ID as well',
      { SNOWFLAKE_WORKER_ID: '3' },
      /SNOWFLAKE_WORKER_ID: must not be set with SNOWFLAKE_WORKER_ID_SOURCE=etcd/,
    ],
    [
      'a certificate without its key',
      { SNOWFLAKE_ETCD_CA_FILE: '/ca', SNOWFLAKE_ETCD_CERT_FILE: '/c' },
      /give both \(client-certificate auth\) or neither/,
    ],
    [
      'a client certificate without a CA',
      { SNOWFLAKE_ETCD_CERT_FILE: '/c', SNOWFLAKE_ETCD_KEY_FILE: '/k' },
      /SNOWFLAKE_ETCD_CA_FILE: required with SNOWFLAKE_ETCD_CERT_FILE/,
    ],
    [
      'a user without a password',
      { SNOWFLAKE_ETCD_USERNAME: 'u' },
      /SNOWFLAKE_ETCD_USERNAME\/SNOWFLAKE_ETCD_PASSWORD: give both/,
    ],
  ])('GIVEN %s THEN boot fails naming the variable', (_n, env, message) => {
    expect(errorOf({ ...etcd, ...env })).toMatch(message);
  });

  it.each(['SNOWFLAKE_ETCD_CA_FILE', 'SNOWFLAKE_ETCD_CERT_FILE', 'SNOWFLAKE_ETCD_KEY_FILE'])(
    'GIVEN %s names a missing file or a directory THEN boot fails naming the variable and the file',
    (name) => {
      const files = {
        SNOWFLAKE_ETCD_CA_FILE: path.join(tls, 'ca.pem'),
        SNOWFLAKE_ETCD_CERT_FILE: path.join(tls, 'cert.pem'),
        SNOWFLAKE_ETCD_KEY_FILE: path.join(tls, 'key.pem'),
      };
      const missing = path.join(tls, 'missing.pem');
      expect(errorOf({ ...etcd, ...files, [name]: missing })).toContain(
        `${name}=${JSON.stringify(missing)}: cannot read it (ENOENT: no such file or directory`,
      );
      expect(errorOf({ ...etcd, ...files, [name]: tls })).toContain(
        `${name}=${JSON.stringify(tls)}: not a regular file; must be a readable PEM file`,
      );
    },
  );

  it('GIVEN an etcd variable with another source THEN boot fails instead of ignoring it', () => {
    expect(errorOf({ SNOWFLAKE_ETCD_ENDPOINTS: 'http://127.0.0.1:2379' })).toMatch(
      /SNOWFLAKE_ETCD_ENDPOINTS: only used with SNOWFLAKE_WORKER_ID_SOURCE=etcd/,
    );
  });
});

describe('worker-ID sources: each parses its own variables', () => {
  const owned = WORKER_ID_SOURCES.flatMap((source) =>
    Object.keys(source.variables).map((name) => [name, source.name] as const),
  );
  const names = VARIABLE_DOCS.map((d) => d.name);

  it('lists each source in SNOWFLAKE_WORKER_ID_SOURCE, the first as the default', () => {
    const doc = VARIABLE_DOCS.find((d) => d.name === 'SNOWFLAKE_WORKER_ID_SOURCE');
    expect(doc).toMatchObject({ defaultValue: 'static', allowed: 'static, ordinal, etcd' });
    for (const source of WORKER_ID_SOURCES) expect(doc?.description).toContain(`${source.name}: `);
  });

  it("puts every source's variables in the table once, right after SNOWFLAKE_WORKER_ID_SOURCE", () => {
    expect(new Set(names).size).toBe(names.length);
    const at = names.indexOf('SNOWFLAKE_WORKER_ID_SOURCE');
    expect(names.slice(at + 1, at + 1 + owned.length)).toEqual(owned.map(([name]) => name));
    expect(owned.map(([name]) => name)).toEqual(
      expect.arrayContaining(['SNOWFLAKE_ORDINAL', 'SNOWFLAKE_ETCD_ENDPOINTS', 'SNOWFLAKE_ETCD_PASSWORD']),
    );
  });

  /** An environment under which `source` itself is valid. */
  const valid: Record<string, Record<string, string>> = {
    static: { SNOWFLAKE_WORKER_ID: '1' },
    ordinal: { SNOWFLAKE_WORKER_ID_SOURCE: 'ordinal', HOSTNAME: 'snowflake-1' },
    etcd: { SNOWFLAKE_WORKER_ID_SOURCE: 'etcd', SNOWFLAKE_ETCD_ENDPOINTS: 'http://127.0.0.1:2379' },
  };
  /** A value each source variable's schema accepts (whatever the source). */
  const accepted: Record<string, string> = {
    SNOWFLAKE_ETCD_ENDPOINTS: 'http://127.0.0.1:2379',
    SNOWFLAKE_ETCD_PREFIX: '/x/',
    SNOWFLAKE_ETCD_LEASE_TTL_S: '5',
    SNOWFLAKE_ORDINAL: '1',
  };

  it.each(
    WORKER_ID_SOURCES.flatMap((selected) =>
      owned
        .filter(([, owner]) => owner !== selected.name)
        .map(([name, owner]) => [name, owner, selected.name]),
    ),
  )(
    'GIVEN %s (read by the %s source) with the %s source THEN boot fails instead of ignoring it',
    (name, owner, selected) => {
      expect(errorOf({ ...valid[selected], [name]: accepted[name] ?? 'x' })).toContain(
        `${name}: only used with SNOWFLAKE_WORKER_ID_SOURCE=${owner}; remove it or set the source`,
      );
    },
  );

  it.each(Object.entries(valid))(
    'GIVEN a valid %s environment THEN it is accepted as that source',
    (source, env) => {
      expect(load(env).config.workerId.source).toBe(source);
    },
  );

  it('GIVEN an ordinal within 6 worker bits THEN the ordinal source checks it against the layout, not 5 bits', () => {
    const env = { SNOWFLAKE_WORKER_ID_SOURCE: 'ordinal', HOSTNAME: 'snowflake-40' };
    expect(errorOf(env)).toContain(
      'ordinal 40 (from hostname "snowflake-40") is beyond the worker range 0 to 31',
    );
    const { config } = load({ ...env, SNOWFLAKE_WORKER_BITS: '6', SNOWFLAKE_SEQUENCE_BITS: '11' });
    expect(config.workerId).toEqual({ source: 'ordinal', datacenterId: 0, workerId: 40 });
  });

  it("GIVEN a source's problem next to others THEN every one is reported at once", () => {
    const message = errorOf({
      SNOWFLAKE_WORKER_ID_SOURCE: 'etcd',
      SNOWFLAKE_ETCD_USERNAME: 'u',
      SNOWFLAKE_ORDINAL: '1',
      SNOWFLAKE_TLS_CERT_FILE: '/c',
    });
    expect(message).toContain('SNOWFLAKE_ETCD_ENDPOINTS: required with SNOWFLAKE_WORKER_ID_SOURCE=etcd');
    expect(message).toContain('SNOWFLAKE_ETCD_USERNAME/SNOWFLAKE_ETCD_PASSWORD: give both');
    expect(message).toContain('SNOWFLAKE_ORDINAL: only used with SNOWFLAKE_WORKER_ID_SOURCE=ordinal');
    expect(message).toContain('SNOWFLAKE_TLS_CERT_FILE/SNOWFLAKE_TLS_KEY_FILE: give both');
  });
});

describe('SNOWFLAKE_TLS_* (TLS on the gRPC port)', () => {
  const tls = { SNOWFLAKE_TLS_CERT_FILE: '/tls/tls.crt', SNOWFLAKE_TLS_KEY_FILE: '/tls/tls.key' };

  it('GIVEN no TLS variable THEN the port is plaintext (no tls in the config)', () => {
    expect(load({}).config.tls).toBeUndefined();
  });

  it('GIVEN a certificate and its key THEN TLS is on, without client certificates, re-read every 10 s', () => {
    expect(load(tls).config.tls).toEqual({
      certFile: '/tls/tls.crt',
      keyFile: '/tls/tls.key',
      reloadIntervalMs: 10_000,
    });
  });

  it('GIVEN a client CA and a reload interval as well THEN each reaches the config (mutual TLS)', () => {
    const { config } = load({
      ...tls,
      SNOWFLAKE_TLS_CLIENT_CA_FILE: '/tls/ca.crt',
      SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: '100',
      SNOWFLAKE_HEALTHCHECK_CERT_FILE: '/probe/tls.crt',
      SNOWFLAKE_HEALTHCHECK_KEY_FILE: '/probe/tls.key',
    });
    expect(config.tls).toEqual({
      certFile: '/tls/tls.crt',
      keyFile: '/tls/tls.key',
      clientCaFile: '/tls/ca.crt',
      reloadIntervalMs: 100,
    });
  });

  it.each([
    [
      'a certificate without its key',
      { SNOWFLAKE_TLS_CERT_FILE: '/c' },
      /SNOWFLAKE_TLS_CERT_FILE\/SNOWFLAKE_TLS_KEY_FILE: give both \(TLS on the gRPC port\) or neither/,
    ],
    [
      'a key without its certificate',
      { SNOWFLAKE_TLS_KEY_FILE: '/k' },
      /SNOWFLAKE_TLS_CERT_FILE\/SNOWFLAKE_TLS_KEY_FILE: give both/,
    ],
    [
      'a client CA without a server certificate',
      { SNOWFLAKE_TLS_CLIENT_CA_FILE: '/ca' },
      /SNOWFLAKE_TLS_CLIENT_CA_FILE: only used with SNOWFLAKE_TLS_CERT_FILE and SNOWFLAKE_TLS_KEY_FILE/,
    ],
    [
      'a reload interval without TLS',
      { SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: '1000' },
      /SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: only used with SNOWFLAKE_TLS_CERT_FILE/,
    ],
    [
      'a reload interval below 100 ms',
      { ...tls, SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: '99' },
      /SNOWFLAKE_TLS_RELOAD_INTERVAL_MS="99": must be an integer from 100 to 3600000/,
    ],
    [
      'a reload interval above an hour',
      { ...tls, SNOWFLAKE_TLS_RELOAD_INTERVAL_MS: '3600001' },
      /SNOWFLAKE_TLS_RELOAD_INTERVAL_MS="3600001": must be an integer from 100 to 3600000/,
    ],
    [
      'a health-check certificate without its key',
      { ...tls, SNOWFLAKE_TLS_CLIENT_CA_FILE: '/ca', SNOWFLAKE_HEALTHCHECK_CERT_FILE: '/c' },
      /SNOWFLAKE_HEALTHCHECK_CERT_FILE\/SNOWFLAKE_HEALTHCHECK_KEY_FILE: give both or neither/,
    ],
    [
      'a health-check certificate without mutual TLS',
      { ...tls, SNOWFLAKE_HEALTHCHECK_CERT_FILE: '/c', SNOWFLAKE_HEALTHCHECK_KEY_FILE: '/k' },
      /SNOWFLAKE_HEALTHCHECK_CERT_FILE: only used with SNOWFLAKE_TLS_CLIENT_CA_FILE/,
    ],
    [
      'a health-check CA without TLS',
      { SNOWFLAKE_HEALTHCHECK_CA_FILE: '/ca' },
      /SNOWFLAKE_HEALTHCHECK_CA_FILE: only used with SNOWFLAKE_TLS_CERT_FILE/,
    ],
    [
      'a health-check server name without its CA',
      { ...tls, SNOWFLAKE_HEALTHCHECK_SERVER_NAME: 'snowflake.example' },
      /SNOWFLAKE_HEALTHCHECK_SERVER_NAME: only used with SNOWFLAKE_HEALTHCHECK_CA_FILE/,
    ],
    [
      'an empty health-check server name',
      { ...tls, SNOWFLAKE_HEALTHCHECK_CA_FILE: '/ca', SNOWFLAKE_HEALTHCHECK_SERVER_NAME: '' },
      /SNOWFLAKE_HEALTHCHECK_SERVER_NAME=""/,
    ],
  ])('GIVEN %s THEN boot fails naming the variable', (_n, env, message) => {
    expect(errorOf(env)).toMatch(message);
  });
});

describe('gRPC response backlog budgets', () => {
  it('GIVEN a total budget below the per-connection one THEN boot fails naming both', () => {
    expect(errorOf({ SNOWFLAKE_GRPC_BACKLOG_MIB: '8', SNOWFLAKE_GRPC_TOTAL_BACKLOG_MIB: '7' })).toMatch(
      /SNOWFLAKE_GRPC_TOTAL_BACKLOG_MIB="7": must be at least SNOWFLAKE_GRPC_BACKLOG_MIB \(8\)/,
    );
  });
});

describe('helpText', () => {
  it('lists every variable with its default', () => {
    const text = helpText();
    expect(VARIABLE_DOCS.length).toBeGreaterThanOrEqual(14);
    for (const doc of VARIABLE_DOCS) {
      expect(text).toContain(doc.name);
      expect(text).toContain(doc.defaultValue);
    }
  });
});

describe('README configuration table', () => {
  it('documents every variable with its default', () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const escape = (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const doc of VARIABLE_DOCS) {
      expect(readme).toMatch(
        new RegExp(
          String.raw`\|\s*` +
            '`' +
            escape(doc.name) +
            '`' +
            String.raw`\s*\|\s*` +
            (doc.defaultValue === '' ? escape('(unset)') : '`' + escape(doc.defaultValue) + '`'),
        ),
      );
    }
  });
});

describe('secrets in configuration errors', () => {
  const SECRET = 'hunter2';
  const etcdEnv = { SNOWFLAKE_WORKER_ID_SOURCE: 'etcd' };

  it.each<[string, Record<string, string>, string]>([
    [
      'credentials in an etcd endpoint (refused: only http(s)://host:port)',
      { ...etcdEnv, SNOWFLAKE_ETCD_ENDPOINTS: `http://user:${SECRET}@etcd-0:2379` },
      'SNOWFLAKE_ETCD_ENDPOINTS="http://<redacted>@etcd-0:2379": must be a comma-separated list',
    ],
    [
      'credentials in the second endpoint of a list',
      { ...etcdEnv, SNOWFLAKE_ETCD_ENDPOINTS: `http://etcd-0:2379,https://${SECRET}@etcd-1:2379/` },
      'SNOWFLAKE_ETCD_ENDPOINTS="http://etcd-0:2379,https://<redacted>@etcd-1:2379/"',
    ],
    [
      'a password without a user name',
      { ...etcdEnv, SNOWFLAKE_ETCD_ENDPOINTS: 'http://etcd-0:2379', SNOWFLAKE_ETCD_PASSWORD: SECRET },
      'SNOWFLAKE_ETCD_USERNAME/SNOWFLAKE_ETCD_PASSWORD: give both',
    ],
    [
      'a password with another worker-ID source',
      { SNOWFLAKE_ETCD_PASSWORD: SECRET },
      'SNOWFLAKE_ETCD_PASSWORD: only used with SNOWFLAKE_WORKER_ID_SOURCE=etcd',
    ],
    [
      'credentials in an address variable',
      { SNOWFLAKE_GRPC_ADDR: `http://user:${SECRET}@0.0.0.0:50051` },
      'SNOWFLAKE_GRPC_ADDR="http://<redacted>@0.0.0.0:50051": must be host:port',
    ],
  ])('GIVEN %s THEN the error names the variable but never shows the secret', (_name, env, shown) => {
    const message = errorOf(env);
    expect(message).toContain(shown);
    expect(message).not.toContain(SECRET);
  });

  it('every variable whose name says it holds a secret is marked secret (values never shown)', () => {
    const secretLooking = VARIABLE_DOCS.map((d) => d.name).filter((n) =>
      /PASSWORD|PASSPHRASE|SECRET|TOKEN|CREDENTIAL/.test(n),
    );
    expect(secretLooking).toContain('SNOWFLAKE_ETCD_PASSWORD');
    expect([...SECRET_VARIABLES].sort()).toEqual(expect.arrayContaining(secretLooking.sort()));
  });
});
