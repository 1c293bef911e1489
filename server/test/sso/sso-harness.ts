import { expect } from 'vitest';
import { auditRows, type TestGatehouse } from '../support/gatehouse.js';
import { httpBrowser, type IdpAccount, type TestIdp } from '../support/idp.js';

/** An IdP account named `name` at `domain`, in the given groups. */
export const person = (name: string, groups: string[], domain = 'acme.test'): IdpAccount => ({
  sub: `sub-${name}-0001`,
  preferred_username: name,
  name: `${name[0]?.toUpperCase()}${name.slice(1)} Example`,
  email: `${name}@${domain}`,
  groups,
});

export interface SignInOptions {
  browser?: ReturnType<typeof httpBrowser>;
  returnTo?: string;
  alterAuthorizationUrl?: (url: URL) => void;
  beforeCallback?: () => void | Promise<void>;
}

/** Row counts and the SSO flow driven over HTTP, for a Gatehouse and IdP started in `beforeAll`. */
export function ssoHarness(env: () => { gh: TestGatehouse; idp: TestIdp }, slug = 'acme') {
  const count = async (sql: string, params: unknown[] = []) =>
    Number((await env().gh.db.query<{ n: string }>(sql, params))[0]?.n ?? 0);
  const sessions = () => count('select count(*) as n from portal_session');
  const users = () => count('select count(*) as n from app_user');
  const usersNamed = (username: string) =>
    count('select count(*) as n from app_user where username = $1', [username]);
  const failures = async (reason: string) =>
    (await auditRows(env().gh, 'auth.sso_login_failed')).filter((row) => row.details.reason === reason);

  /** Start → IdP → (optional steps) → callback; returns Gatehouse's answer to the callback. */
  async function signIn(account: string, options: SignInOptions = {}) {
    const { gh, idp } = env();
    const browser = options.browser ?? httpBrowser();
    idp.signInAs(account);
    const query = options.returnTo ? `?returnTo=${encodeURIComponent(options.returnTo)}` : '';
    const start = await browser.get(`${gh.portalUrl}/auth/sso/${slug}/start${query}`);
    expect(start.status).toBe(303);
    const authorizationUrl = new URL(start.headers.get('location') ?? '');
    expect(authorizationUrl.origin).toBe(idp.issuer);
    expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorizationUrl.searchParams.get('nonce')).toBeTruthy();
    expect(authorizationUrl.searchParams.get('state')).toBeTruthy();
    options.alterAuthorizationUrl?.(authorizationUrl);
    const callbackUrl = await browser.follow(authorizationUrl.toString(), (url) =>
      url.pathname.startsWith('/auth/sso/'),
    );
    const bindingCookie = browser.jar.get('gh_sso') ?? '';
    await options.beforeCallback?.();
    const callback = await browser.get(callbackUrl);
    expect(callback.status).toBe(303);
    return { browser, callbackUrl, bindingCookie, location: callback.headers.get('location') ?? '' };
  }

  return { count, sessions, users, usersNamed, failures, signIn };
}
