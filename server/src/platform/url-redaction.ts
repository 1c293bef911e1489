/**
 * Query-string credentials: `?access_token=…`, `?key=…`, `?x=gh_ck_…` and the like. The MCP endpoint refuses
 * them, and no log line on either port shows the query string of a request that carries one (the client
 * port logs no query string at all: `clientPortUrl`). Matched by parameter name, case-insensitively, and by
 * what a name or value looks like (one of our keys or tokens), broadly on purpose: a false positive only
 * hides a query string from the log.
 */
const CREDENTIAL_PARAM = /token|key|secret|passw|pwd|auth|bearer|session|signature|^sig$|^code$|credential/i;

/**
 * Our credentials by shape: client keys (`gh_ck_`), API tokens (`gh_at_`) anywhere in the text, and a portal
 * session token (exactly 32 base62 characters, `randomBase62(32)`) as the whole value.
 */
const CREDENTIAL_VALUE = /gh_(?:ck|at)_|^[0-9A-Za-z]{32}$/i;

const decoded = (raw: string): string => {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    // Undecodable text is judged as written.
    return raw;
  }
};

/** Whether a request target (`/mcp?access_token=…`, `/mcp?x=gh_ck_…`) carries a credential-like parameter. */
export function hasQueryCredential(url: string): boolean {
  const query = url.indexOf('?');
  if (query < 0) return false;
  for (const pair of url.slice(query + 1).split('&')) {
    const equals = pair.indexOf('=');
    const name = decoded(equals < 0 ? pair : pair.slice(0, equals));
    const value = equals < 0 ? '' : decoded(pair.slice(equals + 1));
    if (CREDENTIAL_PARAM.test(name) || CREDENTIAL_VALUE.test(name) || CREDENTIAL_VALUE.test(value))
      return true;
  }
  return false;
}

/**
 * Paths whose query string is never logged: single sign-on (`/auth/sso/…`) carries the provider's `code`,
 * `state` and error text, none of which has a use in a log line.
 */
const QUERYLESS_PATH = /^\/auth\/sso\//i;

/**
 * The request target as it may be logged: without its query string when that carries a credential, or for
 * a path whose query strings are never logged.
 */
export function redactUrl(url: string): string {
  if (!url.includes('?')) return url;
  return QUERYLESS_PATH.test(url) || hasQueryCredential(url) ? withoutQuery(url) : url;
}

/** The client port's request targets as logged: `/mcp` takes no query parameters, so none is ever shown. */
export function clientPortUrl(url: string): string {
  return url.includes('?') ? withoutQuery(url) : url;
}

const withoutQuery = (url: string) => `${url.slice(0, url.indexOf('?'))}?[redacted]`;
