import type { EntityManager } from '@mikro-orm/postgresql';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import { type AuditEntry, emitStandaloneAudit } from '../audit/emit.js';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import { McpServerEntity } from '../catalog/entities.js';
import { ClientEntity } from '../clients/entities.js';
import type { UserRow } from '../identity/entities.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import type { Actor } from '../platform/context.js';
import type { Orm } from '../platform/db.js';
import type { Vault } from '../vault/vault.js';
import { OAuthRecords } from './adapter.js';
import { loadServerSecrets } from './keys.js';
import { createProvider } from './provider.js';
import type { PublicUrls } from './resources.js';
import { OAuthTokens } from './tokens.js';

export interface AuthorizationServerDeps {
  orm: Orm;
  config: Config;
  clock: Clock;
  changes: ChangeBus;
  vault: Vault;
  urls: PublicUrls;
  log: Logger;
}

/** Where the portal's bridge leaves the address Fastify decided on, on the raw request (ADR 0033). */
export const CLIENT_IP = Symbol('gatehouse.clientIp');

type TokenLike = { clientId?: string; accountId?: string; grantId?: string; aud?: unknown; kind?: string };

/**
 * The authorization server for MCP clients (ADR 0033), built on first use (its issuer is the portal's origin,
 * known once the portal listens): oidc-provider over the PostgreSQL records, with this installation's sealed
 * keys. It audits what happens at its endpoints once each request is answered, from oidc-provider's entities
 * and events (never a token, code or secret), and tells the token resolver of `/mcp` to forget what it knew
 * whenever a token or grant is revoked.
 */
export class AuthorizationServer {
  readonly records: OAuthRecords;
  readonly tokens: OAuthTokens;
  private built: Promise<Provider> | undefined;
  /** Requests in which oidc-provider revoked a whole grant (refresh token reuse, revocation). */
  private readonly revokedGrants = new WeakMap<object, string>();
  private refusals: RefusalAudit | undefined;

  constructor(readonly deps: AuthorizationServerDeps) {
    this.records = new OAuthRecords(deps.orm, deps.clock);
    this.tokens = new OAuthTokens({
      records: this.records,
      orm: deps.orm,
      clock: deps.clock,
      changes: deps.changes,
    });
  }

  /** Token-endpoint refusals are counted through the portal's refusal audit (set when the routes are). */
  useRefusals(refusals: RefusalAudit): void {
    this.refusals = refusals;
  }

  provider(): Promise<Provider> {
    if (!this.built) {
      const building = this.build();
      this.built = building;
      building.catch(() => {
        if (this.built === building) this.built = undefined;
      });
    }
    return this.built;
  }

  private async build(): Promise<Provider> {
    const em = this.deps.orm.em.fork() as EntityManager;
    const secrets = await loadServerSecrets(em, this.deps.vault);
    const provider = await createProvider({
      config: this.deps.config,
      orm: this.deps.orm,
      records: this.records,
      secrets,
      urls: this.deps.urls,
      mcpExists: async (slug) =>
        (await (this.deps.orm.em.fork() as EntityManager).count(McpServerEntity, {
          slug,
          status: 'published',
        })) > 0,
    });
    provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
      this.tokens.clear();
      this.revokedGrants.set(ctx, grantId);
    });
    // Why a token request was refused, for operators (oidc-provider's detail; never a token value).
    provider.on('grant.error', (_ctx: unknown, error: { error?: string; error_detail?: string }) =>
      this.deps.log.info({ error: error.error, detail: error.error_detail }, 'token request refused'),
    );
    provider.on('server_error', (_ctx: unknown, error: Error) =>
      this.deps.log.error({ err: error }, 'authorization server error'),
    );
    provider.use(async (ctx, next) => {
      const ip = (ctx.req as unknown as Record<symbol, string | undefined>)[CLIENT_IP];
      if (ip) ctx.request.ip = ip;
      await next();
      try {
        await this.audit(ctx as KoaContextWithOIDC);
      } catch (error) {
        this.deps.log.error({ err: error }, 'could not audit an authorization server event');
      }
      if ((ctx as KoaContextWithOIDC).oidc?.route === 'token') {
        await this.records
          .pruneExpired()
          .catch((error: unknown) =>
            this.deps.log.warn({ err: error }, 'could not prune expired OAuth records'),
          );
      }
    });
    return provider;
  }

  /** The person's Gatehouse client for an OAuth client, as the actor of what that client does. */
  private async actorOf(accountId: string | undefined, clientId: string | undefined): Promise<Actor> {
    if (!accountId || !clientId) return { type: 'anonymous' };
    const em = this.deps.orm.em.fork() as EntityManager;
    const row = await em.findOne(
      ClientEntity,
      { user: accountId, oauthClientId: clientId },
      { populate: ['user'], orderBy: { createdAt: 'desc' } },
    );
    if (!row) return { type: 'anonymous' };
    const user = row.user as UserRow;
    return {
      type: 'client',
      clientId: row.id,
      clientName: row.name,
      userId: user.id,
      username: user.username,
    };
  }

  private async record(ctx: KoaContextWithOIDC, actor: Actor, entry: AuditEntry): Promise<void> {
    await emitStandaloneAudit(
      {
        em: this.deps.orm.em.fork() as EntityManager,
        actor,
        requestId: String(ctx.get('x-request-id') || '').slice(0, 64),
        ip: ctx.ip,
        config: this.deps.config,
        changes: this.deps.changes,
        clock: this.deps.clock,
      },
      entry,
    );
  }

  private async audit(ctx: KoaContextWithOIDC): Promise<void> {
    const oidc = ctx.oidc;
    if (!oidc) return;
    const entities = oidc.entities as Record<string, TokenLike | undefined>;
    const revokedGrant = this.revokedGrants.get(ctx);
    if (oidc.route === 'token') {
      const grantType = String(oidc.params?.grant_type ?? '');
      if (ctx.status === 200 && entities.AccessToken) {
        const at = entities.AccessToken as TokenLike & { resourceServer?: { audience?: string } };
        const resource = at.resourceServer?.audience ?? (typeof at.aud === 'string' ? at.aud : undefined);
        await this.record(ctx, await this.actorOf(at.accountId, at.clientId), {
          action: grantType === 'refresh_token' ? 'oauth.token_refreshed' : 'oauth.token_issued',
          details: {
            oauthClientId: at.clientId ?? '',
            grant: at.grantId ?? '',
            ...(resource !== undefined && { resource }),
          },
        });
      } else if (revokedGrant && grantType === 'refresh_token') {
        const clientId = oidc.client?.clientId;
        await this.record(ctx, await this.actorOf(entities.Grant?.accountId, clientId), {
          action: 'oauth.refresh_reuse_detected',
          outcome: 'denied',
          reason: 'a rotated refresh token was used again: the whole grant is revoked',
          details: { oauthClientId: clientId ?? '', grant: revokedGrant },
        });
      } else if (revokedGrant && grantType === 'authorization_code') {
        const clientId = oidc.client?.clientId;
        await this.record(ctx, await this.actorOf(entities.Grant?.accountId, clientId), {
          action: 'oauth.code_replay_detected',
          outcome: 'denied',
          reason: 'an authorization code was used again: the whole grant is revoked',
          details: { oauthClientId: clientId ?? '', grant: revokedGrant },
        });
      } else if (ctx.status >= 400) {
        const body = ctx.body as { error?: unknown } | undefined;
        await this.refusals?.record(
          'oauth_token_refused',
          ctx.ip,
          String(ctx.get('x-request-id')).slice(0, 64),
          {
            error: String(body?.error ?? 'invalid_request').slice(0, 64),
            grantType: grantType.slice(0, 64),
          },
        );
      }
    } else if (oidc.route === 'revocation' && ctx.status === 200) {
      const token = entities.AccessToken ?? entities.RefreshToken;
      if (!token) return;
      this.tokens.clear();
      await this.record(ctx, await this.actorOf(token.accountId, token.clientId), {
        action: 'oauth.token_revoked',
        details: {
          oauthClientId: token.clientId ?? '',
          tokenType: entities.AccessToken ? 'access_token' : 'refresh_token',
          ...(token.grantId !== undefined && { grant: token.grantId }),
        },
      });
    } else if (oidc.route === 'registration' && ctx.status === 201) {
      const client =
        oidc.client ?? (entities.Client as unknown as Provider['Client']['prototype'] | undefined);
      if (!client) return;
      await this.record(
        ctx,
        { type: 'anonymous' },
        {
          action: 'oauth.client_registered',
          target: {
            type: 'oauth_client',
            id: client.clientId.slice(0, 128),
            label: client.clientName?.slice(0, 200),
          },
          details: {
            oauthClientId: client.clientId,
            ...(client.clientName !== undefined && { clientName: client.clientName.slice(0, 200) }),
            redirectHosts: (client.redirectUris ?? []).map((uri) => URL.parse(uri)?.host ?? '').slice(0, 10),
          },
        },
      );
    }
  }
}
