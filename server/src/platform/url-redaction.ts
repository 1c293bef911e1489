/**
 * Query-string credentials: `?access_token=…`, `?key=…` and the like. The MCP endpoint refuses them, and no
 * log line on either port shows the query string of a request that carries one. Matched by parameter name,
 * case-insensitively, broadly on purpose: a false positive only hides a query string from the log.
 */
const CREDENTIAL_PARAM = /token|key|secret|passw|pwd|auth|bearer|session|signature|^sig$|^code$|credential/i;

/** Whether a request target (`/mcp?access_token=…`) carries a credential-like query parameter. */
export function hasQueryCredential(url: string): boolean {
  const query = url.indexOf('?');
  if (query < 0) return false;
  for (const pair of url.slice(query + 1).split('&')) {
    const equals = pair.indexOf('=');
    const raw = equals < 0 ? pair : pair.slice(0, equals);
    let name = raw;
    try {
      name = decodeURIComponent(raw.replace(/\+/g, ' '));
    } catch {
      // An undecodable name is judged as written.
    }
    if (CREDENTIAL_PARAM.test(name)) return true;
  }
  return false;
}

/** The request target as it may be logged: without its query string when that carries a credential. */
export function redactUrl(url: string): string {
  return hasQueryCredential(url) ? `${url.slice(0, url.indexOf('?'))}?[redacted]` : url;
}
