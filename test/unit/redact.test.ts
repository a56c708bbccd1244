import { REDACTED, redactCredentials, urlSecrets } from '../../src/redact';

describe('redactCredentials', () => {
  it.each<[string, string, string]>([
    ['user and password', 'http://user:password@host:2379', `http://${REDACTED}@host:2379`],
    ['a bare token', 'https://t0k3n@etcd-0:2379', `https://${REDACTED}@etcd-0:2379`],
    ['an upper-case scheme', 'HTTPS://U:P@H:1', `HTTPS://${REDACTED}@H:1`],
    [
      'a list: each URL on its own',
      'http://a:pw1@h1:2379,http://h2:2379, https://u:pw2@[::1]:2379',
      `http://${REDACTED}@h1:2379,http://h2:2379, https://${REDACTED}@[::1]:2379`,
    ],
    ['a password with @ / ? # and :', 'http://u:p@ss/w?r#d:x@host:2379', `http://${REDACTED}@host:2379`],
    [
      'URLs inside a sentence',
      'claiming failed at etcd http://u:pw@h:2379: connect ECONNREFUSED 127.0.0.1:2379',
      `claiming failed at etcd http://${REDACTED}@h:2379: connect ECONNREFUSED 127.0.0.1:2379`,
    ],
    ['a quoted value', '"http://u:pw@h:2379"', `"http://${REDACTED}@h:2379"`],
    ['no credentials', 'http://host:2379/path?q=1', 'http://host:2379/path?q=1'],
    [
      'an e-mail address (no URL)',
      'mail ops@example.com or mailto:ops@example.com',
      'mail ops@example.com or mailto:ops@example.com',
    ],
    ['nothing', '', ''],
  ])('GIVEN %s THEN the credentials are gone and the rest is kept', (_name, text, expected) => {
    expect(redactCredentials(text)).toBe(expected);
    expect(redactCredentials(expected)).toBe(expected);
  });
});

describe('redactCredentials with known secrets (urlSecrets and passwords)', () => {
  it.each<[string, readonly string[], string, string]>([
    [
      'an address reported without its scheme (grpc-js: dns:user:password@host)',
      ['http://snowflake:pw-1@etcd-0:2379'],
      'Name resolution failed for target dns:snowflake:pw-1@etcd-0:2379',
      'Name resolution failed for target dns:<redacted>@etcd-0:2379',
    ],
    [
      'a password on its own',
      ['https://u:pw-2@h:2379'],
      'auth failed for password pw-2',
      'auth failed for password <redacted>',
    ],
    [
      'a percent-encoded password, decoded by the library',
      ['http://u:p%40ss@h:2379'],
      'user u with p@ss rejected; target u:p%40ss@h:2379',
      'user u with <redacted> rejected; target <redacted>@h:2379',
    ],
    [
      'endpoints without credentials',
      ['http://h:2379'],
      'connect ECONNREFUSED h:2379',
      'connect ECONNREFUSED h:2379',
    ],
  ])('GIVEN %s THEN it is redacted', (_name, urls, text, expected) => {
    expect(redactCredentials(text, urlSecrets(urls))).toBe(expected);
  });

  it('GIVEN a list of endpoints THEN urlSecrets has each user-info and password, longest first', () => {
    expect(urlSecrets(['http://a:pw-a@h1:1', 'http://h2:2', 'https://tok@h3:3'])).toEqual([
      'a:pw-a',
      'pw-a',
      'tok',
    ]);
  });
});
