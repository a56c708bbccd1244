import fc from 'fast-check';
import * as protobuf from 'protobufjs';
import {
  decodeRichStatus,
  encodeRichStatus,
  ERROR_INFO_TYPE_URL,
  type ErrorInfo,
  type RichStatus,
} from '@snowflake-id/client/contract';

// The reference: protobufjs with the published google.rpc.Status and google.rpc.ErrorInfo (googleapis
// google/rpc/status.proto and error_details.proto), against the contract's hand-written codec.
const root = new protobuf.Root();
root.addJSON(protobuf.common.get('google/protobuf/any.proto')?.nested ?? {});
protobuf.parse(
  `syntax = "proto3";
   package google.rpc;
   import "google/protobuf/any.proto";
   message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
   message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
   message RetryInfo { int64 retry_delay_ms = 1; }`,
  root,
  { keepCase: true },
);
root.resolveAll();
const StatusType = root.lookupType('google.rpc.Status');
const ErrorInfoType = root.lookupType('google.rpc.ErrorInfo');
const RetryInfoType = root.lookupType('google.rpc.RetryInfo');

interface AnyObject {
  type_url: string;
  value: Uint8Array;
}

function referenceEncode(status: RichStatus, before: AnyObject[] = []): Uint8Array {
  const details = [...before];
  if (status.errorInfo !== undefined) {
    details.push({
      type_url: ERROR_INFO_TYPE_URL,
      value: ErrorInfoType.encode(ErrorInfoType.fromObject(status.errorInfo)).finish(),
    });
  }
  return StatusType.encode(
    StatusType.fromObject({ code: status.code, message: status.message, details }),
  ).finish();
}

function referenceDecode(bytes: Uint8Array): RichStatus {
  const status = StatusType.toObject(StatusType.decode(bytes), { defaults: true }) as {
    code: number;
    message: string;
    details: AnyObject[];
  };
  const info = status.details.find((d) => d.type_url === ERROR_INFO_TYPE_URL);
  return {
    code: status.code,
    message: status.message,
    errorInfo:
      info === undefined
        ? undefined
        : (ErrorInfoType.toObject(ErrorInfoType.decode(info.value), { defaults: true }) as ErrorInfo),
  };
}

const text = fc.string({ unit: 'binary', maxLength: 40 });
const errorInfos: fc.Arbitrary<ErrorInfo> = fc.record({
  reason: text,
  domain: text,
  metadata: fc.dictionary(text, text, { maxKeys: 6 }),
});
const statuses: fc.Arbitrary<RichStatus> = fc.record({
  code: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  message: text,
  errorInfo: fc.option(errorInfos, { nil: undefined }),
});

describe('google.rpc.Status codec of the contract', () => {
  it('GIVEN any status with or without an ErrorInfo THEN protobufjs decodes its bytes to the same status', () => {
    fc.assert(
      fc.property(statuses, (status) => {
        expect(referenceDecode(encodeRichStatus(status))).toEqual(status);
      }),
    );
  });

  it('GIVEN protobufjs bytes of any status, other details first THEN it decodes the same status', () => {
    const retryInfo: AnyObject = {
      type_url: 'type.googleapis.com/google.rpc.RetryInfo',
      value: RetryInfoType.encode(RetryInfoType.fromObject({ retry_delay_ms: 1500 })).finish(),
    };
    fc.assert(
      fc.property(statuses, fc.boolean(), (status, withOther) => {
        expect(decodeRichStatus(referenceEncode(status, withOther ? [retryInfo] : []))).toEqual(status);
      }),
    );
  });

  it('GIVEN an ErrorInfo metadata key __proto__ THEN it decodes as an own entry, not a prototype', () => {
    // JSON.parse makes `__proto__` an own key, as a map entry on the wire is.
    const metadata = JSON.parse('{"__proto__":"x","limit":"1"}') as Record<string, string>;
    const status: RichStatus = {
      code: 3,
      message: 'bad',
      errorInfo: { reason: 'R', domain: 'D', metadata },
    };
    const decoded = decodeRichStatus(referenceEncode(status));
    expect(Object.getPrototypeOf(decoded?.errorInfo?.metadata)).toBe(Object.prototype);
    expect(Object.keys(decoded?.errorInfo?.metadata ?? {})).toEqual(['__proto__', 'limit']);
    expect(decoded).toEqual(status);
  });

  it('GIVEN a status with unknown fields (a newer google.rpc.Status) THEN they are skipped', () => {
    const bytes = encodeRichStatus({ code: 14, message: 'refusing', errorInfo: undefined });
    // field 9, varint 300; field 10, length-delimited "xy"; field 11, fixed32; field 12, fixed64
    const unknown = [
      0x48, 0xac, 0x02, 0x52, 0x02, 0x78, 0x79, 0x5d, 1, 2, 3, 4, 0x61, 1, 2, 3, 4, 5, 6, 7, 8,
    ];
    expect(decodeRichStatus(Uint8Array.from([...unknown, ...bytes]))).toEqual({
      code: 14,
      message: 'refusing',
      errorInfo: undefined,
    });
  });

  it.each([
    ['truncated in a length', Uint8Array.from([0x12, 0x05, 0x61])],
    ['a varint longer than 10 bytes', Uint8Array.from([0x08, ...Array<number>(11).fill(0xff), 0x01])],
    ['field number 0', Uint8Array.from([0x02, 0x00])],
    ['the message field as a varint', Uint8Array.from([0x10, 0x01])],
    ['a group (wire type 3)', Uint8Array.from([0x4b, 0x4c])],
    ['a detail that is not an Any', Uint8Array.from([0x1a, 0x02, 0x08, 0x01])],
  ])('GIVEN bytes with %s THEN it is not a status (undefined)', (_n, bytes) => {
    expect(decodeRichStatus(bytes)).toBeUndefined();
  });
});
