import * as grpc from '@grpc/grpc-js';
import { bounded, NO_CALL_OPTIONS, resolveCallOptions } from '../../packages/client/src/call-options';
import { IdClientError } from '../../packages/client/src/errors';
import { rejection, thrown } from '../helpers/client-rejection';

describe('resolveCallOptions', () => {
  it('GIVEN nothing THEN no signal, no deadline, no metadata', () => {
    expect(resolveCallOptions('NextId', undefined)).toBe(NO_CALL_OPTIONS);
    expect(resolveCallOptions('NextId', {})).toEqual(NO_CALL_OPTIONS);
  });

  it('GIVEN a Date, ms since the epoch or Infinity THEN the deadline is ms since the epoch', () => {
    expect(resolveCallOptions('NextId', { deadline: new Date(1_700_000_000_000) }).deadlineMs).toBe(
      1_700_000_000_000,
    );
    expect(resolveCallOptions('NextId', { deadline: 1_700_000_000_001 }).deadlineMs).toBe(1_700_000_000_001);
    expect(resolveCallOptions('NextId', { deadline: Infinity }).deadlineMs).toBe(Infinity);
  });

  it('GIVEN a plain object of metadata THEN it becomes grpc-js Metadata, arrays as repeated values', () => {
    const { metadata } = resolveCallOptions('BatchIds', {
      metadata: { 'X-Request-Id': 'r-1', tenant: ['a', 'b'], 'trace-bin': Buffer.from([7]) },
    });
    expect(metadata).toBeInstanceOf(grpc.Metadata);
    expect(metadata?.get('x-request-id')).toEqual(['r-1']);
    expect(metadata?.get('tenant')).toEqual(['a', 'b']);
    expect(metadata?.get('trace-bin')).toEqual([Buffer.from([7])]);
  });

  it('GIVEN grpc-js Metadata THEN it is used as it is', () => {
    const m = new grpc.Metadata();
    m.set('k', 'v');
    expect(resolveCallOptions('BatchIds', { metadata: m }).metadata).toBe(m);
  });

  it.each<[string, unknown, string]>([
    ['options that are not an object', 5, 'BatchIds: options must be an object; got number 5'],
    [
      'a signal that is not an AbortSignal',
      { signal: {} },
      'options.signal must be an AbortSignal; got an instance of Object',
    ],
    [
      'an Invalid Date',
      { deadline: new Date('nope') },
      'options.deadline must be a Date or ms since the Unix epoch',
    ],
    ['a NaN deadline', { deadline: Number.NaN }, 'got number NaN'],
    ['a text deadline', { deadline: '2030-01-01' }, 'got string "2030-01-01"'],
    [
      'metadata that is an array',
      { metadata: [['k', 'v']] },
      'options.metadata must be a grpc-js Metadata or an object',
    ],
    [
      'a metadata key grpc-js refuses',
      { metadata: { 'bad key': 'v' } },
      'options.metadata "bad key": Metadata key "bad key" contains illegal characters',
    ],
    ['text under a -bin key', { metadata: { 'x-bin': 'text' } }, 'options.metadata "x-bin":'],
    ['a Buffer under a text key', { metadata: { x: Buffer.from('a') } }, 'options.metadata "x":'],
    ['a Map', { metadata: new Map([['k', 'v']]) }, 'is not a Metadata of the @grpc/grpc-js this client uses'],
  ])('GIVEN %s THEN INVALID_ARGUMENT saying what is wrong', (_name, options, message) => {
    const err = thrown(() => resolveCallOptions('BatchIds', options as never));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(message);
  });

  it('GIVEN Metadata of another copy of grpc-js THEN INVALID_ARGUMENT naming the cause', () => {
    let other: typeof grpc | undefined;
    jest.isolateModules(() => {
      other = jest.requireActual<typeof grpc>('@grpc/grpc-js');
    });
    expect(other?.Metadata).not.toBe(grpc.Metadata);
    const err = thrown(() => resolveCallOptions('BatchIds', { metadata: new other!.Metadata() }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('another copy of grpc-js?');
  });
});

describe('bounded', () => {
  const never = () => new Promise<string>(() => undefined);

  it('GIVEN neither signal nor deadline THEN it is the promise itself', () => {
    const p = Promise.resolve('x');
    expect(bounded('NextId', p, NO_CALL_OPTIONS)).toBe(p);
  });

  it('GIVEN an abort THEN CANCELLED at once with the reason, and a later value is dropped', async () => {
    const abort = new AbortController();
    let resolveLater: (v: string) => void = () => undefined;
    const p = bounded('NextId', new Promise<string>((r) => (resolveLater = r)), {
      ...NO_CALL_OPTIONS,
      signal: abort.signal,
    });
    abort.abort('stop');
    resolveLater('too late');
    const err = await rejection(p);
    expect([err.code, err.cause]).toEqual(['CANCELLED', 'stop']);
  });

  it('GIVEN a deadline that passes THEN DEADLINE_EXCEEDED', async () => {
    const err = await rejection(
      bounded('NextId', never(), { ...NO_CALL_OPTIONS, deadlineMs: Date.now() + 20 }),
    );
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(err.message).toMatch(/^NextId: the call's deadline .* passed while it waited$/);
  });

  it('GIVEN the promise settles first THEN its value or error, untouched', async () => {
    const abort = new AbortController();
    const call = { signal: abort.signal, deadlineMs: Date.now() + 60_000, metadata: undefined };
    await expect(bounded('NextId', Promise.resolve('v'), call)).resolves.toBe('v');
    const failure = new IdClientError('ALL_SERVERS_UNAVAILABLE', 'down');
    await expect(bounded('NextId', Promise.reject(failure), call)).rejects.toBe(failure);
    abort.abort();
  });
});
