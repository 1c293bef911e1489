import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';

/**
 * Test pieces for the authorization server for MCP clients (ADR 0033), shared by the HTTP suites
 * (`server/test/oauth-server/`) and the portal's browser end-to-end test.
 */

/** An HTTPS server on 127.0.0.1 (self-signed) serving Client ID Metadata Documents, by path. */
export interface CimdServer {
  readonly origin: string;
  /** The Gatehouse env that trusts its certificate and lets Gatehouse fetch from a loopback address. */
  readonly env: Record<string, string>;
  /** Serves `document` at `path`; its client id is the returned URL unless the document names another. */
  publish(path: string, document: (url: string) => Record<string, unknown>): string;
  /** How many times each path was fetched. */
  readonly fetches: Map<string, number>;
  close(): Promise<void>;
}

export async function startCimdServer(): Promise<CimdServer> {
  const { generate } = await import('selfsigned');
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 3_600_000),
    notAfterDate: new Date(now.getTime() + 86_400_000),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-cimd-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, pems.cert);
  const documents = new Map<string, Record<string, unknown>>();
  const fetches = new Map<string, number>();
  const server = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    const url = req.url ?? '/';
    fetches.set(url, (fetches.get(url) ?? 0) + 1);
    const document = documents.get(url);
    if (!document) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
    res.end(JSON.stringify(document));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    env: {
      GATEHOUSE_OAUTH_CA_FILE: caFile,
      GATEHOUSE_OAUTH_ALLOW_PRIVATE_NETWORKS: 'true',
      GATEHOUSE_OAUTH_CIMD_ALLOW_PRIVATE_NETWORKS: 'true',
    },
    fetches,
    publish(pathname, document) {
      const url = `${origin}${pathname}`;
      documents.set(pathname, document(url));
      return url;
    },
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A CIMD document of a public native client whose redirect URI is a loopback one. */
export const cimdDocument =
  (redirectUri: string, extra: Record<string, unknown> = {}) =>
  (url: string): Record<string, unknown> => ({
    client_id: url,
    client_name: 'Test CIMD client',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    ...extra,
  });

/**
 * The SDK's `OAuthClientProvider`, implemented in memory for tests: it records the authorization URL the SDK
 * would open in a browser instead of opening it. With `clientMetadataUrl` it uses CIMD; without, DCR.
 */
export class TestOAuthClient implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  private information: OAuthClientInformationMixed | undefined;
  private saved: OAuthTokens | undefined;
  private verifier = '';
  readonly clientMetadataUrl: string | undefined;

  constructor(
    readonly redirect: string,
    options: { clientMetadataUrl?: string; name?: string } = {},
  ) {
    this.clientMetadataUrl = options.clientMetadataUrl;
    this.name = options.name ?? 'Test DCR client';
  }

  private readonly name: string;

  get redirectUrl(): string {
    return this.redirect;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.name,
      redirect_uris: [this.redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  clientInformation() {
    return this.information;
  }

  saveClientInformation(information: OAuthClientInformationMixed) {
    this.information = information;
  }

  tokens() {
    return this.saved;
  }

  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }

  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }

  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }

  codeVerifier() {
    return this.verifier;
  }
}

/** A cookie jar for one browser, enough for oidc-provider's cookies and the portal session. */
export class CookieJar {
  private readonly cookies = new Map<string, { value: string; path: string }>();

  constructor(initial = '') {
    for (const pair of initial.split(';').filter(Boolean)) {
      const [name = '', ...rest] = pair.trim().split('=');
      this.cookies.set(name, { value: rest.join('='), path: '/' });
    }
  }

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = header.split(';');
      const [name = '', ...rest] = pair.trim().split('=');
      const value = rest.join('=');
      const pathAttribute = attributes.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='));
      const cookiePath = pathAttribute ? pathAttribute.slice(5) : '/';
      const expired = attributes.some((a) => /expires=Thu, 01 Jan 1970/i.test(a)) || value === '';
      if (expired) this.cookies.delete(`${name}@${cookiePath}`);
      else this.cookies.set(`${name}@${cookiePath}`, { value, path: cookiePath });
    }
  }

  /** Sets (or replaces) one cookie `name=value` for every path, as a sign-in would. */
  set(pair: string): void {
    const [name = '', ...rest] = pair.trim().split('=');
    for (const key of [...this.cookies.keys()]) {
      if (key === name || key.startsWith(`${name}@`)) this.cookies.delete(key);
    }
    this.cookies.set(`${name}@/`, { value: rest.join('='), path: '/' });
  }

  header(url: string): string {
    const { pathname } = new URL(url);
    return [...this.cookies.entries()]
      .filter(([, cookie]) => pathname.startsWith(cookie.path))
      .map(([key, cookie]) => `${key.split('@')[0]}=${cookie.value}`)
      .join('; ');
  }
}

/** One browser navigation without following redirects, cookies kept in `jar`. */
export async function navigate(
  jar: CookieJar,
  url: string,
  init: RequestInit = {},
): Promise<{ response: Response; location: string | null }> {
  const response = await fetch(url, {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers as Record<string, string>), cookie: jar.header(url) },
  });
  jar.store(response);
  const location = response.headers.get('location');
  return { response, location: location ? new URL(location, url).toString() : null };
}

export interface ConsentOptions {
  portalUrl: string;
  /** The portal session cookie (`name=value`) of the person consenting; none to act signed out. */
  sessionCookie?: string;
  /** What is consented; by default, every MCP offered with all its tools. */
  subscriptions?: (details: ConsentDetails) => { mcpId: string; tools: string[] | null }[];
  /** Decline instead of consenting. */
  deny?: boolean;
  /** The browser's cookie jar, to carry oidc-provider's cookies from one authorization to the next. */
  jar?: CookieJar;
}

export interface ConsentDetails {
  uid: string;
  client: Record<string, unknown> & { clientId: string; registration: string; domain: string };
  resource: string;
  existingClient: { id: string; name: string } | null;
  mcps: {
    id: string;
    slug: string;
    tools: { name: string }[];
    subscribed: boolean;
    selectedTools: string[] | null;
  }[];
}

/**
 * The consent step over HTTP, as the portal page does it: follow the authorization URL to the interaction,
 * read its details, confirm (or deny), and follow oidc-provider back to the client's redirect URI. Returns the
 * redirect with its query (`code` and `state`, or `error`).
 */
export async function consentOverHttp(
  authorizationUrl: URL | string,
  options: ConsentOptions,
): Promise<{ redirect: URL; details: ConsentDetails }> {
  const jar = options.jar ?? new CookieJar();
  if (options.sessionCookie) jar.set(options.sessionCookie);
  const start = await navigate(jar, String(authorizationUrl));
  if (!start.location?.includes('/oauth/interaction/')) {
    throw new Error(
      `authorization did not lead to an interaction: ${start.response.status} ${await start.response.text()}`,
    );
  }
  const interaction = await navigate(jar, start.location);
  const uid = start.location.split('/oauth/interaction/')[1] ?? '';
  if (!interaction.location?.endsWith(`/#/consent/${uid}`))
    throw new Error('the interaction did not lead to the consent page');
  const detailsResponse = await navigate(jar, `${options.portalUrl}/oauth/interaction/${uid}/details`);
  if (detailsResponse.response.status !== 200) {
    throw new Error(`details: ${detailsResponse.response.status} ${await detailsResponse.response.text()}`);
  }
  const details = (await detailsResponse.response.json()) as ConsentDetails;
  const subscriptions =
    options.subscriptions?.(details) ?? details.mcps.map((mcp) => ({ mcpId: mcp.id, tools: null }));
  const answer = await navigate(
    jar,
    `${options.portalUrl}/oauth/interaction/${uid}/${options.deny ? 'deny' : 'confirm'}`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: options.portalUrl },
      body: JSON.stringify(options.deny ? {} : { subscriptions }),
    },
  );
  if (answer.response.status !== 200) {
    throw new Error(`consent: ${answer.response.status} ${await answer.response.text()}`);
  }
  let next: string | null = ((await answer.response.json()) as { redirectTo: string }).redirectTo;
  for (let hop = 0; hop < 5 && next; hop++) {
    if (!next.startsWith(options.portalUrl)) return { redirect: new URL(next), details };
    const hop = await navigate(jar, next);
    if (!hop.location)
      throw new Error(`oidc-provider answered ${hop.response.status}: ${await hop.response.text()}`);
    next = hop.location;
  }
  throw new Error('oidc-provider did not redirect back to the client');
}

/** A session cookie `name=value` from a signed-in portal client's state. */
export const sessionCookieOf = (portal: { state: { cookie: string } }) => portal.state.cookie;
