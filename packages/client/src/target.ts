import { isIPv4, isIPv6 } from 'node:net';

/**
 * The forms of server address the client dials, as gRPC names them:
 * - `host-port`: `host:port` (IPv6 as `[::1]:50051`), resolved by grpc-js's default (DNS) resolver; calls
 *   of one channel go to the first address that connects (grpc-js `pick_first`), as before targets;
 * - `dns`: `dns:///host:port` (or `dns:host:port`), re-resolved by grpc-js, calls spread over every
 *   resolved address (`round_robin`);
 * - `ipv4` / `ipv6`: a fixed list `ipv4:10.0.0.1:50051,10.0.0.2:50051`, `ipv6:[fd00::1]:50051,…`, calls
 *   spread over the list (`round_robin`);
 * - `unix`: a Unix domain socket, `unix:/run/snowflake.sock`, `unix:///run/snowflake.sock` or
 *   `unix:relative/path`.
 */
export type TargetScheme = 'host-port' | 'dns' | 'ipv4' | 'ipv6' | 'unix';

/** The accepted forms, for error messages. */
export const ACCEPTED_TARGETS =
  'host:port (IPv6 as [::1]:50051), dns:///host:port, ipv4:a.b.c.d:port[,a.b.c.d:port…], ' +
  'ipv6:[addr]:port[,[addr]:port…], unix:/path or unix:///path; every port 1 to 65535';

/** Longest Unix socket path in bytes (Linux `sun_path` is 108 bytes with its terminating NUL). */
const MAX_UNIX_PATH_BYTES = 107;

/** Host names: dot-separated labels of letters, digits, `-` and `_`, an optional final dot; 253 characters at most. */
const HOST_NAME_RE = /^(?=.{1,254}$)[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/;

/** The scheme of `text`; only meaningful for a text {@link targetProblem} accepts. */
export function targetScheme(text: string): TargetScheme {
  const scheme = /^(dns|ipv4|ipv6|unix):/.exec(text)?.[1];
  return (scheme ?? 'host-port') as TargetScheme;
}

/**
 * True for targets that name several servers behind one channel (`dns:`, `ipv4:`, `ipv6:`): the client
 * gives their channel grpc-js's `round_robin` policy so that calls spread over all of them.
 */
export function spreadsCalls(text: string): boolean {
  const scheme = targetScheme(text);
  return scheme === 'dns' || scheme === 'ipv4' || scheme === 'ipv6';
}

/**
 * Why `text` is not a target the client accepts (see {@link TargetScheme}), e.g. `ipv4 address
 * "10.0.0.1" has no port`; undefined when it is one.
 */
export function targetProblem(text: string): string | undefined {
  if (typeof text !== 'string') return `not a string: ${String(text)}`;
  if (/\s/.test(text)) return 'contains white space';
  switch (targetScheme(text)) {
    case 'dns':
      return dnsProblem(text.slice('dns:'.length));
    case 'ipv4':
      return listProblem(text.slice('ipv4:'.length), 'ipv4', (host) => isIPv4(host), 'a.b.c.d:port');
    case 'ipv6':
      return listProblem(
        text.slice('ipv6:'.length),
        'ipv6',
        (host) => host.startsWith('[') && host.endsWith(']') && isIPv6(host.slice(1, -1)),
        '[addr]:port',
      );
    case 'unix':
      return unixProblem(text.slice('unix:'.length));
    case 'host-port':
      return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)
        ? `the scheme ${text.slice(0, text.indexOf(':'))}: is not a gRPC target scheme`
        : hostPortProblem(text);
  }
}

function dnsProblem(rest: string): string | undefined {
  if (rest.startsWith('//') && !rest.startsWith('///')) {
    // grpc-js only asks such a DNS server with GRPC_NODE_USE_ALTERNATIVE_RESOLVER=true, and else
    // silently uses the system resolver: refused rather than ignored.
    return 'a DNS server authority (dns://server/host:port) is not supported; use dns:///host:port';
  }
  const hostPort = rest.startsWith('///') ? rest.slice(3) : rest;
  return hostPortProblem(hostPort);
}

function hostPortProblem(text: string): string | undefined {
  const split = splitHostPort(text);
  if (split === undefined) return 'expected host:port';
  const { host, port } = split;
  if (host.startsWith('[')) {
    if (!isIPv6(host.slice(1, -1))) return `${host} is not an IPv6 address`;
  } else if (!isIPv4(host) && !HOST_NAME_RE.test(host)) {
    return `${JSON.stringify(host)} is not a host name or IPv4 address`;
  }
  return portProblem(port);
}

function listProblem(
  rest: string,
  scheme: string,
  validHost: (host: string) => boolean,
  form: string,
): string | undefined {
  if (rest === '') return `lists no ${scheme} address`;
  const seen = new Set<string>();
  for (const item of rest.split(',')) {
    const split = splitHostPort(item);
    if (split === undefined || !validHost(split.host)) {
      return `${scheme} address ${JSON.stringify(item)} is not ${form}`;
    }
    const problem = portProblem(split.port);
    if (problem !== undefined) return `${scheme} address ${JSON.stringify(item)}: ${problem}`;
    if (seen.has(item)) return `${scheme} address ${item} is listed twice`;
    seen.add(item);
  }
  return undefined;
}

function unixProblem(rest: string): string | undefined {
  // grpc-js reads unix:///p as /p and unix://x/p as p (the authority x dropped): only the first is meant.
  if (rest.startsWith('//') && !rest.startsWith('///')) {
    return 'unix://… must be unix:///absolute/path (or unix:/absolute/path)';
  }
  const socketPath = rest.startsWith('///') ? rest.slice(2) : rest;
  if (socketPath === '' || socketPath === '/') return 'names no socket path';
  if (Buffer.byteLength(socketPath) > MAX_UNIX_PATH_BYTES) {
    return `socket path is ${Buffer.byteLength(socketPath)} bytes; at most ${MAX_UNIX_PATH_BYTES}`;
  }
  return undefined;
}

/** `host:port` or `[v6]:port` split at the port's colon; undefined when there is no such colon. */
function splitHostPort(text: string): { host: string; port: string } | undefined {
  const m = /^(\[[^\]]*\]|[^:[\]]+):([^:]*)$/.exec(text);
  return m === null ? undefined : { host: m[1] as string, port: m[2] as string };
}

function portProblem(port: string): string | undefined {
  return /^[0-9]{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65_535
    ? undefined
    : `port ${JSON.stringify(port)} is not from 1 to 65535`;
}
