import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as path from 'node:path';
import { packageDefinition, snowflakeProto } from '../../src/grpc/proto';
import type { IdGeneratorClient } from '../../src/generated/snowflake/v1/IdGenerator';

/**
 * A real grpc-js client for snowflake.v1.IdGenerator built from the .proto (not from server code paths);
 * plaintext unless `credentials` are given (e.g. grpc.credentials.createSsl for a TLS port).
 */
export function idGeneratorClient(
  port: number,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): IdGeneratorClient {
  return new (snowflakeProto().IdGenerator)(`127.0.0.1:${port}`, credentials, options);
}

/** Outcome of one unary call: either a response or the error status. */
export type CallResult<T> = { ok: true; value: T } | { ok: false; error: grpc.ServiceError };

/** Calls a unary method and resolves with its response or error (never rejects). */
export function unaryCall<Res>(
  client: grpc.Client,
  method: string,
  request: object,
  options: grpc.CallOptions = {},
): Promise<CallResult<Res>> {
  type Callback = (error: grpc.ServiceError | null, value: Res) => void;
  const fn = (client as unknown as Record<string, ((...args: unknown[]) => unknown) | undefined>)[method];
  if (fn === undefined) throw new Error(`no method ${method}`);
  return new Promise((resolve) => {
    const callback: Callback = (error, value) => {
      resolve(error ? { ok: false, error } : { ok: true, value });
    };
    fn.call(client, request, options, callback);
  });
}

/** Calls a unary method and returns its response, throwing on an error status. */
export async function unaryOk<Res>(client: grpc.Client, method: string, request: object): Promise<Res> {
  const r = await unaryCall<Res>(client, method, request);
  if (!r.ok) throw new Error(`${method} failed: ${r.error.code} ${r.error.details}`);
  return r.value;
}

/** Sends raw request bytes to `path` and resolves with the outcome (response bytes or error). */
export function rawCall(port: number, methodPath: string, bytes: Buffer): Promise<CallResult<Buffer>> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      methodPath,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      (error, value) => {
        client.close();
        resolve(error ? { ok: false, error } : { ok: true, value: value as Buffer });
      },
    );
  });
}

type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** grpc.health.v1.Health/Check for `service`; resolves with the status name or the error code. */
export async function healthCheck(port: number, service: string): Promise<HealthStatus | grpc.status> {
  const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as {
    grpc: { health: { v1: { Health: typeof grpc.Client } } };
  };
  const client = new proto.grpc.health.v1.Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const r = await unaryCall<{ status: HealthStatus }>(client, 'Check', { service });
  client.close();
  return r.ok ? r.value.status : r.error.code;
}

/** Lists services through grpc.reflection.v1 ServerReflectionInfo, as grpcurl does. */
export function reflectionListServices(port: number): Promise<string[]> {
  const protoFile = path.join(
    path.dirname(require.resolve('@grpc/reflection/package.json')),
    'build/proto/grpc/reflection/v1/reflection.proto',
  );
  const def = protoLoader.loadSync(protoFile, { keepCase: true, defaults: true, oneofs: true });
  const proto = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: typeof grpc.Client } } };
  };
  const client = new proto.grpc.reflection.v1.ServerReflection(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  );
  return new Promise((resolve, reject) => {
    const stream = (
      client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, unknown> }
    ).ServerReflectionInfo();
    stream.on('data', (msg: { list_services_response?: { service: { name: string }[] } }) => {
      resolve((msg.list_services_response?.service ?? []).map((s) => s.name));
      stream.end();
      client.close();
    });
    stream.on('error', (err) => {
      client.close();
      reject(err);
    });
    stream.write({ list_services: '' });
  });
}
