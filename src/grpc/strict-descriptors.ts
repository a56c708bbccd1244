import type {
  AnyDefinition,
  EnumTypeDefinition,
  MessageTypeDefinition,
  PackageDefinition,
} from '@grpc/proto-loader';
import * as descriptor from 'protobufjs/ext/descriptor';

/** The parts of google.protobuf.*DescriptorProto that are repaired here (protobufjs `toObject` shape). */
interface FieldProto {
  name?: string;
  typeName?: string;
}
interface MessageProto {
  name?: string;
  field?: FieldProto[];
  extension?: FieldProto[];
  nestedType?: MessageProto[];
  enumType?: { name?: string }[];
  options?: { mapEntry?: boolean };
}
interface FileProto {
  name?: string;
  package?: string;
  dependency?: string[];
  messageType?: MessageProto[];
  enumType?: { name?: string }[];
  extension?: FieldProto[];
  service?: { method?: { inputType?: string; outputType?: string }[] }[];
}

/**
 * A copy of `definition` whose `fileDescriptorProtos` (what `@grpc/reflection` serves) load in strict
 * protobuf runtimes (protobuf-go, hence grpcurl; the C++ runtime behind Python).
 *
 * proto-loader builds them with protobufjs' `Root#toDescriptor`, which names the implicit entry
 * message of a map field after the field with a capital letter (`statuses` → `Statuses`) where every
 * protobuf runtime requires `StatusesEntry` ("map_entry should not be set explicitly", "incorrect
 * implicit map entry name"), and writes type references relative to their scope. Here map entries get
 * their standard names, every type reference is made fully qualified (resolved innermost scope first,
 * as protoc does) and files referring to another file list it as a dependency. Anything else is kept.
 */
export function strictDescriptors(definition: PackageDefinition): PackageDefinition {
  const repaired = new Map<Buffer, Buffer>();
  const originals = new Set<Buffer>();
  for (const entry of Object.values(definition))
    for (const bytes of fileDescriptors(entry)) originals.add(bytes);
  const files = [...originals].map(
    (bytes) =>
      descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(bytes)) as FileProto,
  );
  for (const file of files) for (const message of file.messageType ?? []) nameMapEntries(message);
  const symbols = symbolFiles(files);
  [...originals].forEach((bytes, i) => {
    const file = files[i] as FileProto;
    qualifyReferences(file, symbols);
    const message = descriptor.FileDescriptorProto.fromObject(file);
    repaired.set(bytes, Buffer.from(descriptor.FileDescriptorProto.encode(message).finish()));
  });
  return Object.fromEntries(
    Object.entries(definition).map(([name, entry]) => [
      name,
      isTypeDefinition(entry)
        ? { ...entry, fileDescriptorProtos: entry.fileDescriptorProtos.map((b) => repaired.get(b) ?? b) }
        : entry,
    ]),
  );
}

/** Message and enum definitions carry the descriptors of their files; service definitions do not. */
function isTypeDefinition(
  entry: AnyDefinition,
): entry is MessageTypeDefinition<object, object> | EnumTypeDefinition {
  return Array.isArray((entry as { fileDescriptorProtos?: unknown }).fileDescriptorProtos);
}

function fileDescriptors(entry: AnyDefinition): readonly Buffer[] {
  return isTypeDefinition(entry) ? entry.fileDescriptorProtos : [];
}

/**
 * The name protobuf gives the implicit entry message of map field `fieldName`: CamelCase + `Entry`
 * (`statuses` → `StatusesEntry`, `error_counts` → `ErrorCountsEntry`).
 */
export function mapEntryName(fieldName: string): string {
  return `${fieldName.replace(/(?:^|_)([^_]?)/g, (_m, c: string) => c.toUpperCase())}Entry`;
}

/** Renames the map-entry messages nested in `message` (recursively) and points their fields at them. */
function nameMapEntries(message: MessageProto): void {
  for (const nested of message.nestedType ?? []) nameMapEntries(nested);
  for (const field of message.field ?? []) {
    const entry = message.nestedType?.find(
      (n) => n.options?.mapEntry === true && n.name !== undefined && n.name === field.typeName,
    );
    if (entry === undefined || field.name === undefined) continue;
    entry.name = mapEntryName(field.name);
    // Relative to the message, like the other references; qualifyReferences resolves it.
    field.typeName = entry.name;
  }
}

/** Every message and enum, fully qualified with a leading dot, mapped to the name of its file. */
function symbolFiles(files: readonly FileProto[]): Map<string, string> {
  const symbols = new Map<string, string>();
  const addMessages = (scope: string, messages: readonly MessageProto[], fileName: string) => {
    for (const m of messages) {
      const full = `${scope}.${m.name ?? ''}`;
      symbols.set(full, fileName);
      for (const e of m.enumType ?? []) symbols.set(`${full}.${e.name ?? ''}`, fileName);
      addMessages(full, m.nestedType ?? [], fileName);
    }
  };
  for (const file of files) {
    const scope = file.package ? `.${file.package}` : '';
    const fileName = file.name ?? '';
    for (const e of file.enumType ?? []) symbols.set(`${scope}.${e.name ?? ''}`, fileName);
    addMessages(scope, file.messageType ?? [], fileName);
  }
  return symbols;
}

/** Rewrites every type reference of `file` as a fully qualified name and records cross-file dependencies. */
function qualifyReferences(file: FileProto, symbols: ReadonlyMap<string, string>): void {
  const dependencies = new Set(file.dependency ?? []);
  const resolve = (scope: string, name: string | undefined): string | undefined => {
    if (name === undefined || name === '') return name;
    let full: string | undefined;
    if (name.startsWith('.')) full = name;
    else {
      // Innermost scope first; bounded by the number of dots in the scope.
      for (let s = scope; full === undefined; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
        if (symbols.has(`${s}.${name}`)) full = `${s}.${name}`;
        else if (s === '') break;
      }
    }
    // An unresolvable name is left as it is: the client's runtime reports it better than a guess.
    if (full === undefined) return name;
    const owner = symbols.get(full);
    if (owner !== undefined && owner !== file.name) dependencies.add(owner);
    return full;
  };
  const packageScope = file.package ? `.${file.package}` : '';
  const visit = (scope: string, message: MessageProto) => {
    const full = `${scope}.${message.name ?? ''}`;
    for (const field of [...(message.field ?? []), ...(message.extension ?? [])]) {
      field.typeName = resolve(full, field.typeName);
    }
    for (const nested of message.nestedType ?? []) visit(full, nested);
  };
  for (const message of file.messageType ?? []) visit(packageScope, message);
  for (const field of file.extension ?? []) field.typeName = resolve(packageScope, field.typeName);
  for (const service of file.service ?? []) {
    for (const method of service.method ?? []) {
      method.inputType = resolve(packageScope, method.inputType);
      method.outputType = resolve(packageScope, method.outputType);
    }
  }
  if (dependencies.size > 0) file.dependency = [...dependencies];
}
