import { checkDescriptorBudget, openFileLimit, RESERVED_DESCRIPTORS } from '../../src/descriptor-budget';
import { InvalidConfigError } from '../../src/errors';

const LIMITS = (soft: string, hard: string) =>
  [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max cpu time              unlimited            unlimited            seconds   ',
    `Max open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     `,
    'Max locked memory         8388608              8388608              bytes     ',
  ].join('\n');

describe('openFileLimit', () => {
  it.each([
    ['a number', 1024, LIMITS('1024', '524288')],
    ['unlimited', undefined, LIMITS('unlimited', 'unlimited')],
    ['no such line', undefined, 'Limit  Soft Limit  Hard Limit  Units\n'],
  ])('GIVEN /proc/self/limits with %s THEN the soft limit read is %p', (_name, expected, text) => {
    expect(openFileLimit(text)).toBe(expected);
  });

  it('reads this process’s own limit on Linux', () => {
    expect(openFileLimit()).toBeGreaterThan(0);
  });
});

describe('checkDescriptorBudget', () => {
  const config = (grpc: number, metrics: number) => ({
    grpcLimits: {
      maxConnections: grpc,
      maxConcurrentStreams: 100,
      maxBacklogBytesPerConnection: 4 * 2 ** 20,
      maxBacklogBytes: 64 * 2 ** 20,
    },
    metricsMaxConnections: metrics,
  });

  it.each([
    ['the defaults at 1024 open files', 512, 16, 1024],
    ['caps that leave exactly the reserve', 1024 - RESERVED_DESCRIPTORS - 16, 16, 1024],
    ['any caps when the limit is unknown', 1_000_000, 10_000, undefined],
  ])('GIVEN %s THEN it accepts', (_name, grpc, metrics, limit) => {
    expect(() => {
      checkDescriptorBudget(config(grpc, metrics), limit);
    }).not.toThrow();
  });

  it('GIVEN caps that leave fewer than the reserve THEN it names both variables, the limit and the most allowed', () => {
    const check = () => {
      checkDescriptorBudget(config(1024 - RESERVED_DESCRIPTORS - 15, 16), 1024);
    };
    expect(check).toThrow(InvalidConfigError);
    expect(check).toThrow(
      'SNOWFLAKE_GRPC_MAX_CONNECTIONS=945 + SNOWFLAKE_METRICS_MAX_CONNECTIONS=16 must be at most 960: ' +
        'the open-file limit of this process is 1024 (ulimit -n)',
    );
  });
});
