/** Plain messages for the reason codes a failed single sign-on brings back (`#/?sso_error=…`). */
const messages: Record<string, string> = {
  state: 'The sign-in expired or was already used. Start again.',
  nonce: 'The identity provider’s answer did not belong to this sign-in. Start again.',
  id_token: 'The identity provider’s answer could not be verified. Ask your administrator.',
  token_exchange: 'The identity provider refused to complete the sign-in. Ask your administrator.',
  disabled: 'Your account at the identity provider cannot sign in (it may be disabled).',
  provider_error: 'The identity provider did not complete the sign-in.',
  provider_unavailable: 'The identity provider could not be reached. Try again later.',
  provider_disabled: 'This sign-in option was turned off while you were signing in.',
  domain: 'Your email domain is not allowed to sign in here.',
  suspended: 'Your Gatehouse account is suspended. Ask your administrator.',
  claims: 'The identity provider did not say who you are.',
  busy: 'Too many sign-ins are in progress. Try again in a few minutes.',
  unknown_provider: 'That sign-in option does not exist (any more).',
};

/** Reads and removes the reason from the address, so a reload does not show it again. */
export function takeSsoError(): string | undefined {
  const match = /[?&]sso_error=([a-z_]{1,40})/.exec(window.location.hash);
  if (!match?.[1]) return undefined;
  window.history.replaceState(null, '', `${window.location.pathname}#/`);
  return messages[match[1]] ?? 'Single sign-on failed.';
}

/** The hash route to come back to after signing in with a provider (the server accepts only this shape). */
export function returnToParam(): string {
  const hash = window.location.hash;
  return /^#\/[A-Za-z0-9/_-]{1,200}$/.test(hash) ? `?returnTo=${encodeURIComponent(hash)}` : '';
}
