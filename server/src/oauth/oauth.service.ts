import {
  McpConfig,
  type McpOAuth,
  type OAuthConnection,
  type SetOAuthClientSecretInput,
} from '@gatehouse/schema';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { emitAudit } from '../audit/emit.js';
import { McpGrantEntity, McpServerEntity, McpVersionEntity } from '../catalog/entities.js';
import type { LiveMcp } from '../catalog/live-catalog.js';
import { groupIdsOf } from '../catalog/marketplace.service.js';
import { pkcePair, randomBase62, sha256Hex } from '../crypto/index.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import {
  requireAuthenticated,
  requireRole,
  type ServiceContext,
  systemContext,
  withTransaction,
} from '../platform/context.js';
import { DomainError, forbidden, preconditionFailed } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { OAUTH_ACCESS_TOKEN } from '../runtime/templating.js';
import { credentialSchema, openSealed, requireReachable, storeSealed } from '../vault/credentials.service.js';
import { StoredCredentialEntity } from '../vault/entities.js';
import type { Vault } from '../vault/vault.js';
import { OAuthConnectionEntity, OAuthStateEntity } from './entities.js';
import { fetchJson, type OutboundPolicy, outboundRequest } from './safe-http.js';

const REFRESH_TOKEN = 'oauth:refresh_token';
const CLIENT_SECRET = 'oauth:client_secret';
const PKCE_VERIFIER = 'oauth:pkce_verifier';
const STATE_TTL_MS = 10 * 60 * 1000;

interface Endpoints {
  authorization: string;
  token: string;
  revocation: string | null;
}

interface TokenSet {
  accessToken: string;
  refreshToken: string | null;
  expiresIn: number | null;
  scope: string | null;
}

/** A token endpoint's refusal: `invalid_grant` and friends mean the user must connect again. */
class TokenRefused extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
  ) {
    super(`token endpoint answered ${status} ${error}`);
  }
}

const reconnectMessage = (slug: string) =>
  `MCP "${slug}" needs you to connect your account again: open Connections in the Gatehouse portal and ` +
  'choose Connect';

const connectMessage = (slug: string) =>
  `MCP "${slug}" needs your account: open Connections in the Gatehouse portal and choose Connect`;

/** An OAuth error code if it is a plain token; free text is never echoed. */
const plainErrorCode = (code: unknown): string =>
  typeof code === 'string' && /^[\x20-\x7E]{1,64}$/.test(code) ? code : 'unknown_error';

/** The error code of an OAuth error answer body. */
const errorCodeOf = (body: string): string => {
  try {
    return plainErrorCode((JSON.parse(body) as { error?: unknown }).error);
  } catch {
    return 'unknown_error';
  }
};

interface ConnectionState {
  status: 'connected' | 'reconnect_needed' | 'none';
  expiresAt: number | null;
}

/**
 * The downstream OAuth client: connects users' accounts (authorization code + PKCE S256), keeps their access
 * tokens fresh (refresh ahead of expiry, one refresh per user and MCP at a time), and disconnects with
 * revocation. Tokens live in the vault; this service is the only one that opens them.
 */
export class DownstreamOAuth {
  private readonly states = new Map<string, ConnectionState>();
  private readonly refreshing = new Map<string, Promise<void>>();
  private readonly endpointCache = new Map<string, Endpoints>();

  constructor(
    private readonly deps: {
      em: () => EntityManager;
      vault: Vault;
      config: Config;
      changes: ChangeBus;
      clock: Clock;
    },
  ) {}

  private get policy(): OutboundPolicy {
    return this.deps.config.oauth;
  }

  async setClientSecret(ctx: ServiceContext, input: SetOAuthClientSecretInput): Promise<void> {
    const actor = requireRole(ctx, 'admin');
    const schema = await this.oauthConfig(ctx.em, input.mcpId);
    await withTransaction(ctx, async (tx) => {
      await storeSealed(
        tx.em,
        this.deps.vault,
        { owner: input.mcpId, mcpId: input.mcpId, field: CLIENT_SECRET },
        null,
        input.clientSecret,
        actor.userId,
      );
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'oauth.set_client_secret',
        target: { type: 'mcp', id: input.mcpId, label: schema.slug },
        details: {},
      });
    });
  }

  /** Starts the authorization-code flow from a portal session; returns where to send the browser. */
  async start(
    ctx: ServiceContext,
    mcpId: string,
    redirectUri: string,
  ): Promise<{ authorizationUrl: string }> {
    const actor = requireAuthenticated(ctx);
    if (actor.type !== 'user') throw forbidden('Connect an account from a portal session');
    await requireReachable(ctx, actor.userId, mcpId);
    const { slug, oauth, config } = await this.oauthConfig(ctx.em, mcpId);
    const endpoints = await this.endpoints(mcpId, oauth, config);
    const state = randomBase62(32);
    const pkce = pkcePair();
    await withTransaction(ctx, async (tx) => {
      await tx.em.nativeDelete(OAuthStateEntity, { expiresAt: { $lt: new Date() } });
      const { sealed } = await this.deps.vault.seal(
        tx.em,
        { owner: actor.userId, mcpId, field: PKCE_VERIFIER },
        pkce.verifier,
      );
      tx.em.create(OAuthStateEntity, {
        id: sha256Hex(state),
        user: actor.userId,
        sessionId: actor.sessionId,
        mcp: mcpId,
        verifierSealed: sealed,
        redirectUri,
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + STATE_TTL_MS),
        usedAt: null,
      });
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'oauth.connect_start',
        target: { type: 'mcp', id: mcpId, label: slug },
        details: { scopes: oauth.scopes },
      });
    });
    const url = new URL(endpoints.authorization);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', oauth.clientId);
    url.searchParams.set('redirect_uri', redirectUri);
    if (oauth.scopes.length > 0) url.searchParams.set('scope', oauth.scopes.join(' '));
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', pkce.challenge);
    url.searchParams.set('code_challenge_method', 'S256');
    if (oauth.resource) url.searchParams.set('resource', oauth.resource);
    return { authorizationUrl: url.toString() };
  }

  /**
   * The provider redirected the browser back. `ctx.actor` is whoever that browser is signed in as: the state
   * must be unused, unexpired, and issued to that very portal session.
   */
  async complete(
    ctx: ServiceContext,
    query: { state?: string; code?: string; error?: string },
  ): Promise<{ slug: string }> {
    if (!query.state) throw new DomainError('VALIDATION_FAILED', 'The callback has no state');
    const stateRow = await ctx.em.findOne(OAuthStateEntity, { id: sha256Hex(query.state) });
    if (!stateRow) return this.refuse(ctx, null, 'unknown state');
    const mcpId = stateRow.mcp.id;
    // Single use, whatever happens next: a replayed callback finds the state spent.
    const spent = await ctx.em.nativeUpdate(
      OAuthStateEntity,
      { id: stateRow.id, usedAt: null },
      { usedAt: new Date() },
    );
    if (spent === 0) return this.refuse(ctx, mcpId, 'state already used');
    if (stateRow.expiresAt.getTime() < Date.now()) return this.refuse(ctx, mcpId, 'state expired');
    const actor = ctx.actor;
    if (
      actor.type !== 'user' ||
      actor.sessionId !== stateRow.sessionId ||
      actor.userId !== stateRow.user.id
    ) {
      return this.refuse(ctx, mcpId, 'state was issued to another portal session');
    }
    if (query.error) return this.refuse(ctx, mcpId, `the provider refused: ${plainErrorCode(query.error)}`);
    if (!query.code) return this.refuse(ctx, mcpId, 'the callback has no code');
    const { slug, oauth, config } = await this.oauthConfig(ctx.em, mcpId);
    const verifier = await this.deps.vault.open(
      ctx.em,
      { owner: actor.userId, mcpId, field: PKCE_VERIFIER },
      stateRow.verifierSealed,
    );
    let tokens: TokenSet;
    try {
      tokens = await this.tokenRequest(ctx.em, mcpId, oauth, await this.endpoints(mcpId, oauth, config), {
        grant_type: 'authorization_code',
        code: query.code,
        redirect_uri: stateRow.redirectUri,
        code_verifier: verifier,
      });
    } catch (error) {
      const reason =
        error instanceof TokenRefused ? `token exchange refused (${error.error})` : 'token exchange failed';
      return this.refuse(ctx, mcpId, reason);
    }
    await this.storeTokens(ctx, mcpId, actor.userId, oauth, tokens, 'oauth.connect', slug);
    return { slug };
  }

  private async refuse(ctx: ServiceContext, mcpId: string | null, reason: string): Promise<never> {
    await withTransaction(ctx, (tx) =>
      emitAudit(tx, {
        action: 'oauth.connect_failed',
        outcome: 'denied',
        reason,
        ...(mcpId && { target: { type: 'mcp', id: mcpId } }),
      }),
    );
    throw new DomainError('FORBIDDEN', `The connection was refused: ${reason}`);
  }

  private async storeTokens(
    ctx: ServiceContext,
    mcpId: string,
    userId: string,
    oauth: McpOAuth,
    tokens: TokenSet,
    action: 'oauth.connect' | 'oauth.refresh',
    slug: string,
  ): Promise<void> {
    const expiresAt = tokens.expiresIn === null ? null : new Date(Date.now() + tokens.expiresIn * 1000);
    await withTransaction(
      ctx,
      async (tx) => {
        const slot = (field: string) => ({ owner: userId, mcpId, field });
        const by = ctx.actor.type === 'user' ? ctx.actor.userId : 'system';
        await storeSealed(tx.em, this.deps.vault, slot(OAUTH_ACCESS_TOKEN), userId, tokens.accessToken, by);
        if (tokens.refreshToken) {
          await storeSealed(tx.em, this.deps.vault, slot(REFRESH_TOKEN), userId, tokens.refreshToken, by);
        }
        const scopes = tokens.scope ? tokens.scope.split(' ').filter(Boolean) : oauth.scopes;
        const existing = await tx.em.findOne(OAuthConnectionEntity, { user: userId, mcp: mcpId });
        if (existing) {
          existing.status = 'connected';
          existing.scopes = scopes;
          existing.expiresAt = expiresAt;
          existing.hasRefreshToken = existing.hasRefreshToken || tokens.refreshToken !== null;
          if (action === 'oauth.connect') existing.connectedAt = new Date();
          else existing.refreshedAt = new Date();
        } else {
          tx.em.create(OAuthConnectionEntity, {
            id: newId('oauthConnection'),
            user: userId,
            mcp: mcpId,
            status: 'connected',
            scopes,
            expiresAt,
            hasRefreshToken: tokens.refreshToken !== null,
            connectedAt: new Date(),
            refreshedAt: null,
          });
        }
        await tx.em.flush();
        await emitAudit(tx, {
          action,
          target: { type: 'mcp', id: mcpId, label: slug },
          details: {
            user: userId,
            scopes,
            expiresInSeconds: tokens.expiresIn,
            refreshTokenIssued: tokens.refreshToken !== null,
          },
        });
      },
      { kind: 'credentials', mcpId, userId },
    );
    this.states.set(`${mcpId}/${userId}`, { status: 'connected', expiresAt: expiresAt?.getTime() ?? null });
  }

  /**
   * Before a call on a user's OAuth MCP: fine when the token is not near expiry (no database read once
   * known); otherwise one refresh per user and MCP, which concurrent calls share.
   */
  async ensureFresh(live: LiveMcp, userId: string): Promise<void> {
    const key = `${live.mcpId}/${userId}`;
    const state = this.states.get(key) ?? (await this.loadState(live.mcpId, userId));
    if (state.status === 'none') throw preconditionFailed(connectMessage(live.slug));
    if (state.status === 'reconnect_needed') throw preconditionFailed(reconnectMessage(live.slug));
    if (state.expiresAt === null || state.expiresAt - this.deps.config.oauth.refreshMarginMs > Date.now())
      return;
    let refresh = this.refreshing.get(key);
    if (!refresh) {
      refresh = this.refresh(live, userId).finally(() => this.refreshing.delete(key));
      this.refreshing.set(key, refresh);
    }
    await refresh;
  }

  private async loadState(mcpId: string, userId: string): Promise<ConnectionState> {
    const row = await this.deps.em().findOne(OAuthConnectionEntity, { user: userId, mcp: mcpId });
    const state: ConnectionState = row
      ? { status: row.status, expiresAt: row.expiresAt?.getTime() ?? null }
      : { status: 'none', expiresAt: null };
    this.states.set(`${mcpId}/${userId}`, state);
    return state;
  }

  private async refresh(live: LiveMcp, userId: string): Promise<void> {
    const ctx = systemContext(this.deps.em(), this.deps.config, this.deps.changes, this.deps.clock);
    const oauth = live.config.oauth;
    if (!oauth) return;
    const refreshToken = await ctx.em.transactional(async (em) => {
      // Another node (or an earlier holder of the lock) may have refreshed meanwhile.
      const row = await em.findOne(
        OAuthConnectionEntity,
        { user: userId, mcp: live.mcpId },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (row?.status !== 'connected') return { done: true as const };
      if (row.expiresAt && row.expiresAt.getTime() - this.deps.config.oauth.refreshMarginMs > Date.now()) {
        return { done: true as const };
      }
      const token = await openSealed(em as EntityManager, this.deps.vault, {
        owner: userId,
        mcpId: live.mcpId,
        field: REFRESH_TOKEN,
      });
      return { done: false as const, token };
    });
    if (refreshToken.done) {
      await this.loadState(live.mcpId, userId);
      return;
    }
    if (!refreshToken.token) return this.needReconnect(ctx, live, userId, 'no refresh token');
    let tokens: TokenSet;
    try {
      tokens = await this.tokenRequest(
        ctx.em,
        live.mcpId,
        oauth,
        await this.endpoints(live.mcpId, oauth, live.config),
        {
          grant_type: 'refresh_token',
          refresh_token: refreshToken.token,
        },
      );
    } catch (error) {
      if (error instanceof TokenRefused && error.status >= 400 && error.status < 500) {
        return this.needReconnect(ctx, live, userId, `refresh refused (${error.error})`);
      }
      throw error instanceof DomainError
        ? error
        : new DomainError(
            'DOWNSTREAM_UNAVAILABLE',
            `The OAuth provider of MCP "${live.slug}" could not refresh the token`,
          );
    }
    await this.storeTokens(ctx, live.mcpId, userId, oauth, tokens, 'oauth.refresh', live.slug);
  }

  private async needReconnect(
    ctx: ServiceContext,
    live: LiveMcp,
    userId: string,
    reason: string,
  ): Promise<never> {
    await withTransaction(
      ctx,
      async (tx) => {
        await tx.em.nativeUpdate(
          OAuthConnectionEntity,
          { user: userId, mcp: live.mcpId },
          { status: 'reconnect_needed' },
        );
        await tx.em.nativeDelete(StoredCredentialEntity, {
          mcp: live.mcpId,
          owner: userId,
          field: { $in: [OAUTH_ACCESS_TOKEN, REFRESH_TOKEN] },
        });
        await emitAudit(tx, {
          action: 'oauth.refresh_failed',
          outcome: 'failure',
          reason,
          target: { type: 'mcp', id: live.mcpId, label: live.slug },
          details: { user: userId },
        });
      },
      { kind: 'credentials', mcpId: live.mcpId, userId },
    );
    this.states.set(`${live.mcpId}/${userId}`, { status: 'reconnect_needed', expiresAt: null });
    throw preconditionFailed(reconnectMessage(live.slug));
  }

  /** The caller's OAuth MCPs (published, granted) and their connection state. */
  async list(ctx: ServiceContext): Promise<{ items: OAuthConnection[] }> {
    const actor = requireAuthenticated(ctx);
    const groups = await groupIdsOf(ctx, actor.userId);
    const grants = await ctx.em.find(McpGrantEntity, { group: { $in: groups } });
    const mcps = await ctx.em.find(
      McpServerEntity,
      { id: { $in: [...new Set(grants.map((grant) => grant.mcp.id))] }, status: 'published' },
      { orderBy: { name: 'asc' } },
    );
    const versions = await ctx.em.find(McpVersionEntity, {
      id: { $in: mcps.flatMap((mcp) => (mcp.liveVersionId ? [mcp.liveVersionId] : [])) },
    });
    const oauthVersions = new Set(
      versions
        .filter((version) => McpConfig.parse(version.config).oauth !== null)
        .map((version) => version.id),
    );
    const connections = await ctx.em.find(OAuthConnectionEntity, { user: actor.userId });
    const byMcp = new Map(connections.map((connection) => [connection.mcp.id, connection]));
    return {
      items: mcps
        .filter((mcp) => mcp.liveVersionId && oauthVersions.has(mcp.liveVersionId))
        .map((mcp) => {
          const connection = byMcp.get(mcp.id);
          return {
            mcpId: mcp.id,
            mcpSlug: mcp.slug,
            mcpName: mcp.name,
            status: connection?.status ?? 'not_connected',
            scopes: connection?.scopes ?? [],
            expiresAt: connection?.expiresAt?.toISOString() ?? null,
            connectedAt: connection?.connectedAt.toISOString() ?? null,
          };
        }),
    };
  }

  /** Forgets the caller's tokens for an MCP, revoking them at the provider when it supports RFC 7009. */
  async disconnect(ctx: ServiceContext, mcpId: string): Promise<{ revokedAtProvider: boolean }> {
    const actor = requireAuthenticated(ctx);
    const { slug, oauth, config } = await this.oauthConfig(ctx.em, mcpId);
    const connection = await ctx.em.findOne(OAuthConnectionEntity, { user: actor.userId, mcp: mcpId });
    if (!connection) throw new DomainError('NOT_FOUND', `You have no connection for MCP "${slug}"`);
    const slot = (field: string) => ({ owner: actor.userId, mcpId, field });
    const refreshToken = await openSealed(ctx.em, this.deps.vault, slot(REFRESH_TOKEN));
    const accessToken = await openSealed(ctx.em, this.deps.vault, slot(OAUTH_ACCESS_TOKEN));
    let revokedAtProvider = false;
    const endpoints = await this.endpoints(mcpId, oauth, config).catch(() => null);
    const token = refreshToken ?? accessToken;
    if (endpoints?.revocation && token) {
      try {
        const response = await this.clientRequest(ctx.em, mcpId, oauth, endpoints.revocation, {
          token,
          token_type_hint: refreshToken ? 'refresh_token' : 'access_token',
        });
        revokedAtProvider = response.status === 200;
      } catch {
        revokedAtProvider = false;
      }
    }
    await withTransaction(
      ctx,
      async (tx) => {
        await tx.em.nativeDelete(StoredCredentialEntity, {
          mcp: mcpId,
          owner: actor.userId,
          field: { $in: [OAUTH_ACCESS_TOKEN, REFRESH_TOKEN] },
        });
        await tx.em.nativeDelete(OAuthConnectionEntity, { id: connection.id });
        await emitAudit(tx, {
          action: 'oauth.disconnect',
          target: { type: 'mcp', id: mcpId, label: slug },
          details: { revokedAtProvider },
        });
      },
      { kind: 'credentials', mcpId, userId: actor.userId },
    );
    this.states.set(`${mcpId}/${actor.userId}`, { status: 'none', expiresAt: null });
    return { revokedAtProvider };
  }

  private async oauthConfig(
    em: EntityManager,
    mcpId: string,
  ): Promise<{ slug: string; oauth: McpOAuth; config: McpConfig }> {
    const { slug, config } = await credentialSchema(em, mcpId);
    if (!config.oauth) throw new DomainError('PRECONDITION_FAILED', `MCP "${slug}" does not use OAuth`);
    return { slug, oauth: config.oauth, config };
  }

  /** Configured endpoints, or discovered once per MCP: issuer metadata, or the downstream's RFC 9728 document. */
  private async endpoints(mcpId: string, oauth: McpOAuth, config: McpConfig): Promise<Endpoints> {
    if (oauth.authorizationEndpoint && oauth.tokenEndpoint) {
      return {
        authorization: oauth.authorizationEndpoint,
        token: oauth.tokenEndpoint,
        revocation: oauth.revocationEndpoint,
      };
    }
    const cacheKey = `${mcpId}:${JSON.stringify(oauth)}`;
    const cached = this.endpointCache.get(cacheKey);
    if (cached) return cached;
    let issuer = oauth.issuer;
    if (!issuer && config.connection.transport !== 'stdio') {
      const resource = new URL(config.connection.url);
      const path = resource.pathname === '/' ? '' : resource.pathname;
      const metadata = await fetchJson(
        this.policy,
        `${resource.origin}/.well-known/oauth-protected-resource${path}`,
      );
      const servers = metadata.authorization_servers;
      issuer = Array.isArray(servers) && typeof servers[0] === 'string' ? servers[0] : null;
    }
    if (!issuer)
      throw new DomainError(
        'PRECONDITION_FAILED',
        'No OAuth authorization server is configured or advertised',
      );
    const metadata = await this.issuerMetadata(issuer);
    const text = (name: string) => (typeof metadata[name] === 'string' ? (metadata[name] as string) : null);
    const authorization = oauth.authorizationEndpoint ?? text('authorization_endpoint');
    const token = oauth.tokenEndpoint ?? text('token_endpoint');
    if (!authorization || !token) {
      throw new DomainError(
        'DOWNSTREAM_FAILED',
        `The metadata of ${new URL(issuer).origin} names no authorization or token endpoint`,
      );
    }
    const methods = metadata.code_challenge_methods_supported;
    if (Array.isArray(methods) && !methods.includes('S256')) {
      throw new DomainError('DOWNSTREAM_FAILED', `${new URL(issuer).origin} does not support PKCE with S256`);
    }
    const endpoints = {
      authorization,
      token,
      revocation: oauth.revocationEndpoint ?? text('revocation_endpoint'),
    };
    this.endpointCache.set(cacheKey, endpoints);
    return endpoints;
  }

  /** RFC 8414, then OpenID Connect discovery; the document must name the issuer it was fetched for. */
  private async issuerMetadata(issuer: string): Promise<Record<string, unknown>> {
    const url = new URL(issuer);
    const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
    const candidates = [
      `${url.origin}/.well-known/oauth-authorization-server${path}`,
      `${url.origin}${path}/.well-known/openid-configuration`,
    ];
    let lastError: unknown;
    for (const candidate of candidates) {
      try {
        const metadata = await fetchJson(this.policy, candidate);
        if (metadata.issuer !== issuer && metadata.issuer !== issuer.replace(/\/$/, '')) {
          throw new DomainError('DOWNSTREAM_FAILED', `The metadata at ${candidate} is for another issuer`);
        }
        return metadata;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  private async tokenRequest(
    em: EntityManager,
    mcpId: string,
    oauth: McpOAuth,
    endpoints: Endpoints,
    params: Record<string, string>,
  ): Promise<TokenSet> {
    const response = await this.clientRequest(em, mcpId, oauth, endpoints.token, {
      ...params,
      ...(oauth.resource && { resource: oauth.resource }),
    });
    if (response.status !== 200) throw new TokenRefused(response.status, errorCodeOf(response.body));
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(response.body) as Record<string, unknown>;
    } catch {
      throw new TokenRefused(response.status, 'invalid_response');
    }
    if (typeof parsed.access_token !== 'string' || parsed.access_token.length === 0) {
      throw new TokenRefused(response.status, 'invalid_response');
    }
    return {
      accessToken: parsed.access_token,
      refreshToken: typeof parsed.refresh_token === 'string' ? parsed.refresh_token : null,
      expiresIn: typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : null,
      scope: typeof parsed.scope === 'string' ? parsed.scope : null,
    };
  }

  /** A form POST with client authentication: HTTP Basic with the sealed secret, or a public client id. */
  private async clientRequest(
    em: EntityManager,
    mcpId: string,
    oauth: McpOAuth,
    endpoint: string,
    params: Record<string, string>,
  ) {
    const secret = await openSealed(em, this.deps.vault, { owner: mcpId, mcpId, field: CLIENT_SECRET });
    const body = new URLSearchParams(params);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (secret) {
      const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
      headers.authorization = `Basic ${Buffer.from(`${encode(oauth.clientId)}:${encode(secret)}`).toString('base64')}`;
    } else {
      body.set('client_id', oauth.clientId);
    }
    return outboundRequest(this.policy, endpoint, { method: 'POST', headers, body: body.toString() });
  }
}
