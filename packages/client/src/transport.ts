import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';

/** A unary method as proto-loader describes it: path, serializer of the request, deserializer of the response. */
export type UnaryMethod<Req, Res> = Pick<
  MethodDefinition<Req, unknown, unknown, Res>,
  'path' | 'requestSerialize' | 'responseDeserialize'
>;

/** Something that makes unary calls: the real {@link Transport}, or a fake in tests. */
export interface UnaryCaller {
  /**
   * Calls `method` on `address` with an absolute `deadline` (wall-clock Date); aborting `signal` cancels
   * the call. Rejects with grpc-js's ServiceError (connection failures arrive as UNAVAILABLE).
   */
  unary<Req, Res>(
    address: string,
    method: UnaryMethod<Req, Res>,
    request: Req,
    deadline: Date,
    signal: AbortSignal,
  ): Promise<Res>;
}

/**
 * One grpc-js channel per `host:port`, created on first use, and unary calls on them as promises. A call
 * rejects with grpc-js's ServiceError (connection failures arrive as UNAVAILABLE).
 */
export class Transport implements UnaryCaller {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly credentials: grpc.ChannelCredentials;
  private readonly channelOptions: grpc.ChannelOptions;

  constructor(credentials: grpc.ChannelCredentials, channelOptions: grpc.ChannelOptions = {}) {
    this.credentials = credentials;
    this.channelOptions = channelOptions;
  }

  /** See {@link UnaryCaller.unary}; a cancelled call rejects with CANCELLED. */
  unary<Req, Res>(
    address: string,
    method: UnaryMethod<Req, Res>,
    request: Req,
    deadline: Date,
    signal: AbortSignal,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      if (signal.aborted) {
        reject(new Error('call not started: the client is closed'));
        return;
      }
      const call = this.client(address).makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        new grpc.Metadata(),
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
      client = new grpc.Client(address, this.credentials, this.channelOptions);
      this.clients.set(address, client);
    }
    return client;
  }
}
