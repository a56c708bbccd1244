import { status, type Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  decodeRichStatus,
  ERROR_CODE_METADATA_KEY,
  ERROR_DOMAIN,
  STATUS_DETAILS_METADATA_KEY,
  type ErrorInfo,
} from './contract';

/**
 * Stable machine-readable codes of {@link IdClientError}. Never renamed: callers match on them.
 *
 * - `ALL_SERVERS_UNAVAILABLE`: every attempt failed with UNAVAILABLE (connection refused or unreachable,
 *   or the server refuses to issue IDs), RESOURCE_EXHAUSTED `RESPONSE_BACKLOG_FULL` (the server holds too
 *   many unread answers) or timed out, until the attempts or the call deadline ran out.
 * - `DEADLINE_EXCEEDED`: as above, but every attempt timed out (no server refused: they hang).
 * - `INVALID_ARGUMENT`: the request broke a documented limit, checked locally or by the server
 *   (`serverCode` then says which, e.g. `BATCH_SIZE_OUT_OF_RANGE`); never retried.
 * - `SERVER_ERROR`: any other gRPC status (INTERNAL, UNIMPLEMENTED, …); not retried.
 * - `INVALID_RESPONSE`: the server answered with something the contract rules out (wrong ID count, bad number).
 * - `CLIENT_CLOSED`: `close()` was called before or during the call.
 * - `CANCELLED`: the caller's AbortSignal aborted the call (its `reason` is the error's `cause`).
 * - `INVALID_OPTIONS`: `createIdClient` was given an option outside its documented range.
 * - `INTERNAL`: something that is not a gRPC status was thrown while making the call (a bug, or a misuse
 *   the checks did not catch); the thrown value is the error's `cause`. Never retried.
 */
export type ClientErrorCode =
  | 'ALL_SERVERS_UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'INVALID_ARGUMENT'
  | 'SERVER_ERROR'
  | 'INVALID_RESPONSE'
  | 'CLIENT_CLOSED'
  | 'CANCELLED'
  | 'INVALID_OPTIONS'
  | 'INTERNAL';

/** One failed RPC attempt, as recorded in {@link IdClientError.attempts}. */
export interface AttemptFailure {
  /** The `host:port` the attempt went to. */
  readonly address: string;
  /** The gRPC status of the attempt (UNAVAILABLE for connection failures). */
  readonly grpcCode: status;
  /** The status details (server message or grpc-js connection error). */
  readonly details: string;
  /**
   * The server's stable error code, when it sent one: the `reason` of its `google.rpc.ErrorInfo`
   * (domain `snowflake.v1`, trailer `grpc-status-details-bin`), else the `snowflake-error-code` trailer.
   */
  readonly serverCode: string | undefined;
  /** The server's `google.rpc.ErrorInfo` (domain `snowflake.v1`), e.g. the allowed `min`/`max`; when it sent one. */
  readonly errorInfo?: ErrorInfo;
}

/** Optional fields of an {@link IdClientError}. */
export interface IdClientErrorDetails {
  /** gRPC status that ended the call, when a server answered. */
  readonly grpcCode?: status;
  /** The server's stable error code, when it sent one. */
  readonly serverCode?: string;
  /** The server's `google.rpc.ErrorInfo`, when it sent one. */
  readonly errorInfo?: ErrorInfo;
  /** Every failed attempt of the call, oldest first; empty when no RPC was made. */
  readonly attempts?: readonly AttemptFailure[];
  /** What caused it: an AbortSignal's reason (`CANCELLED`), the thrown value (`INTERNAL`), … */
  readonly cause?: unknown;
}

/** Every error the client rejects with; `code` is stable, `message` is for humans. */
export class IdClientError extends Error {
  /** The stable code; see {@link ClientErrorCode}. */
  readonly code: ClientErrorCode;
  /** gRPC status that ended the call, when a server answered. */
  readonly grpcCode: status | undefined;
  /** The server's stable error code (e.g. `BATCH_SIZE_OUT_OF_RANGE`), when it sent one. */
  readonly serverCode: string | undefined;
  /**
   * The server's `google.rpc.ErrorInfo` (reason = {@link serverCode}, domain `snowflake.v1`, metadata
   * such as `min`/`max` for a batch size), when it sent one.
   */
  readonly errorInfo: ErrorInfo | undefined;
  /** Every failed attempt of the call, oldest first; empty when no RPC was made. */
  readonly attempts: readonly AttemptFailure[];

  constructor(code: ClientErrorCode, message: string, details: IdClientErrorDetails = {}) {
    super(message, 'cause' in details ? { cause: details.cause } : undefined);
    this.name = 'IdClientError';
    this.code = code;
    this.grpcCode = details.grpcCode;
    this.serverCode = details.serverCode;
    this.errorInfo = details.errorInfo;
    this.attempts = details.attempts ?? [];
  }
}

/** The {@link AttemptFailure} for a grpc-js error (a call that ended with a gRPC status). */
export function attemptFailure(address: string, err: ServiceError): AttemptFailure {
  const errorInfo = serverErrorInfo(err.metadata);
  const legacyCode = err.metadata.get(ERROR_CODE_METADATA_KEY)[0];
  return {
    address,
    grpcCode: err.code,
    details: err.details,
    serverCode: errorInfo?.reason ?? (typeof legacyCode === 'string' ? legacyCode : undefined),
    ...(errorInfo !== undefined && { errorInfo }),
  };
}

/**
 * The `google.rpc.ErrorInfo` of this service in a `grpc-status-details-bin` trailer; undefined when
 * there is none, it does not decode, or it comes from another domain (e.g. a proxy's).
 */
function serverErrorInfo(metadata: Metadata): ErrorInfo | undefined {
  const [bytes] = metadata.get(STATUS_DETAILS_METADATA_KEY);
  if (!Buffer.isBuffer(bytes)) return undefined;
  const errorInfo = decodeRichStatus(bytes)?.errorInfo;
  return errorInfo?.domain === ERROR_DOMAIN && errorInfo.reason !== '' ? errorInfo : undefined;
}

/** The name of a gRPC status code, e.g. `UNAVAILABLE` (the `grpc_code` label convention). */
export function statusName(code: status): string {
  // A code newer than this grpc-js has no name in its enum.
  return (status as unknown as Record<number, string | undefined>)[code] ?? String(code);
}

/** The error for a failure that must not be retried (INVALID_ARGUMENT or an unexpected status). */
export function terminalError(failure: AttemptFailure, attempts: readonly AttemptFailure[]): IdClientError {
  const code: ClientErrorCode =
    failure.grpcCode === status.INVALID_ARGUMENT ? 'INVALID_ARGUMENT' : 'SERVER_ERROR';
  return new IdClientError(
    code,
    `${failure.address} answered ${statusName(failure.grpcCode)}: ${failure.details}`,
    { grpcCode: failure.grpcCode, serverCode: failure.serverCode, errorInfo: failure.errorInfo, attempts },
  );
}

/**
 * True for what grpc-js rejects a call with (an Error with a numeric `code`, `details` and `metadata`);
 * anything else thrown while calling is a bug or a misuse, not a server's answer.
 */
export function isServiceError(err: unknown): err is ServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<ServiceError>).code === 'number' &&
    typeof (err as Partial<ServiceError>).details === 'string' &&
    (err as Partial<ServiceError>).metadata !== undefined
  );
}
