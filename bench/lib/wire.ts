import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';

/** Method paths of snowflake.v1.IdGenerator. */
export const NEXT_ID_PATH = '/snowflake.v1.IdGenerator/NextId';
export const BATCH_IDS_PATH = '/snowflake.v1.IdGenerator/BatchIds';

/** Callback of {@link Transport.call}: the response message bytes, or what went wrong. */
export type RawCallback = (error: string | null, response: Buffer | undefined) => void;

/** A unary gRPC caller that sends and receives raw message bytes; responses are decoded by the caller. */
export interface Transport {
  /** `http2`: the lean client below; `grpc-js`: a grpc-js Client with identity (de)serializers. */
  readonly kind: TransportKind;
  /** Resolves once connected (at most `timeoutMs`). */
  ready(timeoutMs?: number): Promise<void>;
  /** One unary call of `methodPath` with `request` as the serialized request message. */
  call(methodPath: string, request: Buffer, callback: RawCallback): void;
  close(): void;
}

export type TransportKind = 'http2' | 'grpc-js';
export const TRANSPORT_KINDS: readonly TransportKind[] = ['http2', 'grpc-js'];

/** A transport of `kind` to `addr` (`host:port`), on a connection of its own. */
export function connect(kind: TransportKind, addr: string): Transport {
  return kind === 'http2' ? http2Transport(addr) : grpcJsTransport(addr);
}

/**
 * Flow-control window the lean client grants the server, per stream and per connection, in bytes: large
 * enough that several 80 kB BatchIds responses are never held back waiting for WINDOW_UPDATE frames.
 */
const CLIENT_WINDOW_BYTES = 16 * 2 ** 20;

/**
 * gRPC unary calls straight on node:http2 (request framing, status from trailers or trailers-only
 * headers, response framing checks) without grpc-js's client stack. A grpc-js client spends about as
 * much CPU per call as the server it calls; this one spends far less, so on a 2-core machine the
 * server, not the client, is what a NextId figure measures.
 */
function http2Transport(addr: string): Transport {
  const session = http2.connect(`http://${addr}`, {
    settings: { initialWindowSize: CLIENT_WINDOW_BYTES, enablePush: false },
  });
  let sessionError: string | undefined;
  session.on('error', (err: Error) => {
    sessionError = err.message;
  });
  const connected = new Promise<void>((resolve, reject) => {
    session.once('connect', () => {
      session.setLocalWindowSize(CLIENT_WINDOW_BYTES);
      resolve();
    });
    session.once('error', reject);
  });
  connected.catch(() => undefined);
  let lastRequest: Buffer | undefined;
  let lastFramed: Buffer = Buffer.alloc(0);
  return {
    kind: 'http2',
    ready: (timeoutMs = 10_000) => withTimeout(connected, timeoutMs, `connecting to ${addr}`),
    call(methodPath, request, callback) {
      if (request !== lastRequest) {
        lastRequest = request;
        lastFramed = frameMessage(request);
      }
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request({
          ':method': 'POST',
          ':path': methodPath,
          'content-type': 'application/grpc',
          te: 'trailers',
        });
      } catch (err) {
        callback(sessionError ?? (err instanceof Error ? err.message : String(err)), undefined);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let grpcStatus: string | undefined;
      let grpcMessage: string | undefined;
      let streamError: string | undefined;
      const takeStatus = (headers: http2.IncomingHttpHeaders) => {
        const status = headers['grpc-status'];
        if (status !== undefined) {
          grpcStatus = String(status);
          grpcMessage = headers['grpc-message'] === undefined ? undefined : String(headers['grpc-message']);
        }
      };
      stream.on('response', takeStatus);
      stream.on('trailers', takeStatus);
      stream.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
      });
      stream.on('error', (err: Error) => {
        streamError = err.message;
      });
      stream.on('close', () => {
        if (grpcStatus !== '0') {
          const why = streamError ?? sessionError ?? `status ${grpcStatus ?? 'missing'}`;
          callback(
            `${why}${grpcMessage === undefined ? '' : ` ${decodeURIComponent(grpcMessage)}`}`,
            undefined,
          );
          return;
        }
        const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
        if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
          callback('response is not one uncompressed gRPC message', undefined);
          return;
        }
        callback(null, body.subarray(5));
      });
      stream.end(lastFramed);
    },
    close() {
      session.close();
    },
  };
}

/** gRPC length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length, the bytes. */
function frameMessage(message: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(5 + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  message.copy(framed, 5);
  return framed;
}

const identity = (b: Buffer): Buffer => b;

/** A grpc-js Client (makeUnaryRequest with identity serializers), as an application would call us. */
function grpcJsTransport(addr: string): Transport {
  const client = new grpc.Client(addr, grpc.credentials.createInsecure(), {
    // A connection of its own, not one shared through grpc-js's global subchannel pool.
    'grpc.use_local_subchannel_pool': 1,
    // The same window as the lean client (grpc-js's default is 64 kB, less than one 80 kB response).
    'grpc-node.flow_control_window': CLIENT_WINDOW_BYTES,
  });
  return {
    kind: 'grpc-js',
    ready: (timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        client.waitForReady(Date.now() + timeoutMs, (err) => {
          if (err) reject(err);
          else resolve();
        });
      }),
    call(methodPath, request, callback) {
      client.makeUnaryRequest<Buffer, Buffer>(methodPath, identity, identity, request, (err, response) => {
        if (err) callback(`status ${err.code} ${err.details}`, undefined);
        else callback(null, response);
      });
    },
    close() {
      client.close();
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`${what}: no answer within ${ms} ms`));
      }, ms);
    }),
  ]).finally(() => {
    clearTimeout(timer);
  });
}

/** The empty NextIdRequest. */
export const NEXT_ID_REQUEST = Buffer.alloc(0);

/** `BatchIdsRequest { uint32 count = 1; }`: tag 0x08, then `count` as a varint. */
export function encodeBatchIdsRequest(count: number): Buffer {
  const bytes = [0x08];
  for (let v = count; ; v >>>= 7) {
    if (v < 0x80) {
      bytes.push(v);
      break;
    }
    bytes.push((v & 0x7f) | 0x80);
  }
  return Buffer.from(bytes);
}

/** `NextIdResponse { fixed64 id = 1; }` as a bigint: tag 0x09 then 8 little-endian bytes; undefined if not that shape. */
export function decodeNextIdResponse(buf: Buffer): bigint | undefined {
  return buf.length === 9 && buf[0] === 0x09 ? buf.readBigUInt64LE(1) : undefined;
}

/** What {@link scanBatchIdsResponse} found in one response. */
export interface PackedScan {
  /** Number of IDs. */
  readonly count: number;
  /** True when every ID is greater than the one before it (so no ID repeats within the response). */
  readonly ascending: boolean;
  /**
   * Byte offsets of the first ID of each run of consecutive IDs (next = previous + 1), then the offset
   * just past the last ID. A batch spanning several ticks has one run per tick, and concurrent batches
   * interleave their ticks, so it is runs, not whole responses, that must never overlap.
   */
  readonly runStarts: readonly number[];
}

/**
 * Walks `BatchIdsResponse { repeated fixed64 ids = 1 [packed]; }` without creating a bigint per ID:
 * every ID is read as two little-endian 32-bit halves and compared with the previous one. Returns
 * undefined when the bytes are not exactly one packed field 1 whose length is a multiple of 8.
 */
export function scanBatchIdsResponse(buf: Buffer): PackedScan | undefined {
  if (buf.length === 0) return { count: 0, ascending: true, runStarts: [0] };
  if (buf[0] !== 0x0a) return undefined;
  let length = 0;
  let offset = 1;
  for (let shift = 0; ; shift += 7) {
    const b = buf[offset++];
    if (b === undefined || shift > 28) return undefined;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (offset + length !== buf.length || length % 8 !== 0 || length === 0) return undefined;
  let ascending = true;
  const runStarts = [offset];
  // A DataView reads a 32-bit half in about a ns; Buffer.readUInt32LE takes several.
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  let prevHi = view.getUint32(offset + 4, true);
  let prevLo = view.getUint32(offset, true);
  for (let at = offset + 8; at < buf.length; at += 8) {
    const lo = view.getUint32(at, true);
    const hi = view.getUint32(at + 4, true);
    if (hi === prevHi ? lo !== prevLo + 1 : !(hi === prevHi + 1 && lo === 0 && prevLo === 0xffffffff)) {
      runStarts.push(at);
      if (hi < prevHi || (hi === prevHi && lo <= prevLo)) ascending = false;
    }
    prevHi = hi;
    prevLo = lo;
  }
  runStarts.push(buf.length);
  return { count: length / 8, ascending, runStarts };
}
