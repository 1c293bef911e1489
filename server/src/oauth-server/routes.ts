import { ConsentInput, httpStatusOfCode } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import { authenticateRequest, isSameOrigin } from '../identity/request-auth.js';
import { type Bucket, bucketName, ThrottleStore } from '../identity/throttle-store.js';
import type { ServiceContext } from '../platform/context.js';
import { DomainError, fieldErrorsOf, unauthenticated, validationFailed } from '../platform/errors.js';
import { throttleSourceOf } from '../platform/ip-source.js';
import type { PortalDeps } from '../trpc/context.js';
import type { OAuthRecords } from './adapter.js';
import { type AuthorizationServer, CLIENT_IP } from './authorization-server.js';
import { consentDetails, denyConsent, grantConsent, type PendingAuthorization } from './consent.service.js';
import { INTERACTION_PATH, isLoopbackRedirect, MCP_SCOPE, PROVIDER_ROUTES } from './provider.js';

/** The portal's consent page (hash-routed). */
const CONSENT_PAGE = '/#/consent/';
const UID = /^[A-Za-z0-9_-]{1,64}$/;

/** oidc-provider's endpoints, served by its own handler (the Fastify reply is hijacked for these paths only). */
const FORWARDED = [
  PROVIDER_ROUTES.authorization,
  `${PROVIDER_ROUTES.authorization}/:uid`,
  PROVIDER_ROUTES.token,
  PROVIDER_ROUTES.registration,
  PROVIDER_ROUTES.revocation,
  PROVIDER_ROUTES.jwks,
  '/.well-known/openid-configuration',
];

function sendError(reply: FastifyReply, error: DomainError): FastifyReply {
  return reply
    .code(httpStatusOfCode[error.code])
    .header('cache-control', 'no-store')
    .send({ error: { code: error.code, message: error.message, fieldErrors: error.fieldErrors } });
}

const expired = () =>
  new DomainError(
    'NOT_FOUND',
    'This authorization request has expired or was started in another browser: start again from the client',
  );

/** Client ids (CIMD URLs) seen lately: their document is cached, so asking again costs no fetch. */
const SEEN_CIMD_MS = 5 * 60_000;
const MAX_SEEN_CIMD = 10_000;

/** Headers every reply of oidc-provider carries (its pages must never be framed or sniffed). */
const SECURITY_HEADERS: Record<string, string> = {
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
};

/**
 * The authorization server's routes on the portal port (ADR 0033): oidc-provider's endpoints, bridged into
 * Fastify, and the interaction routes the portal's consent screen talks to (the contract in ADR 0033).
 */
export function registerAuthorizationServer(
  portal: FastifyInstance,
  deps: PortalDeps,
  server: AuthorizationServer,
): void {
  let callback: ReturnType<Provider['callback']> | undefined;
  const settings = deps.config.oauthServer;
  const store = new ThrottleStore(deps.orm, deps.clock);
  const seenCimd = new Map<string, number>();
  server.useRefusals(deps.refusals);

  /**
   * Anonymous work that creates state or makes Gatehouse fetch (a registration, a CIMD client id not seen
   * lately) is counted per source and in all; over either limit it is refused with 429 and audited through
   * the refusal audit (ADR 0033). Returns whether the request may go on.
   */
  const admitAnonymous = async (req: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    const rule = { limit: 0, windowMs: settings.registrationWindowMs };
    const buckets: Bucket[] = [
      {
        name: bucketName('oauth-reg-ip', throttleSourceOf(req.ip)),
        rule: { ...rule, limit: settings.registrationsPerIp },
      },
      { name: 'oauth-reg-global', rule: { ...rule, limit: settings.registrationsGlobal } },
    ];
    let wait = store.localRetryAfterMs(buckets.map((bucket) => bucket.name));
    if (wait === 0) {
      const over = (await store.hit(buckets)).filter((count) => count.hits > count.bucket.rule.limit);
      for (const count of over) store.trip(count);
      if (over.length === 0) return true;
      wait = Math.max(...over.map((count) => count.windowEndsAt - deps.clock.now().getTime()));
    }
    await deps.refusals.record('oauth_registration_throttled', req.ip, String(req.id));
    const retryAfter = Math.max(1, Math.ceil(wait / 1000));
    sendError(
      reply.header('retry-after', String(retryAfter)),
      new DomainError(
        'RATE_LIMITED',
        'Too many client registrations; try again later',
        undefined,
        retryAfter,
      ),
    );
    return false;
  };

  /** The CIMD client id this request would make oidc-provider fetch (not seen lately), if any. */
  const unseenCimd = (req: FastifyRequest): string | undefined => {
    if (req.method !== 'GET' && req.method !== 'POST') return undefined;
    if (req.routeOptions.url !== PROVIDER_ROUTES.authorization) return undefined;
    const clientId = URL.parse(req.url, 'http://x')?.searchParams.get('client_id') ?? '';
    if (!clientId.startsWith('https://')) return undefined;
    const seen = seenCimd.get(clientId);
    return seen !== undefined && seen > deps.clock.now().getTime() ? undefined : clientId;
  };

  /** Remembers an admitted CIMD client id (bounded: expired entries go first, then everything). */
  const rememberCimd = (clientId: string): void => {
    const now = deps.clock.now().getTime();
    if (seenCimd.size >= MAX_SEEN_CIMD) {
      for (const [id, until] of seenCimd) if (until <= now) seenCimd.delete(id);
      if (seenCimd.size >= MAX_SEEN_CIMD) seenCimd.clear();
    }
    if (clientId.length <= 2048) seenCimd.set(clientId, now + SEEN_CIMD_MS);
  };

  const forward = async (req: FastifyRequest, reply: FastifyReply) => {
    const registration = req.method === 'POST' && req.routeOptions.url === PROVIDER_ROUTES.registration;
    const cimdId = unseenCimd(req);
    if ((registration || cimdId) && !(await admitAnonymous(req, reply))) return reply;
    if (cimdId) rememberCimd(cimdId);
    const provider = await server.provider();
    callback ??= provider.callback();
    // The audit records of what oidc-provider does carry this request's id, as every other record does.
    req.raw.headers['x-request-id'] = String(req.id);
    // The address Fastify decided on (trusted proxies only); oidc-provider never reads X-Forwarded-For.
    (req.raw as unknown as Record<symbol, string>)[CLIENT_IP] = req.ip;
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.raw.setHeader(name, value);
    if (server.deps.urls.issuer().startsWith('https:'))
      reply.raw.setHeader('strict-transport-security', 'max-age=31536000');
    reply.hijack();
    callback(req.raw, reply.raw);
  };

  portal.register(async (scope) => {
    // The body is oidc-provider's to read: Fastify leaves the stream alone on these paths.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
    for (const url of FORWARDED) scope.all(url, forward);
    // RFC 8414's well-known path answers with the same document as OpenID discovery.
    scope.get('/.well-known/oauth-authorization-server', (req, reply) => {
      req.raw.url = '/.well-known/openid-configuration';
      return forward(req, reply);
    });
  });

  /** The interaction of this browser (its cookie) for `uid`, or a typed 404. */
  const interactionOf = async (req: FastifyRequest, reply: FastifyReply) => {
    const { uid } = req.params as { uid: string };
    if (!UID.test(uid)) throw expired();
    const provider = await server.provider();
    const details = await provider.interactionDetails(req.raw, reply.raw).catch(() => {
      throw expired();
    });
    if (details.uid !== uid) throw expired();
    return { provider, details };
  };

  const pendingOf = async (
    provider: Provider,
    details: Awaited<ReturnType<Provider['interactionDetails']>>,
  ): Promise<PendingAuthorization> => {
    const params = details.params as Record<string, unknown>;
    const clientId = String(params.client_id ?? '');
    const client = await provider.Client.find(clientId).catch(() => undefined);
    if (!client) throw expired();
    const redirectUri = String(params.redirect_uri ?? client.redirectUris?.[0] ?? '');
    const cimd =
      (client as unknown as { clientIdMetadataDocument?: boolean }).clientIdMetadataDocument === true;
    const domain = (cimd ? URL.parse(clientId)?.host : URL.parse(redirectUri)?.host) ?? '';
    const requested = params.resource;
    if (Array.isArray(requested) && requested.length > 1)
      throw validationFailed({ resource: ['Exactly one resource may be requested'] });
    const resource =
      (Array.isArray(requested) ? requested[0] : requested) ?? server.deps.urls.resourceOf(null);
    const target = server.deps.urls.parse(String(resource));
    if (!target) throw validationFailed({ resource: ['Not an MCP endpoint of this Gatehouse'] });
    return {
      uid: details.uid,
      resource: String(resource),
      slug: target.slug,
      client: {
        clientId,
        name: (client.clientName ?? domain).slice(0, 200),
        logoUri: client.logoUri ?? null,
        registration: cimd ? 'cimd' : 'dcr',
        domain,
        redirectUri,
        localhostOnly: (client.redirectUris ?? []).every(isLoopbackRedirect),
      },
    };
  };

  /** The portal session's person (API tokens do not consent); mutations also need our own origin. */
  const personOf = async (req: FastifyRequest, mutation: boolean): Promise<ServiceContext> => {
    const em = deps.orm.em.fork() as EntityManager;
    const { actor, authentication } = await authenticateRequest(
      em,
      { authorization: undefined, cookies: req.cookies },
      deps.config,
    );
    if (authentication.kind !== 'session') throw unauthenticated();
    if (mutation && !isSameOrigin(req, deps.config))
      throw new DomainError('CSRF_REJECTED', 'Cross-origin requests are refused');
    return {
      em,
      actor,
      requestId: String(req.id),
      ip: req.ip,
      config: deps.config,
      changes: deps.changes,
      clock: deps.clock,
    };
  };

  const guarded =
    (handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      reply.header('cache-control', 'no-store');
      try {
        return await handler(req, reply);
      } catch (error) {
        if (error instanceof DomainError) return sendError(reply, error);
        throw error;
      }
    };

  // 1. oidc-provider sends the browser here; the portal's consent page takes over.
  portal.get(
    `${INTERACTION_PATH}/:uid`,
    guarded(async (req, reply) => {
      const { details } = await interactionOf(req, reply);
      return reply.redirect(`${CONSENT_PAGE}${encodeURIComponent(details.uid)}`, 303);
    }),
  );

  // 2. What the consent page shows (the person must be signed in).
  portal.get(
    `${INTERACTION_PATH}/:uid/details`,
    guarded(async (req, reply) => {
      const ctx = await personOf(req, false);
      const { provider, details } = await interactionOf(req, reply);
      return reply.send(await consentDetails(ctx, await pendingOf(provider, details)));
    }),
  );

  // 3. Consent: the Gatehouse client and its subscriptions, then the grant, then back to oidc-provider.
  portal.post(
    `${INTERACTION_PATH}/:uid/confirm`,
    guarded(async (req, reply) => {
      const ctx = await personOf(req, true);
      const parsed = ConsentInput.safeParse(req.body);
      if (!parsed.success) throw validationFailed(fieldErrorsOf(parsed.error.issues));
      const { provider, details } = await interactionOf(req, reply);
      const pending = await pendingOf(provider, details);
      await endOtherPersonsSession(server.records, details, (ctx.actor as { userId: string }).userId);
      await grantConsent(ctx, deps.catalog.liveCatalog, pending, parsed.data);
      const actor = ctx.actor as { userId: string };
      const grant = new provider.Grant({ accountId: actor.userId, clientId: pending.client.clientId });
      // `mcp` is both the resource's scope and one the provider knows, so the grant holds it as both.
      grant.addOIDCScope(MCP_SCOPE);
      grant.addResourceScope(pending.resource, MCP_SCOPE);
      const grantId = await grant.save();
      const redirectTo = await provider.interactionResult(
        req.raw,
        reply.raw,
        { login: { accountId: actor.userId, remember: false }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      );
      return reply.send({ redirectTo });
    }),
  );

  // 4. The person declines: the client receives access_denied.
  portal.post(
    `${INTERACTION_PATH}/:uid/deny`,
    guarded(async (req, reply) => {
      const ctx = await personOf(req, true);
      const { provider, details } = await interactionOf(req, reply);
      await denyConsent(ctx, await pendingOf(provider, details));
      const redirectTo = await provider.interactionResult(
        req.raw,
        reply.raw,
        { error: 'access_denied', error_description: 'The person declined the request' },
        { mergeWithLastSubmission: false },
      );
      return reply.send({ redirectTo });
    }),
  );
}

/**
 * Another person signed in through this browser before (oidc-provider remembers them in its own session):
 * that session is ended and the interaction forgets it, before anything is committed, so the one signed in
 * now finishes the authorization instead of oidc-provider's logout form.
 */
async function endOtherPersonsSession(
  records: OAuthRecords,
  details: Awaited<ReturnType<Provider['interactionDetails']>>,
  userId: string,
): Promise<void> {
  const previous = details.session;
  if (!previous?.accountId || previous.accountId === userId) return;
  // By uid: the interaction keeps no session id at rest (the adapter stores only its hash), and a session
  // found by uid carries no id either, so it is deleted here directly.
  if (previous.uid) await records.destroyByUid('Session', previous.uid);
  details.session = undefined;
  await details.save(Math.max(1, details.exp - Math.floor(Date.now() / 1000)));
}

/** RFC 9728 metadata of the MCP endpoints, on the client port (ADR 0034). */
export function registerResourceMetadata(client: FastifyInstance, server: AuthorizationServer): void {
  const { urls } = server.deps;
  const describe = async (slug: string | null, reply: FastifyReply) => {
    if (slug !== null) {
      const target = urls.parse(urls.resourceOf(slug));
      const exists =
        target &&
        (await (server.deps.orm.em.fork() as EntityManager).count('McpServer', {
          slug,
          status: 'published',
        })) > 0;
      if (!exists) return reply.code(404).send({ error: 'not found' });
    }
    return reply
      .header('cache-control', 'public, max-age=300')
      .header('access-control-allow-origin', '*')
      .send({
        resource: urls.resourceOf(slug),
        authorization_servers: [urls.issuer()],
        scopes_supported: [MCP_SCOPE],
        bearer_methods_supported: ['header'],
        resource_name: 'Gatehouse',
      });
  };
  client.get('/.well-known/oauth-protected-resource', (_req, reply) => describe(null, reply));
  client.get('/.well-known/oauth-protected-resource/mcp', (_req, reply) => describe(null, reply));
  client.get('/.well-known/oauth-protected-resource/mcp/:slug', (req, reply) =>
    describe((req.params as { slug: string }).slug, reply),
  );
}
