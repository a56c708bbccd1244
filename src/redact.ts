/** What a secret is replaced with in messages and logs. */
export const REDACTED = '<redacted>';

/**
 * A URL's scheme, then its user-info up to the last `@` before the host. The user-info may contain
 * anything a careless value can (`/`, `?`, `#`, even `@`): it ends only at whitespace, quotes, angle
 * brackets or a comma (list separator), so a malformed URL is redacted too rather than half-printed.
 */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s"'`<>,]*)@/gi;

/**
 * `text` with the credentials of every URL in it, and every one of `secrets` wherever it appears,
 * replaced by {@link REDACTED}: `http://user:password@etcd-0:2379` → `http://<redacted>@etcd-0:2379`.
 * Everything else is kept. `secrets` catches what the URL pattern cannot: a library that reports the
 * address without its scheme (`dns:user:password@etcd-0:2379`), or a password on its own. Used on every
 * value, endpoint and foreign error message that can reach a log line, an error message or stderr.
 */
export function redactCredentials(text: string, secrets: readonly string[] = []): string {
  let redacted = text.replace(URL_CREDENTIALS, `$1${REDACTED}@`);
  for (const secret of secrets) if (secret !== '') redacted = redacted.split(secret).join(REDACTED);
  return redacted;
}

/**
 * The secret parts of `urls`, for {@link redactCredentials}: each user-info (`user:password`) and its
 * password, as written and percent-decoded. Empty for URLs without credentials.
 */
export function urlSecrets(urls: readonly string[]): string[] {
  const secrets = new Set<string>();
  for (const url of urls) {
    for (const m of url.matchAll(URL_CREDENTIALS)) {
      const userInfo = m[2] ?? '';
      const password = userInfo.slice(userInfo.indexOf(':') + 1);
      for (const s of [userInfo, password]) {
        secrets.add(s);
        secrets.add(percentDecoded(s));
      }
    }
  }
  secrets.delete('');
  // Longest first, so a user-info is replaced whole before its password part.
  return [...secrets].sort((a, b) => b.length - a.length);
}

function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
