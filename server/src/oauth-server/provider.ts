import type { EntityManager } from '@mikro-orm/postgresql';
import type Provider from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC, errors as OidcErrors } from 'oidc-provider';
import { UserEntity } from '../identity/entities.js';
import type { Config } from '../platform/config.js';
import type { Orm } from '../platform/db.js';
import type { OAuthRecords } from './adapter.js';
import { guardedFetch } from './guarded-fetch.js';
import type { ServerSecrets } from './keys.js';
import type { PublicUrls } from './resources.js';

export const INTERACTION_PATH = '/oauth/interaction';
export const MCP_SCOPE = 'mcp';

/** The paths oidc-provider serves on the portal port (the discovery document is also answered at RFC 8414's). */
export const PROVIDER_ROUTES = {
  authorization: '/oauth/authorize',
  token: '/oauth/token',
  registration: '/oauth/register',
  revocation: '/oauth/revoke',
  jwks: '/oauth/jwks',
  userinfo: '/oauth/userinfo',
  introspection: '/oauth/introspect',
  code_verification: '/oauth/device',
  device_authorization: '/oauth/device/auth',
  backchannel_authentication: '/oauth/backchannel',
  challenge: '/oauth/challenge',
} as const;

/**
 * Members oidc-provider recognises that Gatehouse never accepts from a client: key material, URIs it would
 * fetch or trust, and what belongs to features that are off. Unknown members are dropped by oidc-provider;
 * the accepted ones are redirect_uris, client_name, client_uri, logo_uri, token_endpoint_auth_method,
 * grant_types, response_types, scope, software_id, software_version, tos_uri, policy_uri, contacts and
 * application_type (ADR 0033).
 */
const REFUSED_MEMBERS = [
  'jwks',
  'jwks_uri',
  'sector_identifier_uri',
  'post_logout_redirect_uris',
  'request_uris',
  'initiate_login_uri',
  'backchannel_logout_uri',
  'frontchannel_logout_uri',
  'default_acr_values',
  'default_max_age',
  'tls_client_auth_subject_dn',
  'tls_client_auth_san_dns',
  'tls_client_auth_san_uri',
  'tls_client_auth_san_ip',
  'tls_client_auth_san_email',
  'token_endpoint_auth_signing_alg',
  'request_object_signing_alg',
  'request_object_encryption_alg',
  'request_object_encryption_enc',
  'userinfo_encrypted_response_alg',
  'userinfo_encrypted_response_enc',
  'id_token_encrypted_response_alg',
  'id_token_encrypted_response_enc',
  'introspection_encrypted_response_alg',
  'introspection_encrypted_response_enc',
  'authorization_encrypted_response_alg',
  'authorization_encrypted_response_enc',
];

/** The members a registration (DCR) may send; anything else is refused, not silently dropped. */
const ACCEPTED_MEMBERS = new Set([
  'redirect_uris',
  'client_name',
  'client_uri',
  'logo_uri',
  'token_endpoint_auth_method',
  'grant_types',
  'response_types',
  'scope',
  'software_id',
  'software_version',
  'tos_uri',
  'policy_uri',
  'contacts',
  'application_type',
]);

/** Bounds on client metadata (DCR and CIMD alike), checked before oidc-provider's own validation. */
const LIMITS = { redirectUris: 10, uri: 2048, name: 200 };
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export const isLoopbackRedirect = (uri: string): boolean => {
  const url = URL.parse(uri);
  return url?.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
};

/**
 * What a client may register or publish: public clients (`none`) of the code flow only; redirect URIs https,
 * or http on a loopback address (RFC 8252), each bounded. A client whose redirect URIs include a loopback one is
 * a native application, for which oidc-provider ignores the loopback port when matching (RFC 8252 §7.3);
 * every other redirect URI is matched exactly.
 */
function checkClientMetadata(errors: typeof OidcErrors, metadata: Record<string, unknown>): void {
  const invalid = (message: string) => new errors.InvalidClientMetadata(message);
  const refused = REFUSED_MEMBERS.find((key) => metadata[key] !== undefined);
  if (refused) throw invalid(`${refused} is not accepted`);
  const uris = metadata.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0)
    throw new errors.InvalidRedirectUri('redirect_uris must contain members');
  if (uris.length > LIMITS.redirectUris) throw invalid(`at most ${LIMITS.redirectUris} redirect_uris`);
  for (const uri of uris) {
    if (typeof uri !== 'string' || uri.length > LIMITS.uri)
      throw new errors.InvalidRedirectUri('redirect_uris must be URLs of at most 2048 characters');
    const url = URL.parse(uri);
    if (!url || !(url.protocol === 'https:' || isLoopbackRedirect(uri)))
      throw new errors.InvalidRedirectUri(
        'redirect_uris must be https URLs, or http URLs on a loopback address',
      );
  }
  for (const key of ['client_name', 'software_id', 'client_uri', 'logo_uri', 'policy_uri', 'tos_uri']) {
    const value = metadata[key];
    const limit = key === 'client_name' || key === 'software_id' ? LIMITS.name : LIMITS.uri;
    if (value !== undefined && (typeof value !== 'string' || value.length > limit))
      throw invalid(`${key} is too long`);
  }
  if (metadata.token_endpoint_auth_method !== 'none')
    throw invalid('only public clients (token_endpoint_auth_method "none") are supported');
  const grants = (metadata.grant_types as string[] | undefined) ?? [];
  if (grants.some((grant) => grant !== 'authorization_code' && grant !== 'refresh_token'))
    throw invalid('grant_types may only be authorization_code and refresh_token');
  if (uris.some((uri) => isLoopbackRedirect(uri as string))) metadata.application_type = 'native';
}

export interface ProviderDeps {
  config: Config;
  orm: Orm;
  records: OAuthRecords;
  secrets: ServerSecrets;
  urls: PublicUrls;
  /** Whether an MCP with this slug exists (a token may only be bound to an existing endpoint). */
  mcpExists(slug: string): Promise<boolean>;
}

/**
 * The authorization server for MCP clients (ADR 0033): oidc-provider, configured for the authorization code
 * flow with PKCE S256 only, resource indicators bound to this Gatehouse's MCP endpoints, opaque short-lived
 * access tokens, rotating refresh tokens, revocation, dynamic registration of public clients and Client ID
 * Metadata Documents fetched through Gatehouse's SSRF guard.
 */
export async function createProvider(deps: ProviderDeps): Promise<Provider> {
  // Loaded on first use (ADR 0029): an installation whose clients only use keys never loads it.
  const { default: ProviderClass, errors } = await import('oidc-provider');
  const { config, urls } = deps;
  const ttl = config.oauthServer;
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  const configuration: Configuration = {
    adapter: deps.records.adapterClass(),
    jwks: deps.secrets.jwks as Configuration['jwks'],
    cookies: { keys: deps.secrets.cookieKeys },
    clients: [],
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    },
    responseTypes: ['code'],
    scopes: [MCP_SCOPE],
    claims: { openid: ['sub'] },
    pkce: { required: () => true },
    routes: PROVIDER_ROUTES,
    interactions: { url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}` },
    // Every authorization asks the person: a grant is only ever the one their consent just made.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    findAccount: async (_ctx, id) => {
      const em = deps.orm.em.fork() as EntityManager;
      const user = await em.findOne(UserEntity, { id });
      if (user?.status !== 'active') return undefined;
      return { accountId: id, claims: async () => ({ sub: id }) };
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: ttl.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 3600,
      Grant: ttl.refreshTokenTtlSeconds,
      // An absolute lifetime from the first issue: rotation never extends a family.
      RefreshToken: (_ctx, token) =>
        Math.max(1, (token.iiat ?? nowSeconds()) + ttl.refreshTokenTtlSeconds - nowSeconds()),
    },
    extraClientMetadata: {
      properties: ['software_id'],
      validator: (ctx, key, _value, metadata) => {
        if (key !== 'software_id') return;
        // A registration's own body is checked member by member; a CIMD document by what oidc-provider kept.
        const body = ctx?.oidc?.route === 'registration' ? (ctx.oidc.body as Record<string, unknown>) : {};
        const unknown = Object.keys(body ?? {}).find((member) => !ACCEPTED_MEMBERS.has(member));
        if (unknown) throw new errors.InvalidClientMetadata(`${unknown.slice(0, 64)} is not accepted`);
        checkClientMetadata(errors, metadata as Record<string, unknown>);
      },
    },
    clientBasedCORS: (_ctx, origin, client) =>
      origin !== 'null' && client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) === true,
    // Only CIMD documents are fetched: the downstream OAuth allowance for private networks does not apply.
    fetch: guardedFetch({
      allowHttp: false,
      allowPrivateNetworks: config.oauthServer.cimdAllowPrivateNetworks,
      caFile: config.oauthServer.caFile,
    }) as unknown as Configuration['fetch'],
    renderError: async (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = {
        error: out.error,
        ...(out.error_description &&
          out.error !== 'server_error' && { error_description: out.error_description }),
      };
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: false },
      // Nothing is advertised that Gatehouse does not serve (the portal bridges only the routes it lists).
      pushedAuthorizationRequests: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      revocation: { enabled: true },
      registration: {
        enabled: true,
        initialAccessToken: false,
        issueRegistrationAccessToken: false,
      },
      clientIdMetadataDocument: {
        enabled: true,
        ack: 'draft-02',
      } as NonNullable<Configuration['features']>['clientIdMetadataDocument'],
      resourceIndicators: {
        enabled: true,
        // A client that names no resource gets a token for the aggregate endpoint.
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? urls.resourceOf(null),
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource) => {
          const target = urls.parse(resource);
          if (!target || (target.slug !== null && !(await deps.mcpExists(target.slug))))
            throw new errors.InvalidTarget('the resource is not an MCP endpoint of this Gatehouse');
          return {
            scope: MCP_SCOPE,
            audience: resource,
            accessTokenTTL: ttl.accessTokenTtlSeconds,
            accessTokenFormat: 'opaque',
          };
        },
      },
    } as Configuration['features'],
  };
  const provider = new ProviderClass(urls.issuer(), configuration);
  // Never trust X-Forwarded-* here: the bridge hands over the address Fastify decided on (trusted proxies).
  provider.proxy = false;
  return provider;
}

export type OidcContext = KoaContextWithOIDC;
