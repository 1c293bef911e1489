import type {} from '@fastify/cookie';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { CatalogDeps } from '../catalog/catalog.service.js';
import type { LoginThrottle } from '../identity/login-throttle.js';
import { type ResolvedSession, resolveApiToken, resolvePortalSession } from '../identity/sessions.service.js';
import type { SetupGate } from '../identity/setup.service.js';
import type { DownstreamOAuth } from '../oauth/oauth.service.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Config } from '../platform/config.js';
import type { Actor, ServiceContext } from '../platform/context.js';
import type { Orm } from '../platform/db.js';
import type { McpEndpoint } from '../proxy/mcp-endpoint.js';
import type { Keyring } from '../vault/keyring.js';
import type { Vault } from '../vault/vault.js';

/** Long-lived pieces the portal transport hands to services. */
export interface PortalDeps {
  orm: Orm;
  config: Config;
  throttle: LoginThrottle;
  setupGate: SetupGate;
  dummyPasswordHash: Promise<string>;
  catalog: CatalogDeps;
  changes: ChangeBus;
  mcp: McpEndpoint;
  vault: { vault: Vault; keyring: Keyring };
  oauth: DownstreamOAuth;
}

export type Authentication =
  | { kind: 'session'; sessionToken: string; resolved: ResolvedSession }
  | { kind: 'api_token' }
  | { kind: 'none'; rejectedCredentials: boolean };

export interface TrpcContext extends ServiceContext {
  req: FastifyRequest;
  reply: FastifyReply;
  log: FastifyBaseLogger;
  deps: PortalDeps;
  authentication: Authentication;
}

export const sessionCookieName = (config: Config) =>
  config.secureTransport ? '__Host-gh_session' : 'gh_session';

function bearerToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const [scheme, value] = header.split(' ', 2);
  return scheme?.toLowerCase() === 'bearer' && value ? value.trim() : undefined;
}

/** Authenticates every request afresh: a bearer API token, else the portal session cookie. */
export function contextFactory(deps: PortalDeps) {
  return async ({ req, res }: CreateFastifyContextOptions): Promise<TrpcContext> => {
    const em = deps.orm.em.fork() as EntityManager;
    let actor: Actor = { type: 'anonymous' };
    let authentication: Authentication = { kind: 'none', rejectedCredentials: false };
    const token = bearerToken(req);
    const sessionToken = req.cookies[sessionCookieName(deps.config)];
    if (token) {
      const resolved = await resolveApiToken(em, token);
      if (resolved) {
        actor = resolved;
        authentication = { kind: 'api_token' };
      } else {
        authentication = { kind: 'none', rejectedCredentials: true };
      }
    } else if (sessionToken) {
      const resolved = await resolvePortalSession(em, sessionToken, deps.config);
      if (resolved) {
        actor = resolved.actor;
        authentication = { kind: 'session', sessionToken, resolved };
      } else {
        authentication = { kind: 'none', rejectedCredentials: true };
      }
    }
    return {
      em,
      actor,
      requestId: String(req.id),
      ip: req.ip,
      config: deps.config,
      changes: deps.changes,
      req,
      reply: res,
      log: req.log,
      deps,
      authentication,
    };
  };
}
