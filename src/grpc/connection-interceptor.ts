import * as grpc from '@grpc/grpc-js';
import { ERROR_CODE_METADATA_KEY } from '@snowflake-id/client/contract';
import { ResponseBacklogFullError, ShuttingDownError, type SnowflakeError } from '../errors';
import type { Connection, ConnectionTable } from './connections';
import { toGrpcStatus } from './status';

type NextCall = grpc.ServerInterceptingCallInterface;
type CallListener = Parameters<NextCall['start']>[0];
type Status = Parameters<NextCall['sendStatus']>[0];

/**
 * The bytes a method's response will take on the wire, from its decoded request; undefined when the
 * request is one the handler will refuse anyway (it then answers with its own error).
 */
export type ResponseSizer = (request: unknown) => number | undefined;

/**
 * A call attributed to its connection in the {@link ConnectionTable}: a unary call counts as in flight
 * from start to end (its trailers handed to HTTP/2, or cancelled) so that a graceful stop waits for it;
 * a streaming call (health Watch, reflection), which need not ever end, is recorded with a way to end
 * it (UNAVAILABLE, SHUTTING_DOWN) so that a graceful stop ends it instead. A call of a sized method
 * reserves its response bytes before the handler runs, until HTTP/2 flow control has taken them; a
 * reservation that does not fit is answered RESOURCE_EXHAUSTED (RESPONSE_BACKLOG_FULL) without running
 * the handler, so no ID is issued for a client that does not read its answers.
 */
class TrackedCall extends grpc.ServerInterceptingCall implements CallListener {
  private listener: CallListener | undefined;
  private connection: Connection | undefined;
  private reservedBytes = 0;
  /** Set once the call is answered here (refused, or ended by a stop): the handler sees no more input. */
  private answered = false;
  private ended = false;
  private readonly endStream = () => {
    this.answer(new ShuttingDownError());
  };

  constructor(
    private readonly next: NextCall,
    private readonly table: ConnectionTable,
    private readonly unary: boolean,
    private readonly sizer: ResponseSizer | undefined,
  ) {
    super(next);
  }

  override start(listener: CallListener): void {
    this.listener = listener;
    const { remoteAddress, remotePort } = this.next.getConnectionInfo();
    this.connection = this.table.connectionOf(remoteAddress, remotePort);
    this.next.start(this);
    if (this.unary) this.table.unaryStarted(this.connection);
    else this.table.streamStarted(this.connection, this.endStream);
  }

  override sendMetadata(metadata: grpc.Metadata): void {
    this.next.sendMetadata(metadata);
  }

  override sendMessage(message: unknown, callback: () => void): void {
    this.next.sendMessage(message, () => {
      this.release();
      callback();
    });
  }

  override sendStatus(status: Status): void {
    this.next.sendStatus(status);
  }

  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.listener?.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    if (this.answered) return;
    const bytes = this.sizer?.(message);
    if (bytes !== undefined && this.connection !== undefined) {
      const refusal = this.table.tryReserve(this.connection, bytes);
      if (refusal !== undefined) {
        this.answer(
          new ResponseBacklogFullError(
            refusal.scope === 'connection'
              ? `this connection already holds ${refusal.backlogBytes} bytes of answers its client has not read; ` +
                  `${bytes} more would exceed ${refusal.limitBytes} (SNOWFLAKE_GRPC_BACKLOG_MIB); read the answers, ` +
                  'or retry later or on another instance'
              : `the clients of all connections have not read ${refusal.backlogBytes} bytes of answers; ${bytes} ` +
                  `more would exceed ${refusal.limitBytes} (SNOWFLAKE_GRPC_TOTAL_BACKLOG_MIB) and this connection ` +
                  'already holds its share; retry later or on another instance',
          ),
        );
        return;
      }
      this.reservedBytes = bytes;
    }
    this.listener?.onReceiveMessage(message);
  }

  onReceiveHalfClose(): void {
    if (!this.answered) this.listener?.onReceiveHalfClose();
  }

  /** grpc-js calls this after every status it sent, and instead of one when the client went away. */
  onCancel(): void {
    this.release();
    if (!this.ended && this.connection !== undefined) {
      this.ended = true;
      if (this.unary) this.table.unaryEnded(this.connection);
      else this.table.streamEnded(this.connection, this.endStream);
    }
    this.listener?.onCancel();
  }

  private release(): void {
    if (this.reservedBytes === 0 || this.connection === undefined) return;
    this.table.release(this.connection, this.reservedBytes);
    this.reservedBytes = 0;
  }

  /** Ends the call here with `err`'s status; the handler gets no further input. */
  private answer(err: SnowflakeError): void {
    if (this.answered) return;
    this.answered = true;
    const { code, details } = toGrpcStatus(err);
    const metadata = new grpc.Metadata();
    metadata.set(ERROR_CODE_METADATA_KEY, err.code);
    this.next.sendStatus({ code, details, metadata });
  }
}

/**
 * The server interceptor that tracks every call in `table`; `sizers` maps method paths (e.g.
 * `/snowflake.v1.IdGenerator/BatchIds`) to the size of their response, for the response backlog budget.
 */
export function connectionInterceptor(
  table: ConnectionTable,
  sizers: ReadonlyMap<string, ResponseSizer>,
): grpc.ServerInterceptor {
  return (method, call) =>
    new TrackedCall(call, table, !method.requestStream && !method.responseStream, sizers.get(method.path));
}
