import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { ProtoGrpcType } from '../generated/id_generator';

/** Folder holding `snowflake/v1/id_generator.proto` (the repository's `proto/`, beside `src/` and `dist/`). */
export const PROTO_ROOT = path.resolve(__dirname, '../../proto');

/** The contract file, relative to {@link PROTO_ROOT}. */
export const ID_GENERATOR_PROTO = 'snowflake/v1/id_generator.proto';

/** Fully qualified service name, as used by health checks and reflection. */
export const SERVICE_NAME = 'snowflake.v1.IdGenerator';

/**
 * proto-loader options shared by the server, the tests and `proto-loader-gen-types`: field names as in
 * the .proto, 64-bit integers as decimal strings (never a JS number), defaults filled in.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT, path.resolve(path.dirname(healthProtoPath), '../..')],
};

let cached: protoLoader.PackageDefinition | undefined;

/** The package definition of our contract plus grpc.health.v1 (so reflection describes both); loaded once. */
export function packageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync([ID_GENERATOR_PROTO, 'health/v1/health.proto'], LOADER_OPTIONS);
  return cached;
}

/** Typed gRPC objects (service definition, client constructor) for `snowflake.v1`. */
export function snowflakeProto(): ProtoGrpcType['snowflake']['v1'] {
  return (grpc.loadPackageDefinition(packageDefinition()) as unknown as ProtoGrpcType).snowflake.v1;
}
