import * as descriptor from 'protobufjs/ext/descriptor';
import type { PackageDefinition } from '@grpc/proto-loader';
import { packageDefinition } from '../../src/grpc/proto';
import { mapEntryName, strictDescriptors } from '../../src/grpc/strict-descriptors';

interface Field {
  name: string;
  typeName?: string;
}
interface Message {
  name: string;
  field?: Field[];
  nestedType?: Message[];
  options?: { mapEntry?: boolean };
}
interface File {
  name: string;
  messageType?: Message[];
}

/** Every file descriptor of a package definition, decoded, by file name. */
function files(definition: PackageDefinition): Map<string, File> {
  const byName = new Map<string, File>();
  for (const entry of Object.values(definition)) {
    const protos = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos ?? [];
    for (const bytes of protos) {
      const file = descriptor.FileDescriptorProto.toObject(
        descriptor.FileDescriptorProto.decode(bytes),
      ) as File;
      byName.set(file.name, file);
    }
  }
  return byName;
}

function message(file: File | undefined, name: string): Message | undefined {
  return file?.messageType?.find((m) => m.name === name);
}

describe('mapEntryName (protoc / protobuf-go naming of implicit map entries)', () => {
  it.each([
    ['statuses', 'StatusesEntry'],
    ['error_counts', 'ErrorCountsEntry'],
    ['foo_1bar', 'Foo1barEntry'],
    ['a__b', 'ABEntry'],
    ['x', 'XEntry'],
    ['alreadyCamel', 'AlreadyCamelEntry'],
  ])('GIVEN field %s THEN the entry is %s', (field, entry) => {
    expect(mapEntryName(field)).toBe(entry);
  });
});

describe('strictDescriptors', () => {
  const original = files(packageDefinition());
  const strict = files(strictDescriptors(packageDefinition()));
  const health = 'grpc_health_v1.proto';

  it("GIVEN proto-loader's descriptors THEN the health map entry is named after protobufjs' bug (the cause)", () => {
    const list = message(original.get(health), 'HealthListResponse');
    expect(list?.nestedType?.map((n) => n.name)).toEqual(['Statuses']);
    expect(list?.field?.[0]?.typeName).toBe('Statuses');
  });

  it('THEN the map entry is StatusesEntry and every type reference is fully qualified', () => {
    const list = message(strict.get(health), 'HealthListResponse');
    expect(list?.nestedType?.map((n) => [n.name, n.options?.mapEntry])).toEqual([['StatusesEntry', true]]);
    expect(list?.field?.[0]?.typeName).toBe('.grpc.health.v1.HealthListResponse.StatusesEntry');
    expect(list?.nestedType?.[0]?.field?.map((f) => f.typeName)).toEqual([
      undefined,
      '.grpc.health.v1.HealthCheckResponse',
    ]);
    expect(message(strict.get(health), 'HealthCheckResponse')?.field?.[0]?.typeName).toBe(
      '.grpc.health.v1.HealthCheckResponse.ServingStatus',
    );
  });

  it('THEN it keeps the files and is idempotent', () => {
    expect([...strict.keys()].sort()).toEqual([...original.keys()].sort());
    const twice = files(strictDescriptors(strictDescriptors(packageDefinition())));
    expect(Object.fromEntries(twice)).toEqual(Object.fromEntries(strict));
  });
});
