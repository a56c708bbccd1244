import fc from 'fast-check';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { protoPath } from 'grpc-health-check';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  HEALTH_CHECK,
} from '../../packages/client/src/health-wire';

// The reference: protobufjs with the published grpc.health.v1 health.proto (the copy grpc-health-check,
// the server's health service, ships), against the client's hand-written codec.
const root = protobuf.loadSync(path.resolve(protoPath));
const Request = root.lookupType('grpc.health.v1.HealthCheckRequest');
const Response = root.lookupType('grpc.health.v1.HealthCheckResponse');
const STATUSES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

describe('grpc.health.v1 Check codec of the client (no proto-loader)', () => {
  it('GIVEN any service name (empty, non-ASCII, longer than one varint byte) THEN the request is what protobufjs reads', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'grapheme', minLength: 100, maxLength: 400 })),
        (service) => {
          const bytes = encodeHealthCheckRequest({ service });
          expect(Request.toObject(Request.decode(bytes), { defaults: true })).toEqual({ service });
          // protobufjs writes an empty string out; proto3 leaves a default field out, as this codec does.
          if (service !== '')
            expect(Buffer.from(bytes)).toEqual(Buffer.from(Request.encode({ service }).finish()));
          else expect(bytes).toHaveLength(0);
        },
      ),
    );
  });

  it.each(STATUSES.map((s, i) => [s, i] as const))(
    'GIVEN protobufjs encodes status %s THEN it decodes to that name',
    (name, value) => {
      expect(decodeHealthCheckResponse(Response.encode({ status: value }).finish())).toEqual({
        status: name,
      });
    },
  );

  it('GIVEN no bytes (proto3 default) THEN UNKNOWN', () => {
    expect(decodeHealthCheckResponse(new Uint8Array())).toEqual({ status: 'UNKNOWN' });
  });

  it('GIVEN unknown fields around the status THEN they are skipped', () => {
    const status = Buffer.from(Response.encode({ status: 2 }).finish());
    // field 2 varint 300, field 3 bytes "ab", field 4 fixed32, field 5 fixed64
    const unknown = Buffer.from([
      0x10, 0xac, 0x02, 0x1a, 0x02, 0x61, 0x62, 0x25, 1, 2, 3, 4, 0x29, 1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    expect(decodeHealthCheckResponse(Buffer.concat([unknown, status]))).toEqual({ status: 'NOT_SERVING' });
  });

  it.each<[string, Uint8Array, RegExp]>([
    [
      'a status health.proto does not define',
      Response.encode({ status: 4 }).finish(),
      /unknown ServingStatus 4/,
    ],
    ['a negative status', Response.encode({ status: -1 }).finish(), /unknown ServingStatus -1/],
    ['a truncated varint', new Uint8Array([0x08, 0x80]), /truncated varint/],
    ['a truncated field', new Uint8Array([0x1a, 0x05, 0x61]), /truncated field/],
  ])('GIVEN %s THEN it throws (grpc-js fails the call)', (_name, bytes, message) => {
    expect(() => decodeHealthCheckResponse(bytes)).toThrow(message);
  });

  it('is the method /grpc.health.v1.Health/Check', () => {
    expect(HEALTH_CHECK.path).toBe(`/${root.lookupService('grpc.health.v1.Health').fullName.slice(1)}/Check`);
    expect(HEALTH_CHECK.requestSerialize({ service: 'x' })).toEqual(Buffer.from([0x0a, 0x01, 0x78]));
  });
});
