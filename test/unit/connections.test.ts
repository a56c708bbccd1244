import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { ConnectionTable, DRAIN_FLUSH_GRACE_MS, type Connection } from '../../src/grpc/connections';

/** Enough of a net.Socket for the table: a peer address, destroy() and the 'close' event it causes. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  constructor(readonly remotePort: number | undefined) {
    super();
  }
  readonly remoteAddress = '127.0.0.1';
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit('close');
    }
    return this;
  }
}

const MiB = 2 ** 20;

function table(maxConnections = 4, perConnection = 4 * MiB, total = 8 * MiB) {
  return new ConnectionTable({
    maxConnections,
    maxBacklogBytesPerConnection: perConnection,
    maxBacklogBytes: total,
  });
}

/** Admits a fake socket on `port` and returns it with its connection. */
function connect(t: ConnectionTable, port: number): { socket: FakeSocket; connection: Connection } {
  const socket = new FakeSocket(port);
  expect(t.admit(socket as unknown as Socket)).toBe(true);
  return { socket, connection: t.connectionOf('127.0.0.1', port) };
}

describe('ConnectionTable: connection cap', () => {
  it('admits up to maxConnections, destroys and counts the rest, and frees a slot when one closes', () => {
    const t = table(2);
    const a = connect(t, 1);
    connect(t, 2);
    const third = new FakeSocket(3);
    expect(t.admit(third as unknown as Socket)).toBe(false);
    expect({ destroyed: third.destroyed, open: t.openConnections, rejected: t.rejectedConnections }).toEqual({
      destroyed: true,
      open: 2,
      rejected: 1,
    });
    a.socket.destroy();
    expect(t.openConnections).toBe(1);
    connect(t, 4);
    expect(t.openConnections).toBe(2);
  });

  it('destroys a socket that closed before it was admitted (no peer address) without counting it', () => {
    const t = table();
    const gone = new FakeSocket(undefined);
    expect(t.admit(gone as unknown as Socket)).toBe(false);
    expect({ destroyed: gone.destroyed, rejected: t.rejectedConnections }).toEqual({
      destroyed: true,
      rejected: 0,
    });
  });

  it('attributes a call to its connection by peer address and port, and unknown peers to one shared record', () => {
    const t = table();
    const { connection } = connect(t, 1);
    expect(t.connectionOf('127.0.0.1', 1)).toBe(connection);
    expect(t.connectionOf('127.0.0.1', 2)).not.toBe(connection);
    expect(t.connectionOf(undefined, undefined)).toBe(t.connectionOf('127.0.0.1', 2));
  });
});

describe('ConnectionTable: queued response bytes', () => {
  // 4 connections at most, 4 MiB each, 8 MiB in total: the fair share is 2 MiB.
  it.each([
    ['within both budgets', undefined, [[1, 3 * MiB]], [1, MiB]],
    ['beyond the connection budget', 'connection', [[1, 3 * MiB]], [1, MiB + 1]],
    [
      'beyond the total, above the fair share',
      'total',
      [
        [1, 4 * MiB],
        [2, 3 * MiB],
      ],
      [3, 2 * MiB + 1],
    ],
    [
      'beyond the total, within the fair share',
      undefined,
      [
        [1, 4 * MiB],
        [2, 3 * MiB],
      ],
      [3, 2 * MiB],
    ],
  ] as const)('GIVEN a reservation %s THEN the refusal is %p', (_name, refused, held, [port, bytes]) => {
    const t = table();
    const connections = new Map([1, 2, 3].map((p) => [p, connect(t, p).connection]));
    for (const [p, b] of held) expect(t.tryReserve(connections.get(p)!, b)).toBeUndefined();
    const before = t.backlogBytes;
    const refusal = t.tryReserve(connections.get(port)!, bytes);
    expect(refusal?.scope).toBe(refused);
    expect(t.backlogBytes).toBe(refused === undefined ? before + bytes : before);
  });

  it('GIVEN bytes released THEN they can be reserved again', () => {
    const t = table(4, MiB, 8 * MiB);
    const { connection } = connect(t, 1);
    expect(t.tryReserve(connection, MiB)).toBeUndefined();
    expect(t.tryReserve(connection, 1)).toEqual({ scope: 'connection', backlogBytes: MiB, limitBytes: MiB });
    t.release(connection, MiB);
    expect({ connection: connection.backlogBytes, total: t.backlogBytes }).toEqual({
      connection: 0,
      total: 0,
    });
    expect(t.tryReserve(connection, MiB)).toBeUndefined();
  });

  it('GIVEN every connection slow THEN the total stays within twice its limit', () => {
    const t = table(4, 4 * MiB, 8 * MiB);
    const all = [1, 2, 3, 4].map((p) => connect(t, p).connection);
    for (let round = 0; round < 100; round++) for (const c of all) t.tryReserve(c, 100_000);
    expect(t.backlogBytes).toBeGreaterThan(8 * MiB - 100_000);
    expect(t.backlogBytes).toBeLessThanOrEqual(16 * MiB);
  });
});

describe('ConnectionTable: drain', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('GIVEN no call in flight THEN connections that never carried one close at once and it resolves 0', async () => {
    const t = table();
    const idle = connect(t, 1);
    const drained = t.drain(60_000);
    await jest.advanceTimersByTimeAsync(0);
    expect(idle.socket.destroyed).toBe(true);
    await expect(drained).resolves.toBe(0);
  });

  it('GIVEN a unary call in flight THEN it waits for it; a connection that carried calls closes by itself', async () => {
    const t = table();
    const idle = connect(t, 1);
    const busy = connect(t, 2);
    t.unaryStarted(busy.connection);
    let result: number | undefined;
    void t.drain(60_000).then((r) => (result = r));
    await jest.advanceTimersByTimeAsync(1_000);
    expect({ idle: idle.socket.destroyed, busy: busy.socket.destroyed, result }).toEqual({
      idle: true,
      busy: false,
      result: undefined,
    });
    t.unaryEnded(busy.connection);
    busy.socket.destroy(); // what its HTTP/2 session does once the answer is flushed after GOAWAY
    await jest.advanceTimersByTimeAsync(0);
    expect(result).toBe(0);
  });

  it('GIVEN the last call ended but its connection stays open THEN it is destroyed after the flush grace', async () => {
    const t = table();
    const busy = connect(t, 1);
    t.unaryStarted(busy.connection);
    let result: number | undefined;
    void t.drain(60_000).then((r) => (result = r));
    t.unaryEnded(busy.connection);
    await jest.advanceTimersByTimeAsync(DRAIN_FLUSH_GRACE_MS - 1);
    expect({ destroyed: busy.socket.destroyed, result }).toEqual({ destroyed: false, result: undefined });
    await jest.advanceTimersByTimeAsync(1);
    expect({ destroyed: busy.socket.destroyed, result }).toEqual({ destroyed: true, result: 0 });
  });

  it('GIVEN calls still in flight at the timeout THEN it resolves with their number', async () => {
    const t = table();
    const busy = connect(t, 1);
    t.unaryStarted(busy.connection);
    t.unaryStarted(busy.connection);
    const drained = t.drain(5_000);
    await jest.advanceTimersByTimeAsync(5_000);
    await expect(drained).resolves.toBe(2);
    expect(busy.socket.destroyed).toBe(false);
    t.destroyAll();
    expect(busy.socket.destroyed).toBe(true);
  });

  it('GIVEN streaming calls THEN they are ended, not waited for, also when one starts while draining', () => {
    const t = table();
    const { connection } = connect(t, 1);
    const ended: string[] = [];
    const watch = () => ended.push('watch');
    t.streamStarted(connection, watch);
    void t.drain(60_000);
    expect(ended).toEqual(['watch']);
    t.streamEnded(connection, watch);
    t.streamStarted(connection, () => ended.push('late'));
    expect(ended).toEqual(['watch', 'late']);
  });
});
