import type { CredentialFieldState } from '@gatehouse/schema';

/** Form logic of the credentials screen, free of UI code so it can be tested. */

type FieldLike = Pick<CredentialFieldState, 'name' | 'secret' | 'value'>;

/** Secret inputs start empty (values are write-only); other fields show their stored value. */
export function initialInputs(fields: readonly FieldLike[]): Record<string, string> {
  return Object.fromEntries(fields.map((field) => [field.name, field.secret ? '' : (field.value ?? '')]));
}

/**
 * What to send to `credentials.set`: secrets the user typed, and non-secret values that changed. An empty
 * input keeps the stored value (clearing is done with Delete); secrets are sent exactly as typed.
 */
export function changedValues(
  fields: readonly FieldLike[],
  inputs: Readonly<Record<string, string>>,
): Record<string, string> {
  const values: Record<string, string> = {};
  for (const field of fields) {
    const input = inputs[field.name] ?? '';
    if (field.secret) {
      if (input !== '') values[field.name] = input;
    } else if (input.trim() !== '' && input !== (field.value ?? '')) {
      values[field.name] = input.trim();
    }
  }
  return values;
}

/**
 * The outcome of an OAuth connection the server's callback reports: `#/my/credentials?oauth=…`. The
 * `reason` in that link is not shown: anyone can write a link with any text, so the portal points to the
 * audited reason (My activity) instead.
 */
export type OAuthOutcome = { kind: 'connected'; mcp: string | null } | { kind: 'error' };

export function parseOAuthOutcome(params: URLSearchParams): OAuthOutcome | null {
  const outcome = params.get('oauth');
  if (outcome === 'connected') return { kind: 'connected', mcp: params.get('mcp') || null };
  if (outcome === 'error') return { kind: 'error' };
  return null;
}

/** A URL the browser may be sent to for authorization: http(s) only. */
export function isNavigableUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}
