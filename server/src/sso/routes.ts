import { SsoSlug } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sessionCookieName } from '../identity/request-auth.js';
import type { Config } from '../platform/config.js';
import type { ServiceContext } from '../platform/context.js';
import { DomainError } from '../platform/errors.js';
import type { PortalDeps } from '../trpc/context.js';
import { SsoLogin, SsoRefused, safeReturnTo, ssoCallbackPath } from './login.service.js';

const STATE_COOKIE_SECONDS = 10 * 60;

/** Binds a sign-in in flight to the browser that started it; `__Host-` whenever the portal is on TLS. */
const bindingCookieName = (config: Config) => (config.secureTransport ? '__Host-gh_sso' : 'gh_sso');

/** The portal's origin as the provider knows it: the configured public URL, else this request's origin. */
function portalOrigin(req: FastifyRequest, config: Config): string {
  if (config.publicPortalUrl) return new URL(config.publicPortalUrl).origin;
  // Parsed, so a malformed Host header fails here (inside the routes' error handling), not at the provider.
  return new URL(`${req.protocol}://${req.host}`).origin;
}

/**
 * `GET /auth/sso/:slug/start` sends the browser to the provider; `GET /auth/sso/:slug/callback` completes
 * the sign-in and sets the portal session cookie. Failures come back to the sign-in screen as a reason code
 * (`/#/?sso_error=…`), never with the provider's or Gatehouse's internal text.
 */
export function registerSsoRoutes(portal: FastifyInstance, deps: PortalDeps): void {
  const login = new SsoLogin({ vault: deps.vault.vault, config: deps.config, refusals: deps.refusals });
  const contextOf = (req: FastifyRequest): ServiceContext => ({
    em: deps.orm.em.fork() as EntityManager,
    actor: { type: 'anonymous' },
    requestId: String(req.id),
    ip: req.ip,
    config: deps.config,
    changes: deps.changes,
    clock: deps.clock,
  });
  const slugOf = (req: FastifyRequest): string | undefined => {
    const parsed = SsoSlug.safeParse((req.params as { slug?: unknown }).slug);
    return parsed.success ? parsed.data : undefined;
  };
  const failed = (reply: FastifyReply, reason: string) =>
    reply.redirect(`/#/?sso_error=${encodeURIComponent(reason)}`, 303);
  /** Anything unforeseen: logged here, shown to the browser only as "the provider is unavailable". */
  const unexpected = (req: FastifyRequest, reply: FastifyReply, error: unknown) => {
    req.log.error({ err: error }, 'single sign-on failed unexpectedly');
    return failed(reply, 'provider_unavailable');
  };
  const noStore = (reply: FastifyReply) => {
    reply.header('cache-control', 'no-store');
    reply.header('referrer-policy', 'no-referrer');
  };

  portal.get('/auth/sso/:slug/start', async (req, reply) => {
    noStore(reply);
    const slug = slugOf(req);
    if (!slug) return reply.code(404).send({ error: 'not found' });
    const returnTo = safeReturnTo((req.query as { returnTo?: unknown }).returnTo);
    try {
      const { authorizationUrl, browserSecret } = await login.start(
        contextOf(req),
        slug,
        `${portalOrigin(req, deps.config)}${ssoCallbackPath(slug)}`,
        returnTo,
      );
      reply.setCookie(bindingCookieName(deps.config), browserSecret, {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: deps.config.secureTransport,
        maxAge: STATE_COOKIE_SECONDS,
      });
      return reply.redirect(authorizationUrl, 303);
    } catch (error) {
      if (error instanceof SsoRefused) return failed(reply, error.reason);
      if (error instanceof DomainError && error.code === 'NOT_FOUND')
        return failed(reply, 'unknown_provider');
      if (error instanceof DomainError && error.code === 'RATE_LIMITED') return failed(reply, 'busy');
      if (error instanceof DomainError) return failed(reply, 'provider_unavailable');
      return unexpected(req, reply, error);
    }
  });

  portal.get('/auth/sso/:slug/callback', async (req, reply) => {
    noStore(reply);
    const slug = slugOf(req);
    if (!slug) return reply.code(404).send({ error: 'not found' });
    const cookieName = bindingCookieName(deps.config);
    const browserSecret = req.cookies[cookieName];
    reply.clearCookie(cookieName, { path: '/', secure: deps.config.secureTransport });
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
    if (query.length > 8192) return failed(reply, 'state');
    try {
      const callbackUrl = new URL(`${portalOrigin(req, deps.config)}${ssoCallbackPath(slug)}${query}`);
      const { sessionToken, returnTo } = await login.complete(
        contextOf(req),
        slug,
        callbackUrl,
        browserSecret,
        {
          userAgent: String(req.headers['user-agent'] ?? ''),
        },
      );
      reply.setCookie(sessionCookieName(deps.config), sessionToken, {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: deps.config.secureTransport,
        maxAge: deps.config.timings.sessionTtlSeconds,
      });
      return reply.redirect(`/${returnTo}`, 303);
    } catch (error) {
      if (error instanceof SsoRefused) return failed(reply, error.reason);
      if (error instanceof DomainError && error.code === 'NOT_FOUND')
        return failed(reply, 'unknown_provider');
      return unexpected(req, reply, error);
    }
  });
}
