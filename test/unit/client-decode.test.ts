import fc from 'fast-check';
import { composeId, DEFAULT_LAYOUT, MAX_ID, type Layout } from '@snowflake-id/client/contract';
import { decode, IdClientError } from '@snowflake-id/client';

/** 10 ms ticks since 2015 and a wide worker field, as a server could report it. */
const wideWorkers: Layout = {
  epochMs: Date.UTC(2015, 0, 1),
  timeUnitMs: 10,
  timestampBits: 40,
  datacenterBits: 2,
  workerBits: 13,
  sequenceBits: 8,
};

describe("the client's local decode", () => {
  it('GIVEN an ID of the default layout THEN it decodes offline with the RFC 3339 time', () => {
    expect(decode(573478797312139267n)).toEqual({
      id: 573478797312139267n,
      timestampMs: Date.UTC(2024, 4, 1, 12),
      timestamp: '2024-05-01T12:00:00.000Z',
      datacenterId: 1,
      workerId: 2,
      sequence: 3,
    });
  });

  it('GIVEN another layout (as GetInfo reports it) THEN the fields follow that layout', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 - 1 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 8191 }),
        fc.integer({ min: 0, max: 255 }),
        (tick, datacenterId, workerId, sequence) => {
          const id = composeId({ tick, datacenterId, workerId, sequence }, wideWorkers);
          const timestampMs = wideWorkers.epochMs + tick * 10;
          expect(decode(id, wideWorkers)).toEqual({
            id,
            timestampMs,
            timestamp: new Date(timestampMs).toISOString(),
            datacenterId,
            workerId,
            sequence,
          });
        },
      ),
    );
  });

  it.each<[string, unknown, Layout]>([
    ['2^63 (sign bit set)', MAX_ID + 1n, DEFAULT_LAYOUT],
    ['a negative ID', -1n, DEFAULT_LAYOUT],
    ['a number instead of a bigint', 42, DEFAULT_LAYOUT],
    ['widths summing to 64', 1n, { ...DEFAULT_LAYOUT, sequenceBits: 13 }],
    ['a fractional width', 1n, { ...DEFAULT_LAYOUT, workerBits: 4.5, sequenceBits: 12.5 }],
    ['an epoch past the last JS date', 1n, { ...DEFAULT_LAYOUT, epochMs: 9e15 }],
  ])('GIVEN %s THEN it throws IdClientError INVALID_ARGUMENT', (_n, id, layout) => {
    let thrown: unknown;
    try {
      decode(id as bigint, layout);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(IdClientError);
    expect(thrown).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
