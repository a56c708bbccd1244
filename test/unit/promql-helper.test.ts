import * as path from 'node:path';
import { documentedMetrics, metricNames } from '../helpers/promql';

describe('metricNames (test helper)', () => {
  it.each<[string, string[]]>([
    ['up == 0', ['up']],
    ['snowflake_serving{job=~"$job", instance=~"a|b"} == 0', ['snowflake_serving']],
    ['increase(snowflake_clock_backwards_total[5m]) > 0', ['snowflake_clock_backwards_total']],
    ['rate(x_total[$__rate_interval]) offset 1h', ['x_total']],
    [
      'histogram_quantile(0.99, sum by (le, grpc_method) (rate(grpc_server_handling_seconds_bucket{a="b"}[5m])))',
      ['grpc_server_handling_seconds_bucket'],
    ],
    ['sum by (grpc_code) (rate(a[5m])) / ignoring(grpc_code) group_left sum(rate(b[5m]))', ['a', 'b']],
    ['x > 0.5 or x < -0.5', ['x']],
    ['snowflake_time_remaining_seconds < 365 * 24 * 3600 and 1e9 > 2', ['snowflake_time_remaining_seconds']],
    ['label_replace(m, "dst", "$1", "src", "(.*)")', ['m']],
    ['abs (m) > bool 1', ['m']],
  ])('%s → %j', (expr, expected) => {
    expect(metricNames(expr)).toEqual(expected);
  });
});

describe('documentedMetrics (test helper)', () => {
  const known = documentedMetrics(path.resolve(__dirname, '../../README.md'), ['extra_metric']);

  it.each([
    ['snowflake_ids_generated_total', true],
    ['grpc_server_handling_seconds_bucket', true],
    ['grpc_server_handled_total_bucket', false],
    ['process_cpu_seconds_total', true],
    ['extra_metric', true],
    ['snowflake_typo_total', false],
  ])('%s → %s', (name, expected) => {
    expect(known(name)).toBe(expected);
  });
});
