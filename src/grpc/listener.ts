import type * as grpc from '@grpc/grpc-js';
import { lookup } from 'node:dns/promises';
import * as net from 'node:net';
import type { ConnectionTable } from './connections';

/** The listening sockets of the gRPC port. */
export interface GrpcListener {
  /** The bound port (the real one when port 0 was asked for). */
  readonly port: number;
  /** Stops accepting connections; open ones are left to the caller (see ConnectionTable.drain). */
  close(): void;
}

/**
 * Listens on every address `host` resolves to (an IP literal is itself; a name such as `localhost` may
 * give IPv4 and IPv6, as grpc-js's own bindAsync would bind) at `port`, and hands each accepted socket
 * that `table` admits to `server` through a connection injector with `credentials` (insecure now; TLS
 * credentials work the same way). grpc-js has no connection cap of its own, hence this listener.
 * Rejects when no address could be bound.
 */
export async function listenGrpc(
  server: grpc.Server,
  credentials: grpc.ServerCredentials,
  host: string,
  port: number,
  table: ConnectionTable,
): Promise<GrpcListener> {
  const addresses = await lookup(host, { all: true, verbatim: true });
  const injector = server.createConnectionInjector(credentials);
  const servers: net.Server[] = [];
  let boundPort = port;
  let firstError: unknown;
  for (const { address } of addresses) {
    const listener = net.createServer((socket) => {
      if (table.admit(socket)) injector.injectConnection(socket);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen(boundPort, address, () => {
          listener.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      firstError ??= err;
      continue;
    }
    boundPort = (listener.address() as net.AddressInfo).port;
    servers.push(listener);
  }
  if (servers.length === 0) {
    injector.destroy();
    throw firstError instanceof Error ? firstError : new Error(`no address for ${host}`);
  }
  return {
    port: boundPort,
    close() {
      for (const listener of servers) listener.close();
    },
  };
}
