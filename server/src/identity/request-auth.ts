import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config } from '../platform/config.js';
import type { Actor } from '../platform/context.js';
import { type ResolvedSession, resolveApiToken, resolvePortalSession } from './sessions.service.js';

export type Authentication =
  | { kind: 'session'; sessionToken: string; resolved: ResolvedSession }
  | { kind: 'api_token' }
  | { kind: 'none'; rejectedCredentials: boolean };

export const sessionCookieName = (config: Config) =>
  config.secureTransport ? '__Host-gh_session' : 'gh_session';

export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const [scheme, value] = authorization.split(' ', 2);
  return scheme?.toLowerCase() === 'bearer' && value ? value.trim() : undefined;
}

/**
 * Authenticates one portal-port request afresh: a bearer API token if the Authorization header carries one
 * (cookies are then ignored), else the portal session cookie.
 */
export async function authenticateRequest(
  em: EntityManager,
  request: { authorization: string | undefined; cookies: Record<string, string | undefined> },
  config: Config,
): Promise<{ actor: Actor; authentication: Authentication }> {
  const token = bearerToken(request.authorization);
  const sessionToken = request.cookies[sessionCookieName(config)];
  if (token) {
    const resolved = await resolveApiToken(em, token);
    return resolved
      ? { actor: resolved, authentication: { kind: 'api_token' } }
      : { actor: { type: 'anonymous' }, authentication: { kind: 'none', rejectedCredentials: true } };
  }
  if (sessionToken) {
    const resolved = await resolvePortalSession(em, sessionToken, config);
    return resolved
      ? { actor: resolved.actor, authentication: { kind: 'session', sessionToken, resolved } }
      : { actor: { type: 'anonymous' }, authentication: { kind: 'none', rejectedCredentials: true } };
  }
  return { actor: { type: 'anonymous' }, authentication: { kind: 'none', rejectedCredentials: false } };
}

/** The request's own origin, or the configured public portal URL's, is the only acceptable Origin. */
export function isSameOrigin(
  request: { headers: Record<string, string | string[] | undefined>; protocol: string; host: string },
  config: Config,
): boolean {
  const origin = request.headers.origin;
  if (typeof origin === 'string') {
    const allowed = new Set([`${request.protocol}://${request.host}`]);
    if (config.publicPortalUrl) allowed.add(new URL(config.publicPortalUrl).origin);
    return allowed.has(origin);
  }
  return request.headers['sec-fetch-site'] === 'same-origin';
}
