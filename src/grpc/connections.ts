import type { Socket } from 'node:net';

/** One accepted gRPC connection and what its calls hold. */
export class Connection {
  /** Unary calls started on it and not yet ended. */
  inFlight = 0;
  /** BatchIds response bytes reserved for its calls and not yet taken by HTTP/2 flow control. */
  backlogBytes = 0;
  /** Whether any call ever started on it (a connection that never carried one has nothing to flush). */
  carriedCalls = false;
  /** How to end each of its open streaming calls (health Watch, reflection) with a status. */
  readonly streams = new Set<() => void>();

  /** `socket` is undefined for calls whose connection the table never saw. */
  constructor(readonly socket: Socket | undefined) {}
}

/** Limits enforced by a {@link ConnectionTable}. */
export interface ConnectionLimits {
  /** Most connections open at once; more are closed as soon as they are accepted. */
  readonly maxConnections: number;
  /** Most queued response bytes one connection may hold. */
  readonly maxBacklogBytesPerConnection: number;
  /** Most queued response bytes all connections together may hold (see {@link ConnectionTable.tryReserve}). */
  readonly maxBacklogBytes: number;
}

/** Why {@link ConnectionTable.tryReserve} refused: which budget is full, and how full. */
export interface BacklogRefusal {
  readonly scope: 'connection' | 'total';
  /** Bytes already queued in that scope. */
  readonly backlogBytes: number;
  /** Its limit in bytes. */
  readonly limitBytes: number;
}

/**
 * After the last unary call of a graceful stop ended, how long connections may take to close by
 * themselves (GOAWAY was sent: each HTTP/2 session closes once its last answer is flushed) before the
 * rest is destroyed, in ms. Only a client that stopped reading its socket altogether needs it.
 */
export const DRAIN_FLUSH_GRACE_MS = 1_000;

/**
 * The gRPC port's open connections, keyed by the peer's address and port (what a call reports as its
 * connection), with their in-flight calls and queued response bytes. It admits connections up to the
 * cap, keeps the response backlog budgets, and drains them for a graceful stop.
 */
export class ConnectionTable {
  private readonly byPeer = new Map<string, Connection>();
  /** Calls whose connection is not in the table still count in the totals. */
  private readonly unknown = new Connection(undefined);
  private totalBacklogBytes = 0;
  private totalInFlight = 0;
  private rejected = 0;
  private draining = false;
  /** Set while draining: re-checks whether the drain is complete. */
  private drainProgress: (() => void) | undefined;

  constructor(private readonly limits: ConnectionLimits) {}

  /** Connections open now. */
  get openConnections(): number {
    return this.byPeer.size;
  }

  /** Connections closed at once because maxConnections were open, since start. */
  get rejectedConnections(): number {
    return this.rejected;
  }

  /** Unary calls in flight over all connections. */
  get inFlight(): number {
    return this.totalInFlight;
  }

  /** Queued response bytes over all connections. */
  get backlogBytes(): number {
    return this.totalBacklogBytes;
  }

  /**
   * Takes a newly accepted socket into the table, or destroys it and returns false when maxConnections
   * are open (counted as rejected) or it is closed already. The socket leaves the table when it closes.
   */
  admit(socket: Socket): boolean {
    const key = peerKey(socket.remoteAddress, socket.remotePort);
    if (key === undefined || this.byPeer.size >= this.limits.maxConnections) {
      if (key !== undefined) this.rejected++;
      socket.destroy();
      return false;
    }
    const connection = new Connection(socket);
    this.byPeer.set(key, connection);
    socket.once('close', () => {
      if (this.byPeer.get(key) === connection) this.byPeer.delete(key);
      this.drainProgress?.();
    });
    return true;
  }

  /** The connection of a call, from what grpc-js reports as the call's remote address and port. */
  connectionOf(remoteAddress: string | undefined, remotePort: number | undefined): Connection {
    const key = peerKey(remoteAddress, remotePort);
    return (key === undefined ? undefined : this.byPeer.get(key)) ?? this.unknown;
  }

  /** Counts a unary call as in flight on `connection` until {@link unaryEnded}. */
  unaryStarted(connection: Connection): void {
    connection.carriedCalls = true;
    connection.inFlight++;
    this.totalInFlight++;
  }

  /** Ends what {@link unaryStarted} counted. */
  unaryEnded(connection: Connection): void {
    connection.inFlight--;
    this.totalInFlight--;
    this.drainProgress?.();
  }

  /**
   * Records an open streaming call on `connection` and how to end it; a graceful stop ends it rather
   * than wait (such calls never end on their own). While draining, it is ended at once.
   */
  streamStarted(connection: Connection, end: () => void): void {
    connection.carriedCalls = true;
    connection.streams.add(end);
    if (this.draining) end();
  }

  /** Forgets what {@link streamStarted} recorded. */
  streamEnded(connection: Connection, end: () => void): void {
    connection.streams.delete(end);
  }

  /**
   * Reserves `bytes` of queued response on `connection`, or returns why not (nothing is reserved then).
   * A reservation must fit the connection's budget, and either the total budget or the connection's fair
   * share of it (maxBacklogBytes ÷ maxConnections): many slow connections can fill the total, but cannot
   * starve a connection whose client reads its answers. Bytes admitted by the total rule never exceed
   * maxBacklogBytes, those admitted by the share rule neither, so the total stays within twice the limit.
   */
  tryReserve(connection: Connection, bytes: number): BacklogRefusal | undefined {
    const { maxBacklogBytesPerConnection, maxBacklogBytes } = this.limits;
    const after = connection.backlogBytes + bytes;
    if (after > maxBacklogBytesPerConnection) {
      return {
        scope: 'connection',
        backlogBytes: connection.backlogBytes,
        limitBytes: maxBacklogBytesPerConnection,
      };
    }
    const fairShare = maxBacklogBytes / this.limits.maxConnections;
    if (this.totalBacklogBytes + bytes > maxBacklogBytes && after > fairShare) {
      return { scope: 'total', backlogBytes: this.totalBacklogBytes, limitBytes: maxBacklogBytes };
    }
    connection.backlogBytes = after;
    this.totalBacklogBytes += bytes;
    return undefined;
  }

  /** Gives back bytes reserved by {@link tryReserve}. */
  release(connection: Connection, bytes: number): void {
    connection.backlogBytes -= bytes;
    this.totalBacklogBytes -= bytes;
  }

  /**
   * Graceful stop of the connections; call it once the listeners are closed and every HTTP/2 session
   * was sent GOAWAY (grpc-js tryShutdown). Streaming calls are ended (see {@link streamStarted}), and
   * connections that never carried a call (idle clients, raw TCP) are closed at once; the others close
   * by themselves as their last call's answer is flushed. Resolves with 0 once every connection is
   * closed (or {@link DRAIN_FLUSH_GRACE_MS} after the last unary call ended, closing the rest), or after
   * `timeoutMs` with the number of unary calls still in flight, which the caller then cuts with
   * {@link destroyAll}.
   */
  drain(timeoutMs: number): Promise<number> {
    this.draining = true;
    return new Promise((resolve) => {
      let grace: NodeJS.Timeout | undefined;
      const finish = (cut: number) => {
        clearTimeout(timer);
        clearTimeout(grace);
        this.drainProgress = undefined;
        resolve(cut);
      };
      const timer = setTimeout(() => {
        finish(this.totalInFlight);
      }, timeoutMs);
      this.drainProgress = () => {
        if (this.totalInFlight > 0) return;
        if (this.byPeer.size === 0) finish(0);
        else
          grace ??= setTimeout(() => {
            this.destroyAll();
            finish(this.totalInFlight);
          }, DRAIN_FLUSH_GRACE_MS);
      };
      for (const connection of [...this.byPeer.values(), this.unknown]) {
        for (const end of [...connection.streams]) end();
        if (!connection.carriedCalls) destroyIfStillUnused(connection);
      }
      this.drainProgress();
    });
  }

  /** Destroys every connection still open. */
  destroyAll(): void {
    for (const connection of this.byPeer.values()) connection.socket?.destroy();
  }
}

/**
 * Destroys the connection's socket on the next turn of the event loop, after the GOAWAY queued for it
 * was written, unless a call started on it meanwhile (it then closes after that call).
 */
function destroyIfStillUnused(connection: Connection): void {
  setImmediate(() => {
    if (!connection.carriedCalls) connection.socket?.destroy();
  });
}

function peerKey(address: string | undefined, port: number | undefined): string | undefined {
  return address === undefined || port === undefined ? undefined : `${address} ${port}`;
}
