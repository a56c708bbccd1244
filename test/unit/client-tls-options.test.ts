import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import { DEFAULT_LAYOUT } from '@snowflake-id/client/contract';
import { IdClientError } from '../../packages/client/src/errors';
import { resolveClientOptions, type IdClientOptions } from '../../packages/client/src/options';
import { CLIENT_EXTENSIONS, createTestPki, SERVER_EXTENSIONS, type TestPki } from '../helpers/certificates';

// The client's security and layout options: `tls` (PEM inline or as files, checked when the client is
// created), `credentials` (only grpc-js's own), `layout`. Certificates are made with openssl.

const addresses = ['127.0.0.1:50051'];
let pki: TestPki;
const pem = (name: string) => fs.readFileSync(pki.file(name));

beforeAll(() => {
  pki = createTestPki('snowflake-client-tls-options-');
  pki.makeCa('ca');
  pki.makeCert('client', 'ca', CLIENT_EXTENSIONS);
  pki.makeCert('other', 'ca', SERVER_EXTENSIONS);
  fs.writeFileSync(pki.file('garbage.pem'), 'not a certificate\n');
  fs.writeFileSync(
    pki.file('broken.crt'),
    `${pem('ca.crt').toString()}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`,
  );
}, 30_000);

afterAll(() => {
  pki.dispose();
});

function refusal(options: Partial<IdClientOptions>): IdClientError {
  try {
    resolveClientOptions({ addresses, ...options });
  } catch (err) {
    if (err instanceof IdClientError) return err;
    throw err;
  }
  throw new Error('expected INVALID_OPTIONS');
}

describe('client options: tls, credentials, layout', () => {
  it.each<[string, () => IdClientOptions['tls']]>([
    ['a CA file path', () => ({ ca: pki.file('ca.crt') })],
    ['a CA Buffer', () => ({ ca: pem('ca.crt') })],
    ['a CA as PEM text', () => ({ ca: pem('ca.crt').toString() })],
    [
      'mutual TLS from files',
      () => ({ ca: pki.file('ca.crt'), cert: pki.file('client.crt'), key: pki.file('client.key') }),
    ],
    [
      'mutual TLS from Buffers',
      () => ({ ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') }),
    ],
    ["no CA: Node's bundled roots", () => ({})],
  ])('GIVEN tls with %s THEN the channel is secure', (_name, tls) => {
    const o = resolveClientOptions({ addresses, tls: tls() });
    expect(o.credentials._isSecure()).toBe(true);
    expect(o.channelOptions['grpc.ssl_target_name_override']).toBeUndefined();
  });

  it('GIVEN tls.serverName THEN the certificate is checked against that name', () => {
    const o = resolveClientOptions({ addresses, tls: { ca: pem('ca.crt'), serverName: 'ids.internal' } });
    expect(o.channelOptions['grpc.ssl_target_name_override']).toBe('ids.internal');
  });

  it('GIVEN neither tls nor credentials THEN plaintext', () => {
    expect(resolveClientOptions({ addresses }).credentials._isSecure()).toBe(false);
  });

  it('GIVEN credentials of this grpc-js THEN they are used as they are', () => {
    const credentials = grpc.credentials.createSsl(pem('ca.crt'));
    expect(resolveClientOptions({ addresses, credentials }).credentials).toBe(credentials);
  });

  it.each<[string, () => Partial<IdClientOptions>, string]>([
    [
      'a CA file that does not exist',
      () => ({ tls: { ca: pki.file('missing.crt') } }),
      `tls.ca: cannot read <dir>/missing.crt: ENOENT`,
    ],
    [
      'a CA file without a certificate',
      () => ({ tls: { ca: pki.file('garbage.pem') } }),
      'tls.ca: no PEM certificate in <dir>/garbage.pem',
    ],
    [
      'a CA bundle with a broken certificate',
      () => ({ tls: { ca: pki.file('broken.crt') } }),
      'tls.ca: certificate 2 in <dir>/broken.crt does not parse',
    ],
    ['an empty CA path', () => ({ tls: { ca: '' } }), 'tls.ca must be PEM (a Buffer or text) or a file path'],
    [
      'a cert without its key',
      () => ({ tls: { cert: pem('client.crt') } }),
      'tls.cert and tls.key go together',
    ],
    [
      'a key without its cert',
      () => ({ tls: { key: pem('client.key') } }),
      'tls.cert and tls.key go together',
    ],
    [
      'a key that is not the certificate’s',
      () => ({ tls: { cert: pki.file('client.crt'), key: pki.file('other.key') } }),
      'tls.cert/tls.key (<dir>/client.crt, <dir>/other.key):',
    ],
    [
      'a key that is not PEM',
      () => ({ tls: { cert: pem('client.crt'), key: Buffer.from('nope') } }),
      'tls.cert/tls.key (',
    ],
    [
      'a serverName with a space',
      () => ({ tls: { serverName: 'a b' } }),
      'tls.serverName must be a host name',
    ],
    [
      'tls and credentials together',
      () => ({ tls: {}, credentials: grpc.credentials.createInsecure() }),
      'tls and credentials exclude each other',
    ],
    [
      'credentials that are a plain object',
      () => ({ credentials: {} as unknown as grpc.ChannelCredentials }),
      'credentials must be a ChannelCredentials of the @grpc/grpc-js this client uses',
    ],
    [
      'a layout whose widths sum to 64',
      () => ({ layout: { ...DEFAULT_LAYOUT, sequenceBits: 13 } }),
      'layout.timestampBits + layout.datacenterBits + layout.workerBits + layout.sequenceBits must sum to 63; got 41 + 5 + 5 + 13 = 64',
    ],
    [
      'a layout with a fractional epoch',
      () => ({ layout: { ...DEFAULT_LAYOUT, epochMs: 0.5 } }),
      'layout.epochMs must be a whole number of ms at or after 1970-01-01; got 0.5',
    ],
    [
      'a layout with a time unit of 0',
      () => ({ layout: { ...DEFAULT_LAYOUT, timeUnitMs: 0 } }),
      'layout.timeUnitMs must be an integer from 1 to 86400000 ms; got 0',
    ],
    // The rules are the servers' (the contract's layoutProblem): the client once accepted these two.
    [
      'a layout with a 32-bit datacenter field',
      () => ({ layout: { ...DEFAULT_LAYOUT, timestampBits: 14, datacenterBits: 32 } }),
      'layout.datacenterBits must be an integer from 0 to 31; got 32',
    ],
    [
      'a layout that runs past year 9999',
      () => ({ layout: { ...DEFAULT_LAYOUT, timeUnitMs: 1000 } }),
      '41 timestamp bits (layout.timestampBits) of 1000 ms (layout.timeUnitMs) run past year 9999',
    ],
  ])('GIVEN %s THEN INVALID_OPTIONS naming it', (_name, options, message) => {
    const err = refusal(options());
    expect(err.code).toBe('INVALID_OPTIONS');
    expect(err.message).toContain(message.replaceAll('<dir>', pki.dir));
  });

  it('GIVEN credentials made by another copy of @grpc/grpc-js THEN INVALID_OPTIONS at once, naming the cause', () => {
    let other: typeof grpc | undefined;
    jest.isolateModules(() => {
      other = jest.requireActual<typeof grpc>('@grpc/grpc-js');
    });
    expect(other?.ChannelCredentials).not.toBe(grpc.ChannelCredentials);
    const err = refusal({ credentials: other!.credentials.createInsecure() });
    expect(err.code).toBe('INVALID_OPTIONS');
    expect(err.message).toContain('got an instance of InsecureChannelCredentialsImpl');
    expect(err.message).toContain('Another copy of @grpc/grpc-js made it?');
  });

  it('GIVEN a valid layout THEN it is kept as a frozen copy', () => {
    const layout = { ...DEFAULT_LAYOUT, workerBits: 6, sequenceBits: 11 };
    const o = resolveClientOptions({ addresses, layout });
    expect(o.layout).toEqual(layout);
    expect(o.layout).not.toBe(layout);
    expect(Object.isFrozen(o.layout)).toBe(true);
  });
});
