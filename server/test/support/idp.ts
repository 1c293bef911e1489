import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/** A person at the company's identity provider. */
export interface IdpAccount {
  sub: string;
  preferred_username: string;
  name: string;
  email: string;
  groups: string[];
  /** The `email_verified` claim: true unless given; `null` leaves the claim out. */
  emailVerified?: boolean | null;
  /** Other claims as sent; a `sub` here replaces the ID token's (to send one of another type or shape). */
  extraClaims?: Record<string, unknown>;
  /** A disabled account: the IdP refuses the sign-in with `access_denied`. */
  disabled?: boolean;
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Who is at the IdP's login screen: the IdP signs this account in without a form. */
  signInAs(account: string): void;
  setGroups(account: string, groups: string[]): void;
  disable(account: string): void;
  /** The next ID token the token endpoint issues has one character of its signature changed. */
  tamperNextIdToken(): void;
  /** How many token requests the IdP answered (to show a refusal happened before or after the exchange). */
  tokenRequests(): number;
  /** How many times its discovery document was fetched. */
  discoveryRequests(): number;
  close(): Promise<void>;
}

/**
 * The company's OpenID provider for the SSO tests: a real oidc-provider on http://127.0.0.1, with its own
 * accounts and their `groups` claims (carried in the ID token), PKCE required, one confidential client.
 * Its login and consent screens are replaced by a handler that signs in whoever `signInAs` names and grants
 * what was asked; a disabled account gets `access_denied` back at the relying party.
 */
export async function startTestIdp(options: {
  redirectUri: string;
  accounts: Record<string, IdpAccount>;
}): Promise<TestIdp> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'gatehouse-portal';
  const clientSecret = `idp-client-secret-${randomBytes(16).toString('hex')}`;
  const accounts = new Map(Object.entries(options.accounts).map(([key, value]) => [key, { ...value }]));
  const bySub = (sub: string) => [...accounts.values()].find((account) => account.sub === sub);
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    // The claims of the granted scopes go into the ID token itself (as Keycloak, Entra ID and Okta can do).
    conformIdTokenClaims: false,
    ttl: {
      AccessToken: 300,
      AuthorizationCode: 60,
      IdToken: 300,
      Interaction: 600,
      Grant: 600,
      Session: 600,
    },
    findAccount: async (_ctx, sub) => {
      const account = bySub(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        claims: async () => ({
          sub,
          email: account.email,
          ...(account.emailVerified !== null && { email_verified: account.emailVerified ?? true }),
          name: account.name,
          preferred_username: account.preferred_username,
          groups: [...account.groups],
          ...account.extraClaims,
        }),
      };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: [randomBytes(16).toString('hex')] },
  });
  // oidc-provider always sets `sub` to the (non-empty string) account id: an account's `extraClaims.sub`
  // replaces it in the ID token it signs, as a faulty or hostile provider would send it.
  const payloadOf = provider.IdToken.prototype.payload;
  provider.IdToken.prototype.payload = async function payload(this: unknown) {
    const claims = (await payloadOf.call(this)) as Record<string, unknown>;
    const account = typeof claims.sub === 'string' ? bySub(claims.sub) : undefined;
    if (account?.extraClaims && 'sub' in account.extraClaims) claims.sub = account.extraClaims.sub;
    return claims;
  };
  const state = { account: '', tamper: false, tokenRequests: 0, discoveryRequests: 0 };
  const callback = provider.callback();
  server.on('request', async (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (req.url?.startsWith('/.well-known/openid-configuration')) state.discoveryRequests++;
      if (req.url?.startsWith('/token')) {
        state.tokenRequests++;
        if (state.tamper) {
          state.tamper = false;
          tamperIdTokenOf(res);
        }
      }
      if (!req.url?.startsWith('/interaction/')) return callback(req, res);
      const details = await provider.interactionDetails(req, res);
      const prompt = details.prompt as { name: string; details: Record<string, string[] | undefined> };
      const account = accounts.get(state.account);
      if (prompt.name === 'login') {
        if (!account || account.disabled) {
          await provider.interactionFinished(req, res, {
            error: 'access_denied',
            error_description: 'The account is disabled',
          });
          return;
        }
        await provider.interactionFinished(req, res, { login: { accountId: account.sub } });
        return;
      }
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: String(details.session?.accountId), clientId });
      if (!grant) throw new Error('grant vanished');
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
      await provider.interactionFinished(
        req,
        res,
        { consent: { grantId: await grant.save() } },
        { mergeWithLastSubmission: true },
      );
    } catch (error) {
      res.statusCode = 500;
      res.end(String(error));
    }
  });
  const accountOf = (name: string) => {
    const account = accounts.get(name);
    if (!account) throw new Error(`no IdP account ${name}`);
    return account;
  };
  return {
    issuer,
    clientId,
    clientSecret,
    signInAs: (name) => {
      state.account = name;
    },
    setGroups: (name, groups) => {
      accountOf(name).groups = [...groups];
    },
    disable: (name) => {
      accountOf(name).disabled = true;
    },
    tamperNextIdToken: () => {
      state.tamper = true;
    },
    tokenRequests: () => state.tokenRequests,
    discoveryRequests: () => state.discoveryRequests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Rewrites the token endpoint's answer: one character in the middle of the ID token's signature changes. */
function tamperIdTokenOf(res: ServerResponse) {
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return end(chunk, ...rest);
    const body = JSON.parse(Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk)) as {
      id_token?: string;
    };
    if (body.id_token) {
      const [header, payload, signature = ''] = body.id_token.split('.');
      const at = Math.floor(signature.length / 2);
      const swapped = signature[at] === 'A' ? 'B' : 'A';
      body.id_token = `${header}.${payload}.${signature.slice(0, at)}${swapped}${signature.slice(at + 1)}`;
    }
    const text = JSON.stringify(body);
    if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(text));
    return end(text, ...rest);
  }) as typeof res.end;
}

/**
 * A minimal cookie-keeping HTTP "browser" for the flows the tests drive without Chromium: one jar for
 * 127.0.0.1 (cookies do not separate ports), redirects followed by hand so a test can stop or alter a step.
 */
export function httpBrowser() {
  const jar = new Map<string, string>();
  async function get(url: string, cookies: Map<string, string> = jar): Promise<Response> {
    const header = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, { redirect: 'manual', headers: header ? { cookie: header } : {} });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (!value || /max-age=0|expires=thu, 01 jan 1970/i.test(cookie)) jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  }
  /** Follows redirects from `start` until `stop(url)` holds (that URL is not fetched) or an answer is final. */
  async function follow(start: string, stop: (url: URL) => boolean): Promise<string> {
    let url = start;
    for (let hop = 0; hop < 20; hop++) {
      if (stop(new URL(url))) return url;
      const response = await get(url);
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location) {
        throw new Error(`stopped at ${response.status} ${url}: ${(await response.text()).slice(0, 300)}`);
      }
      url = new URL(location, url).toString();
    }
    throw new Error('too many redirects');
  }
  return { jar, get, follow };
}
