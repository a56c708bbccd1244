import { status } from '@grpc/grpc-js';
import { IdClientError, statusName, type AttemptFailure } from '../errors';

/**
 * One line saying why a call failed, each fact once: which address answered what (gRPC status, the
 * server's code, its message), or could not be reached, or did not answer in time. "Every server
 * refused" only when several addresses were tried and each answered with a refusal.
 */
export function describeFailure(err: unknown): string {
  if (!(err instanceof IdClientError)) return err instanceof Error ? err.message : String(err);
  const last = err.attempts.at(-1);
  if (last === undefined) return err.message;
  switch (err.code) {
    case 'INVALID_ARGUMENT':
    case 'SERVER_ERROR':
      return answered(last);
    case 'ALL_SERVERS_UNAVAILABLE':
    case 'DEADLINE_EXCEEDED':
      return exhausted(err.attempts);
    default:
      return err.message;
  }
}

/** How one attempt ended, as a phrase about its address. */
function outcome(f: AttemptFailure): { kind: 'refused' | 'unreachable' | 'timeout'; text: string } {
  // Connection failures come from grpc-js with no server code; the service's refusals always carry one.
  if (f.serverCode !== undefined) return { kind: 'refused', text: answered(f) };
  if (f.grpcCode === status.DEADLINE_EXCEEDED) {
    return { kind: 'timeout', text: `${f.address} did not answer in time` };
  }
  return { kind: 'unreachable', text: `${f.address} could not be reached: ${connectionError(f.details)}` };
}

/** `<address> answered <STATUS> (<SERVER_CODE>): <message>`, the server's code stated once. */
function answered(f: AttemptFailure): string {
  const grpcName = statusName(f.grpcCode);
  const code = f.serverCode !== undefined && f.serverCode !== grpcName ? ` (${f.serverCode})` : '';
  // The service prefixes its details with its code: already said above.
  const details = f.serverCode === undefined ? f.details : f.details.replace(`${f.serverCode}: `, '');
  return `${f.address} answered ${grpcName}${code}: ${details}`;
}

/** The last outcome of each address, summarised: the call's retries and deadline ran out. */
function exhausted(attempts: readonly AttemptFailure[]): string {
  const perAddress = new Map<string, AttemptFailure>();
  for (const f of attempts) perAddress.set(f.address, f);
  const outcomes = [...perAddress.values()].map(outcome);
  const tries = `${attempts.length} attempt${attempts.length === 1 ? '' : 's'}`;
  const [only] = outcomes;
  if (outcomes.length === 1 && only !== undefined) return `${only.text} (${tries})`;
  const all = (kind: string) => outcomes.every((o) => o.kind === kind);
  const what = all('refused')
    ? 'every server refused'
    : all('unreachable')
      ? 'no server could be reached'
      : 'no server could serve the call';
  return `${what}: ${outcomes.map((o) => o.text).join('; ')} (${tries})`;
}

/**
 * grpc-js's connection error as one short line: without its wrapping ("No connection established. Last
 * error: Error: …. Resolution note: "), its timestamp, and OpenSSL's error-stack location.
 */
export function connectionError(details: string): string {
  const text = details
    .replace(/^No connection established\. Last error: /, '')
    .replace(/^Error( \[[A-Z_0-9]+\])?: /, '')
    .replace(/\.?\s*Resolution note:.*$/s, '')
    .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)$/, '')
    .replace(/\s+/g, ' ')
    .trim();
  // e.g. "803C0A40AD7F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate
  // required:../deps/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116"
  const openssl = /^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):[^:]*:\d+:?(.*)$/.exec(text);
  if (openssl !== null) {
    const extra = (openssl[2] ?? '').trim();
    return `TLS: ${openssl[1] ?? ''}${extra === '' ? '' : ` (${extra})`}`;
  }
  return text === '' ? 'no connection' : text;
}
