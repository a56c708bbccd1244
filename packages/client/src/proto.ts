import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import {
  ID_GENERATOR_PROTO,
  PROTO_DIR,
  PROTO_LOADER_OPTIONS,
  SERVICE_NAME,
  type MethodName,
} from './contract';
import type { DecodeIdResponse, GetInfoResponse, NextIdResponse } from './messages';
import type { UnaryMethod } from './transport';

/** The unary methods the client calls, typed by what it sends and reads. */
export interface ClientMethods {
  readonly NextId: UnaryMethod<Record<string, never>, NextIdResponse>;
  readonly BatchIds: UnaryMethod<{ count: number }, unknown>;
  readonly DecodeId: UnaryMethod<{ id: string }, DecodeIdResponse>;
  readonly GetInfo: UnaryMethod<Record<string, never>, GetInfoResponse>;
}

let cached: ClientMethods | undefined;

/**
 * The methods, from the proto file the package ships (in `proto/` at the package root, beside `dist/`
 * and `src/`); loaded on first use.
 */
export function clientMethods(): ClientMethods {
  if (cached === undefined) {
    const definition = protoLoader.loadSync(ID_GENERATOR_PROTO, {
      ...PROTO_LOADER_OPTIONS,
      includeDirs: [path.resolve(__dirname, '..', PROTO_DIR)],
    });
    const service = definition[SERVICE_NAME] as protoLoader.ServiceDefinition;
    cached = {
      NextId: method(service, 'NextId'),
      BatchIds: method(service, 'BatchIds'),
      DecodeId: method(service, 'DecodeId'),
      GetInfo: method(service, 'GetInfo'),
    };
  }
  return cached;
}

/** A method of a loaded service, typed by what the client sends and reads (the proto says so; the loader cannot). */
function method<Req, Res>(service: protoLoader.ServiceDefinition, name: MethodName): UnaryMethod<Req, Res> {
  const found = service[name];
  if (found === undefined) throw new Error(`the loaded proto has no method ${name}`);
  return found as unknown as UnaryMethod<Req, Res>;
}
