import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';

/**
 * `google.rpc.ErrorInfo.domain` of every error this service sends: its `reason`s are the stable error
 * codes of the `snowflake.v1` contract (e.g. `BATCH_SIZE_OUT_OF_RANGE`).
 */
export const ERROR_DOMAIN = 'snowflake.v1';

/**
 * Trailing-metadata key carrying the stable error code (e.g. BATCH_SIZE_OUT_OF_RANGE) on every error;
 * kept for clients that predate {@link STATUS_DETAILS_METADATA_KEY}.
 */
export const ERROR_CODE_METADATA_KEY = 'snowflake-error-code';

/** Trailing-metadata key of the serialized `google.rpc.Status` (gRPC's rich error model). */
export const STATUS_DETAILS_METADATA_KEY = 'grpc-status-details-bin';

/** `google.protobuf.Any.type_url` of a `google.rpc.ErrorInfo` detail. */
export const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

/** `google.rpc.ErrorInfo`: why a call failed, as a stable reason in a domain, plus facts as strings. */
export interface ErrorInfo {
  /** The stable error code, e.g. `BATCH_SIZE_OUT_OF_RANGE`. */
  readonly reason: string;
  /** Who defines `reason`; {@link ERROR_DOMAIN} for this service. */
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

// The published shapes of google.rpc.Status and google.rpc.ErrorInfo (googleapis google/rpc/status.proto
// and error_details.proto), written out here; protobufjs encodes and decodes them.
const RPC_PROTO = `
syntax = "proto3";
package google.rpc;
import "google/protobuf/any.proto";
message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
`;
const root = new protobuf.Root();
root.addJSON(protobuf.common.get('google/protobuf/any.proto')?.nested ?? {});
protobuf.parse(RPC_PROTO, root, { keepCase: true });
root.resolveAll();
const StatusType = root.lookupType('google.rpc.Status');
const ErrorInfoType = root.lookupType('google.rpc.ErrorInfo');

interface AnyObject {
  type_url: string;
  value: Uint8Array;
}

/** The `google.rpc.Status` bytes for the {@link STATUS_DETAILS_METADATA_KEY} trailer. */
export function encodeRichStatus(status: RichStatus): Buffer {
  const details: AnyObject[] =
    status.errorInfo === undefined
      ? []
      : [
          {
            type_url: ERROR_INFO_TYPE_URL,
            value: ErrorInfoType.encode(ErrorInfoType.fromObject(status.errorInfo)).finish(),
          },
        ];
  const message = StatusType.fromObject({ code: status.code, message: status.message, details });
  return Buffer.from(StatusType.encode(message).finish());
}

/** Decodes a {@link STATUS_DETAILS_METADATA_KEY} trailer; undefined when the bytes are not a google.rpc.Status. */
export function decodeRichStatus(bytes: Uint8Array): RichStatus | undefined {
  try {
    const status = StatusType.toObject(StatusType.decode(bytes), { defaults: true }) as {
      code: number;
      message: string;
      details: AnyObject[];
    };
    const info = status.details.find((d) => d.type_url === ERROR_INFO_TYPE_URL);
    const errorInfo =
      info === undefined
        ? undefined
        : (ErrorInfoType.toObject(ErrorInfoType.decode(info.value), { defaults: true }) as ErrorInfo);
    return { code: status.code, message: status.message, errorInfo };
  } catch {
    return undefined;
  }
}

/**
 * A package definition describing `google.rpc.ErrorInfo`, for the reflection service: tools that decode
 * status details through reflection (grpcurl) can then print the ErrorInfo detail as JSON.
 */
export function errorInfoDefinition(): protoLoader.PackageDefinition {
  return protoLoader.fromJSON(
    { nested: { google: { nested: { rpc: { nested: { ErrorInfo: ErrorInfoType.toJSON() } } } } } },
    { keepCase: true },
  );
}
