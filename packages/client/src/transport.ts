import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { spreadsCalls } from './target';

/** A unary method as proto-loader describes it: path, serializer of the request, deserializer of the response. */
export type UnaryMethod<Req, Res> = Pick<
  MethodDefinition<Req, unknown, unknown, Res>,
  'path' | 'requestSerialize' | 'responseDeserialize'
>;

/** Something that makes unary calls: the real {@link Transport}, or a fake in tests. */
export interface UnaryCaller {
  /**
   * Calls `method` on `address` (a gRPC target) with an absolute `deadline` (wall-clock Date) and
   * `metadata` (default none); aborting `signal` cancels the call. Rejects with grpc-js's ServiceError
   * (connection failures arrive as UNAVAILABLE); anything else it throws is a bug, never retried.
   */
  unary<Req, Res>(
    address: string,
    method: UnaryMethod<Req, Res>,
    request: Req,
    deadline: Date,
    signal: AbortSignal,
    metadata?: grpc.Metadata,
  ): Promise<Res>;
}

/**
 * grpc-js service config of the channels of targets that name several servers (`dns:`, `ipv4:`,
 * `ipv6:`): `round_robin` keeps a connection to every resolved address and sends each call to the next
 * ready one, instead of grpc-js's default `pick_first` (every call to one server).
 */
const ROUND_ROBIN_SERVICE_CONFIG = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/**
 * One grpc-js channel per target (`host:port`, `dns:///…`, `ipv4:…`, `unix:…`), created on first use,
 * and unary calls on them as promises. A call rejects with grpc-js's ServiceError (connection failures
 * arrive as UNAVAILABLE).
 */
export class Transport implements UnaryCaller {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly credentials: grpc.ChannelCredentials;
  private readonly channelOptions: grpc.ChannelOptions;

  constructor(credentials: grpc.ChannelCredentials, channelOptions: grpc.ChannelOptions = {}) {
    this.credentials = credentials;
    this.channelOptions = channelOptions;
  }

  /** See {@link UnaryCaller.unary}; a cancelled call rejects with grpc-js's CANCELLED status. */
  unary<Req, Res>(
    address: string,
    method: UnaryMethod<Req, Res>,
    request: Req,
    deadline: Date,
    signal: AbortSignal,
    metadata?: grpc.Metadata,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      if (signal.aborted) {
        reject(cancelled(method.path));
        return;
      }
      const call = this.client(address).makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        // grpc-js may add to the metadata it is given: each attempt gets its own copy.
        metadata?.clone() ?? new grpc.Metadata(),
        { deadline },
        (err, value) => {
          signal.removeEventListener('abort', cancel);
          if (err !== null) reject(err);
          else if (value === undefined) reject(new Error(`${method.path}: empty response`));
          else resolve(value);
        },
      );
      const cancel = () => {
        call.cancel();
      };
      signal.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Closes every channel; later calls would open new ones, so stop calling first. */
  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private client(address: string): grpc.Client {
    let client = this.clients.get(address);
    if (client === undefined) {
      const options =
        spreadsCalls(address) && this.channelOptions['grpc.service_config'] === undefined
          ? { ...this.channelOptions, 'grpc.service_config': ROUND_ROBIN_SERVICE_CONFIG }
          : this.channelOptions;
      client = new grpc.Client(address, this.credentials, options);
      this.clients.set(address, client);
    }
    return client;
  }
}

/** The ServiceError grpc-js gives a call cancelled before it was sent. */
function cancelled(path: string): grpc.ServiceError {
  return Object.assign(new Error(`${grpc.status.CANCELLED} CANCELLED: ${path} not sent: cancelled`), {
    code: grpc.status.CANCELLED,
    details: `${path} not sent: cancelled`,
    metadata: new grpc.Metadata(),
  });
}
