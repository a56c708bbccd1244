import { checkLayout, DEFAULT_LAYOUT, layoutEndMs, type Layout } from '../../src/core/layout';
import { InvalidLayoutError } from '../../src/errors';

const with_ = (patch: Partial<Layout>): Layout => ({ ...DEFAULT_LAYOUT, ...patch });

describe('checkLayout', () => {
  it.each<[string, Layout]>([
    ['the default 41|5|5|12 layout', DEFAULT_LAYOUT],
    [
      'a sonyflake-like 39|0|16|8 layout in 10 ms units',
      with_({ timestampBits: 39, datacenterBits: 0, workerBits: 16, sequenceBits: 8, timeUnitMs: 10 }),
    ],
    ['no node bits at all', with_({ timestampBits: 42, datacenterBits: 0, workerBits: 0, sequenceBits: 21 })],
    ['a Unix-epoch layout', with_({ epochMs: 0 })],
  ])('GIVEN %s THEN accepts it', (_name, layout) => {
    expect(() => {
      checkLayout(layout);
    }).not.toThrow();
  });

  it.each<[string, Partial<Layout>, RegExp]>([
    [
      'bits summing to 64',
      { sequenceBits: 13 },
      /timestampBits \+ datacenterBits \+ workerBits \+ sequenceBits must sum to 63; got 41 \+ 5 \+ 5 \+ 13 = 64/,
    ],
    ['bits summing to 62', { sequenceBits: 11 }, /must sum to 63; got .* = 62/],
    [
      '0 timestamp bits',
      { timestampBits: 0, sequenceBits: 53 },
      /timestampBits must be an integer from 1 to 63; got 0/,
    ],
    [
      '32 worker bits',
      { workerBits: 32, timestampBits: 14 },
      /workerBits must be an integer from 0 to 31; got 32/,
    ],
    ['fractional bits', { sequenceBits: 11.5, workerBits: 5.5 }, /workerBits must be an integer/],
    ['negative datacenter bits', { datacenterBits: -1 }, /datacenterBits must be an integer from 0 to 31/],
    ['a time unit of 0', { timeUnitMs: 0 }, /timeUnitMs must be an integer from 1 to 86400000 ms; got 0/],
    ['a fractional time unit', { timeUnitMs: 1.5 }, /timeUnitMs must be an integer/],
    ['an epoch before 1970', { epochMs: -1 }, /epochMs must be a whole number of ms at or after 1970-01-01/],
    ['a range that runs past year 9999', { timestampBits: 51, sequenceBits: 2 }, /run past year 9999/],
  ])('GIVEN %s THEN refuses it with InvalidLayoutError', (_name, patch, message) => {
    const act = () => {
      checkLayout(with_(patch));
    };
    expect(act).toThrow(InvalidLayoutError);
    expect(act).toThrow(message);
  });
});

describe('layoutEndMs', () => {
  it('GIVEN the default layout THEN it ends 2^41 ms after 2020-01-01 (2089-09-06T15:47:35.552Z)', () => {
    expect(new Date(layoutEndMs(DEFAULT_LAYOUT)).toISOString()).toBe('2089-09-06T15:47:35.552Z');
  });

  it('GIVEN 10 ms units THEN the range is ten times longer', () => {
    const base = layoutEndMs(DEFAULT_LAYOUT) - DEFAULT_LAYOUT.epochMs;
    expect(layoutEndMs(with_({ timeUnitMs: 10 })) - DEFAULT_LAYOUT.epochMs).toBe(base * 10);
  });
});
