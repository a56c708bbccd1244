import { WireReader, writeVarint } from './wire';

/** `google.protobuf.Any.type_url` of a `google.rpc.ErrorInfo` detail. */
export const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

/** `google.rpc.ErrorInfo`: why a call failed, as a stable reason in a domain, plus facts as strings. */
export interface ErrorInfo {
  /** The stable error code, e.g. `BATCH_SIZE_OUT_OF_RANGE`. */
  readonly reason: string;
  /** Who defines `reason`; `snowflake.v1` (ERROR_DOMAIN) for this service. */
  readonly domain: string;
  /** Facts about this error, e.g. `{ min: '1', max: '10000', count: '0' }`; keys are lowerCamelCase. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** The `google.rpc.Status` sent with an error: the gRPC code and message, and its ErrorInfo detail. */
export interface RichStatus {
  /** The gRPC status code (the same as the call's). */
  readonly code: number;
  /** The status message (the same as the call's details text). */
  readonly message: string;
  /** The first `google.rpc.ErrorInfo` among the details, if any. */
  readonly errorInfo: ErrorInfo | undefined;
}

// The published shapes (googleapis google/rpc/status.proto and error_details.proto), by field number:
//   Status    { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
//   Any       { string type_url = 1; bytes value = 2; }
//   ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
// A map entry is a message { string key = 1; string value = 2; }.
const VARINT = 0;
const LENGTH_DELIMITED = 2;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** The `google.rpc.Status` bytes for the STATUS_DETAILS_METADATA_KEY trailer. */
export function encodeRichStatus(status: RichStatus): Uint8Array {
  const out: number[] = [];
  if (status.code !== 0) {
    writeKey(out, 1, VARINT);
    writeVarint(out, BigInt.asUintN(64, BigInt(status.code)));
  }
  writeString(out, 2, status.message);
  if (status.errorInfo !== undefined) {
    const any: number[] = [];
    writeString(any, 1, ERROR_INFO_TYPE_URL);
    writeBytes(any, 2, encodeErrorInfo(status.errorInfo));
    writeBytes(out, 3, any);
  }
  return Uint8Array.from(out);
}

/** Decodes a STATUS_DETAILS_METADATA_KEY trailer; undefined when the bytes are not a google.rpc.Status. */
export function decodeRichStatus(bytes: Uint8Array): RichStatus | undefined {
  try {
    let code = 0;
    let message = '';
    let errorInfo: ErrorInfo | undefined;
    const reader = new WireReader(bytes, 'google.rpc.Status');
    while (reader.more) {
      const { field, wireType } = reader.key();
      if (field === 1 && wireType === VARINT) code = reader.int32();
      else if (field === 2 && wireType === LENGTH_DELIMITED) message = text(reader.lengthDelimited());
      else if (field === 3 && wireType === LENGTH_DELIMITED) {
        const detail = decodeAny(reader.lengthDelimited());
        if (errorInfo === undefined && detail.typeUrl === ERROR_INFO_TYPE_URL) {
          errorInfo = decodeErrorInfo(detail.value);
        }
      } else if (field <= 3) throw wrongWireType(reader, field, wireType);
      else reader.skip(wireType);
    }
    return { code, message, errorInfo };
  } catch {
    return undefined;
  }
}

function encodeErrorInfo(info: ErrorInfo): number[] {
  const out: number[] = [];
  writeString(out, 1, info.reason);
  writeString(out, 2, info.domain);
  for (const [key, value] of Object.entries(info.metadata)) {
    const entry: number[] = [];
    writeString(entry, 1, key);
    writeString(entry, 2, value);
    writeBytes(out, 3, entry);
  }
  return out;
}

function decodeErrorInfo(bytes: Uint8Array): ErrorInfo {
  let reason = '';
  let domain = '';
  // A Map, then own properties: a key such as `__proto__` must be data, not the object's prototype.
  const metadata = new Map<string, string>();
  const reader = new WireReader(bytes, 'google.rpc.ErrorInfo');
  while (reader.more) {
    const { field, wireType } = reader.key();
    if (field > 3) reader.skip(wireType);
    else if (wireType !== LENGTH_DELIMITED) throw wrongWireType(reader, field, wireType);
    else if (field === 1) reason = text(reader.lengthDelimited());
    else if (field === 2) domain = text(reader.lengthDelimited());
    else if (field === 3) {
      const [key, value] = decodePair(reader.lengthDelimited(), 'google.rpc.ErrorInfo.MetadataEntry');
      metadata.set(text(key), text(value));
    }
  }
  return { reason, domain, metadata: Object.fromEntries(metadata) };
}

function decodeAny(bytes: Uint8Array): { typeUrl: string; value: Uint8Array } {
  const [typeUrl, value] = decodePair(bytes, 'google.protobuf.Any');
  return { typeUrl: text(typeUrl), value };
}

/** A message of two length-delimited fields, 1 and 2 (an Any, a map entry): their bytes, empty if absent. */
function decodePair(bytes: Uint8Array, name: string): [Uint8Array, Uint8Array] {
  const pair: [Uint8Array, Uint8Array] = [new Uint8Array(0), new Uint8Array(0)];
  const reader = new WireReader(bytes, name);
  while (reader.more) {
    const { field, wireType } = reader.key();
    if (field > 2) reader.skip(wireType);
    else if (wireType !== LENGTH_DELIMITED) throw wrongWireType(reader, field, wireType);
    else pair[field - 1] = reader.lengthDelimited();
  }
  return pair;
}

function wrongWireType(reader: WireReader, field: number, wireType: number): RangeError {
  return reader.error(`field ${field} has wire type ${wireType}`);
}

function text(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

function writeKey(out: number[], field: number, wireType: number): void {
  writeVarint(out, BigInt(field * 8 + wireType));
}

function writeBytes(out: number[], field: number, bytes: ArrayLike<number>): void {
  writeKey(out, field, LENGTH_DELIMITED);
  writeVarint(out, BigInt(bytes.length));
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i] ?? 0);
}

function writeString(out: number[], field: number, value: string): void {
  if (value !== '') writeBytes(out, field, utf8.encode(value));
}
