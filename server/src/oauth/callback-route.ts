import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyInstance } from 'fastify';
import { sessionCookieName } from '../identity/request-auth.js';
import { resolvePortalSession } from '../identity/sessions.service.js';
import type { Actor } from '../platform/context.js';
import { DomainError } from '../platform/errors.js';
import type { PortalDeps } from '../trpc/context.js';
import { OAUTH_CALLBACK_PATH } from './oauth.router.js';

const CallbackQuery = (query: unknown) => {
  const value = (query ?? {}) as Record<string, unknown>;
  const text = (name: string) =>
    typeof value[name] === 'string' ? (value[name] as string).slice(0, 4096) : undefined;
  return { state: text('state'), code: text('code'), error: text('error') };
};

/** The portal's My credentials screen (hash-routed), which shows the outcome from its query. */
const CREDENTIALS_PAGE = '/#/my/credentials';

/**
 * The browser comes back from the provider here. The portal session cookie (SameSite=Lax, so it rides on
 * this top-level navigation) names who is completing the flow; the service checks it against the state.
 * The answer is always a redirect to the portal's My credentials screen with the outcome.
 */
export function registerOAuthCallback(portal: FastifyInstance, deps: PortalDeps): void {
  portal.get(OAUTH_CALLBACK_PATH, async (req, reply) => {
    const em = deps.orm.em.fork() as EntityManager;
    const token = req.cookies[sessionCookieName(deps.config)];
    const session = token ? await resolvePortalSession(em, token, deps.config) : undefined;
    const actor: Actor = session?.actor ?? { type: 'anonymous' };
    const ctx = {
      em,
      actor,
      requestId: String(req.id),
      ip: req.ip,
      config: deps.config,
      changes: deps.changes,
      clock: deps.clock,
    };
    reply.header('cache-control', 'no-store');
    reply.header('referrer-policy', 'no-referrer');
    try {
      const { slug } = await deps.oauth.complete(ctx, CallbackQuery(req.query));
      return reply.redirect(`${CREDENTIALS_PAGE}?oauth=connected&mcp=${encodeURIComponent(slug)}`, 303);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      return reply.redirect(
        `${CREDENTIALS_PAGE}?oauth=error&reason=${encodeURIComponent(error.message)}`,
        303,
      );
    }
  });
}
