import { SSO_RETURN_TO, type SsoFailureReason } from '@gatehouse/schema';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import * as client from 'openid-client';
import { emitStandaloneAudit } from '../audit/emit.js';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import { randomBase62, sha256Hex } from '../crypto/index.js';
import type { Config } from '../platform/config.js';
import { type ServiceContext, withTransaction } from '../platform/context.js';
import { DomainError } from '../platform/errors.js';
import { throttleSourceOf } from '../platform/ip-source.js';
import type { Vault } from '../vault/vault.js';
import { SsoLoginStateEntity, SsoProviderEntity, type SsoProviderRow } from './entities.js';
import { classifyOidcFailure, DiscoveryCache } from './oidc.js';
import { clientSecretSlot } from './providers.service.js';
import { provisionAndSignIn, type SsoClaims } from './provisioning.js';

const STATE_TTL_MS = 10 * 60 * 1000;
/** Sign-ins in flight are created before anyone is authenticated: their number is bounded. */
const MAX_LIVE_STATES = 10_000;
/** …and so is the share of one source (an IPv4 address or IPv6 /64): one client cannot fill the bound. */
export const MAX_LIVE_STATES_PER_SOURCE = 20;
const VERIFIER_SLOT = (providerId: string) => ({
  owner: providerId,
  mcpId: 'sso',
  field: 'sso:pkce_verifier',
});

/** A refused sign-in: audited already; the portal shows the reason's plain message. */
export class SsoRefused extends Error {
  constructor(readonly reason: SsoFailureReason) {
    super(`single sign-on refused: ${reason}`);
    this.name = 'SsoRefused';
  }
}

/** The portal URL the provider sends the browser back to (registered at the provider). */
export const ssoCallbackPath = (slug: string) => `/auth/sso/${slug}/callback`;

/** `returnTo` is a portal hash route or nothing: never another page or origin. */
export const safeReturnTo = (value: unknown): string =>
  typeof value === 'string' && SSO_RETURN_TO.test(value) ? value : '';

/**
 * The relying party: authorization code + PKCE S256 with `state` and `nonce` (openid-client), then
 * just-in-time provisioning and a portal session. Each sign-in in flight is a single-use row bound to the
 * browser that started it.
 */
export class SsoLogin {
  private readonly discovery: DiscoveryCache;
  /** This process's sign-ins in flight: state id → its source and expiry (ms), and the count per source. */
  private readonly inFlight = new Map<string, { source: string; expires: number }>();
  private readonly perSource = new Map<string, number>();

  constructor(private readonly deps: { vault: Vault; config: Config; refusals: RefusalAudit }) {
    this.discovery = new DiscoveryCache(deps.config.oauth);
  }

  private forget(id: string): void {
    const entry = this.inFlight.get(id);
    if (!entry) return;
    this.inFlight.delete(id);
    const left = (this.perSource.get(entry.source) ?? 1) - 1;
    if (left > 0) this.perSource.set(entry.source, left);
    else this.perSource.delete(entry.source);
  }

  /** Live sign-ins started from `source`, after forgetting the expired ones. */
  private liveFrom(source: string, now: number): number {
    // Insertion order is expiry order (one TTL): stop at the first live one.
    for (const [id, entry] of this.inFlight) {
      if (entry.expires > now) break;
      this.forget(id);
    }
    return this.perSource.get(source) ?? 0;
  }

  private async configurationOf(em: EntityManager, provider: SsoProviderRow): Promise<client.Configuration> {
    if (!provider.clientSecretSealed)
      throw new DomainError('PRECONDITION_FAILED', 'The provider has no client secret');
    const secret = await this.deps.vault.open(em, clientSecretSlot(provider.id), provider.clientSecretSealed);
    return this.discovery.get(provider, secret);
  }

  /** No such (enabled) provider: counted through the refusal audit (no one is authenticated yet). */
  private async unknownProvider(ctx: ServiceContext, slug: string): Promise<never> {
    await this.deps.refusals.record('sso_unknown_provider', ctx.ip, ctx.requestId, { provider: slug });
    throw new DomainError('NOT_FOUND', 'No such sign-in provider');
  }

  /** Returns where to send the browser and the secret to bind this sign-in to it (an HttpOnly cookie). */
  async start(
    ctx: ServiceContext,
    slug: string,
    redirectUri: string,
    returnTo: string,
  ): Promise<{ authorizationUrl: string; browserSecret: string }> {
    const provider =
      (await ctx.em.findOne(SsoProviderEntity, { slug, enabled: true })) ??
      (await this.unknownProvider(ctx, slug));
    const source = throttleSourceOf(ctx.ip);
    if (this.liveFrom(source, ctx.clock.now().getTime()) >= MAX_LIVE_STATES_PER_SOURCE) {
      await this.deps.refusals.record('sso_throttled', ctx.ip, ctx.requestId, {
        provider: slug,
        limit: MAX_LIVE_STATES_PER_SOURCE,
      });
      throw new DomainError(
        'RATE_LIMITED',
        'Too many sign-ins in progress from here; try again in a few minutes',
        undefined,
        60,
      );
    }
    let configuration: client.Configuration;
    try {
      configuration = await this.configurationOf(ctx.em, provider);
    } catch {
      return this.refuse(ctx, provider.slug, 'provider_unavailable');
    }
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const browserSecret = randomBase62(32);
    const now = ctx.clock.now();
    await ctx.em.nativeDelete(SsoLoginStateEntity, { expiresAt: { $lt: now } });
    if ((await ctx.em.count(SsoLoginStateEntity, {})) >= MAX_LIVE_STATES) {
      await this.deps.refusals.record('sso_throttled', ctx.ip, ctx.requestId, {
        provider: slug,
        limit: MAX_LIVE_STATES,
        scope: 'all sources',
      });
      throw new DomainError(
        'RATE_LIMITED',
        'Too many sign-ins in progress; try again in a few minutes',
        undefined,
        60,
      );
    }
    await withTransaction(ctx, async (tx) => {
      const { sealed } = await this.deps.vault.seal(tx.em, VERIFIER_SLOT(provider.id), verifier);
      tx.em.create(SsoLoginStateEntity, {
        id: sha256Hex(state),
        provider,
        nonce,
        verifierSealed: sealed,
        browserHash: sha256Hex(browserSecret),
        returnTo,
        createdAt: now,
        expiresAt: new Date(now.getTime() + STATE_TTL_MS),
        usedAt: null,
      });
      await tx.em.flush();
    });
    const stateId = sha256Hex(state);
    this.inFlight.set(stateId, { source, expires: now.getTime() + STATE_TTL_MS });
    this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUri,
      scope: provider.scopes.join(' '),
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { authorizationUrl: url.toString(), browserSecret };
  }

  /**
   * The provider sent the browser back. The state must be known, unspent, unexpired, for this provider and
   * started by this browser; then openid-client exchanges the code and validates the ID token (issuer,
   * audience, signature via JWKS, expiry, nonce).
   */
  async complete(
    ctx: ServiceContext,
    slug: string,
    callbackUrl: URL,
    browserSecret: string | undefined,
    session: { userAgent: string },
  ): Promise<{ sessionToken: string; returnTo: string }> {
    const provider =
      (await ctx.em.findOne(SsoProviderEntity, { slug })) ?? (await this.unknownProvider(ctx, slug));
    const state = callbackUrl.searchParams.get('state') ?? '';
    const row =
      state.length > 0 && state.length <= 512
        ? await ctx.em.findOne(SsoLoginStateEntity, { id: sha256Hex(state) })
        : null;
    if (!row) {
      // A state Gatehouse never issued (or long forgotten): anyone can send these, so they are counted.
      await this.deps.refusals.record('sso_unknown_state', ctx.ip, ctx.requestId, { provider: slug });
      throw new SsoRefused('state');
    }
    this.forget(row.id);
    // Single use, whatever happens next: a replayed callback finds the state spent.
    const spent = await ctx.em.nativeUpdate(
      SsoLoginStateEntity,
      { id: row.id, usedAt: null },
      { usedAt: ctx.clock.now() },
    );
    if (
      spent === 0 ||
      row.expiresAt.getTime() < ctx.clock.now().getTime() ||
      row.provider.id !== provider.id ||
      !browserSecret ||
      sha256Hex(browserSecret) !== row.browserHash
    ) {
      return this.refuse(ctx, slug, 'state');
    }
    if (!provider.enabled) return this.refuse(ctx, slug, 'provider_disabled');
    let claims: SsoClaims;
    try {
      const configuration = await this.configurationOf(ctx.em, provider);
      const verifier = await this.deps.vault.open(ctx.em, VERIFIER_SLOT(provider.id), row.verifierSealed);
      const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: row.nonce,
        idTokenExpected: true,
      });
      const idClaims = tokens.claims();
      if (!idClaims) return this.refuse(ctx, slug, 'id_token');
      claims = idClaims as SsoClaims;
    } catch (error) {
      if (error instanceof SsoRefused) throw error;
      return this.refuse(ctx, slug, classifyOidcFailure(error));
    }
    // Two first sign-ins of one person at once: the loser of the (provider, sub) or username race retries
    // once and finds the account the winner created.
    const outcome = await provisionAndSignIn(ctx, provider, claims, session).catch((error: unknown) => {
      if (error instanceof UniqueConstraintViolationException) {
        return provisionAndSignIn({ ...ctx, em: ctx.em.fork() as EntityManager }, provider, claims, session);
      }
      throw error;
    });
    if ('refused' in outcome) return this.refuse(ctx, slug, outcome.refused, outcome.userId);
    return { sessionToken: outcome.sessionToken, returnTo: row.returnTo };
  }

  private async refuse(
    ctx: ServiceContext,
    slug: string,
    reason: SsoFailureReason,
    userId?: string,
  ): Promise<never> {
    await emitStandaloneAudit(ctx, {
      action: 'auth.sso_login_failed',
      outcome: 'denied',
      reason: `single sign-on refused: ${reason}`,
      ...(userId && { target: { type: 'user', id: userId } }),
      details: { provider: slug, reason },
    });
    throw new SsoRefused(reason);
  }
}
