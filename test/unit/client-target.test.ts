import { IdClientError } from '../../packages/client/src/errors';
import { resolveClientOptions } from '../../packages/client/src/options';
import {
  ACCEPTED_TARGETS,
  spreadsCalls,
  targetProblem,
  targetScheme,
  type TargetScheme,
} from '../../packages/client/src/target';

describe('gRPC targets the client accepts', () => {
  it.each<[string, TargetScheme, boolean]>([
    ['127.0.0.1:50051', 'host-port', false],
    ['[::1]:50051', 'host-port', false],
    ['snowflake-0.snowflake-headless:50051', 'host-port', false],
    ['snowflake-headless.default.svc.cluster.local.:1', 'host-port', false],
    ['dns:///snowflake-headless:50051', 'dns', true],
    ['dns:snowflake-headless:50051', 'dns', true],
    ['dns:///127.0.0.1:65535', 'dns', true],
    ['dns:///[::1]:50051', 'dns', true],
    ['ipv4:127.0.0.1:50051', 'ipv4', true],
    ['ipv4:10.0.0.1:50051,10.0.0.2:50051,10.0.0.3:50052', 'ipv4', true],
    ['ipv6:[::1]:50051', 'ipv6', true],
    ['ipv6:[fd00::1]:50051,[fd00::2]:50051', 'ipv6', true],
    ['unix:/run/snowflake/grpc.sock', 'unix', false],
    ['unix:///run/snowflake/grpc.sock', 'unix', false],
    ['unix:grpc.sock', 'unix', false],
  ])('GIVEN %s THEN it is accepted as %s (calls spread over servers: %s)', (text, scheme, spreads) => {
    expect(targetProblem(text)).toBeUndefined();
    expect(targetScheme(text)).toBe(scheme);
    expect(spreadsCalls(text)).toBe(spreads);
  });

  it.each<[string, string]>([
    ['localhost', 'expected host:port'],
    ['127.0.0.1', 'expected host:port'],
    [':50051', 'expected host:port'],
    ['host:port', 'port "port" is not from 1 to 65535'],
    ['127.0.0.1:0', 'port "0" is not from 1 to 65535'],
    ['127.0.0.1:65536', 'port "65536" is not from 1 to 65535'],
    ['[::1]', 'expected host:port'],
    ['[zz::1]:1', '[zz::1] is not an IPv6 address'],
    ['::1:50051', 'expected host:port'],
    ['bad..name:1', '"bad..name" is not a host name or IPv4 address'],
    ['http://host:1', 'the scheme http: is not a gRPC target scheme'],
    ['dns:///host', 'expected host:port'],
    [
      'dns://8.8.8.8/host:1',
      'a DNS server authority (dns://server/host:port) is not supported; use dns:///host:port',
    ],
    ['ipv4:', 'lists no ipv4 address'],
    ['ipv4:127.0.0.1', 'ipv4 address "127.0.0.1" is not a.b.c.d:port'],
    ['ipv4:host:1', 'ipv4 address "host:1" is not a.b.c.d:port'],
    ['ipv4:10.0.0.1:1,', 'ipv4 address "" is not a.b.c.d:port'],
    ['ipv4:10.0.0.1:0', 'ipv4 address "10.0.0.1:0": port "0" is not from 1 to 65535'],
    ['ipv4:10.0.0.1:1,10.0.0.1:1', 'ipv4 address 10.0.0.1:1 is listed twice'],
    ['ipv6:::1', 'ipv6 address "::1" is not [addr]:port'],
    ['ipv6:[127.0.0.1]:1', 'ipv6 address "[127.0.0.1]:1" is not [addr]:port'],
    ['unix:', 'names no socket path'],
    ['unix:///', 'names no socket path'],
    ['unix://host/run/grpc.sock', 'unix://… must be unix:///absolute/path (or unix:/absolute/path)'],
    [`unix:/${'x'.repeat(107)}`, 'socket path is 108 bytes; at most 107'],
    ['127.0.0.1: 1', 'contains white space'],
    [' dns:///host:1', 'contains white space'],
  ])('GIVEN %j THEN it is refused: %s', (text, problem) => {
    expect(targetProblem(text)).toBe(problem);
  });

  it('createIdClient names the refused address, why, and every accepted form', () => {
    let caught: unknown;
    try {
      resolveClientOptions({ addresses: ['127.0.0.1:50051', 'ipv4:10.0.0.1'] });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(IdClientError);
    expect(caught).toMatchObject({
      code: 'INVALID_OPTIONS',
      message:
        'addresses: "ipv4:10.0.0.1" is not a server address (ipv4 address "10.0.0.1" is not a.b.c.d:port); ' +
        `accepted: ${ACCEPTED_TARGETS}`,
    });
    expect(ACCEPTED_TARGETS).toContain('dns:///host:port');
    expect(ACCEPTED_TARGETS).toContain('unix:///path');
  });
});
