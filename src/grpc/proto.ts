import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ID_GENERATOR_PROTO, PROTO_DIR, PROTO_LOADER_OPTIONS } from '@snowflake-id/client/contract';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { ProtoGrpcType } from '../generated/id_generator';

/** Folder holding `snowflake/v1/id_generator.proto`: the repository's `proto/`, beside `src/` and `dist/`. */
const PROTO_ROOT = path.resolve(__dirname, '../..', PROTO_DIR);

/** The contract's proto-loader options, with the include folders of our contract and grpc.health.v1. */
const LOADER_OPTIONS: protoLoader.Options = {
  ...PROTO_LOADER_OPTIONS,
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
