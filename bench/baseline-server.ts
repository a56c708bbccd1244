/**
 * The NextId baseline: a grpc-js server whose NextId handler does nothing but answer a constant, with
 * the service definition proto-loader builds from the same .proto and options as the real server (so
 * the request/response shapes and their (de)serialisation are identical). No interceptor, no metrics,
 * no issuer: what is left is the floor grpc-js and proto-loader put under every unary call.
 *
 * Run by the benchmark as a child process; listens on BASELINE_GRPC_ADDR (default 127.0.0.1:0) and prints
 * one JSON line `{"msg":"baseline server started","grpcAddr":"host:port"}`. Exits on SIGTERM/SIGINT.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ID_GENERATOR_PROTO, PROTO_ROOT } from './lib/paths';
import { BASELINE_STARTED } from './lib/servers';

/** A valid ID of the default layout (2024-05-01, node 1/2, sequence 3), as the real server's NextId returns it. */
const CONSTANT_RESPONSE = { id: '573478797312139267' };

const packageDefinition = protoLoader.loadSync(ID_GENERATOR_PROTO, {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
});
const service = packageDefinition['snowflake.v1.IdGenerator'] as grpc.ServiceDefinition;

const server = new grpc.Server();
server.addService(service, {
  NextId: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    callback(null, CONSTANT_RESPONSE);
  },
});

const addr = process.env.BASELINE_GRPC_ADDR ?? '127.0.0.1:0';
server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err !== null) {
    process.stderr.write(`cannot listen on ${addr}: ${err.message}\n`);
    process.exit(1);
  }
  const host = addr.slice(0, addr.lastIndexOf(':'));
  process.stdout.write(`${JSON.stringify({ msg: BASELINE_STARTED, grpcAddr: `${host}:${port}` })}\n`);
});

const stop = () => {
  server.tryShutdown(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
