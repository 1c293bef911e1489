import type {} from '@fastify/cookie';
import type { EntityManager } from '@mikro-orm/postgresql';
import { TRPCError } from '@trpc/server';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { ChainMonitor } from '../audit/chain-monitor.js';
import type { AuditExplorer } from '../audit/explorer.service.js';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import type { CatalogDeps } from '../catalog/catalog.service.js';
import type { LoginThrottle } from '../identity/login-throttle.js';
import { type Authentication, authenticateRequest, bearerToken } from '../identity/request-auth.js';
import type { SetupGate } from '../identity/setup.service.js';
import type { ApiTokenThrottle } from '../identity/token-throttle.js';
import type { DownstreamOAuth } from '../oauth/oauth.service.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import type { ServiceContext } from '../platform/context.js';
import type { Orm } from '../platform/db.js';
import { DomainError } from '../platform/errors.js';
import type { McpEndpoint } from '../proxy/mcp-endpoint.js';
import type { Keyring } from '../vault/keyring.js';
import type { Vault } from '../vault/vault.js';
import { trpcCodeOf } from './init.js';

/** Long-lived pieces the portal transport hands to services. */
export interface PortalDeps {
  orm: Orm;
  config: Config;
  throttle: LoginThrottle;
  refusals: RefusalAudit;
  tokenThrottle: ApiTokenThrottle;
  setupGate: SetupGate;
  dummyPasswordHash: Promise<string>;
  catalog: CatalogDeps;
  changes: ChangeBus;
  clock: Clock;
  mcp: McpEndpoint;
  vault: { vault: Vault; keyring: Keyring };
  oauth: DownstreamOAuth;
  audit: { explorer: AuditExplorer; monitor: ChainMonitor };
  /** The client port as bound (known once listening; 0 in the config means any free port). */
  clientPort: () => number;
}

export interface TrpcContext extends ServiceContext {
  req: FastifyRequest;
  reply: FastifyReply;
  log: FastifyBaseLogger;
  deps: PortalDeps;
  authentication: Authentication;
}

/**
 * A portal-port request's service context, authenticated afresh (see `authenticateRequest`); shared by tRPC,
 * GraphQL and the plain HTTP routes.
 */
export async function portalRequestContext(
  deps: PortalDeps,
  req: FastifyRequest,
): Promise<{ ctx: ServiceContext; authentication: Authentication }> {
  const em = deps.orm.em.fork() as EntityManager;
  const bearer = bearerToken(req.headers.authorization) !== undefined;
  const { actor, authentication } = await authenticateRequest(
    em,
    { authorization: req.headers.authorization, cookies: req.cookies },
    deps.config,
  );
  // Resolved first: only unknown tokens are counted or refused by the throttle (ADR 0018).
  if (bearer && actor.type === 'anonymous') await deps.tokenThrottle.recordFailure(req.ip, String(req.id));
  const ctx = {
    em,
    actor,
    requestId: String(req.id),
    ip: req.ip,
    config: deps.config,
    changes: deps.changes,
    clock: deps.clock,
  };
  return { ctx, authentication };
}

export function contextFactory(deps: PortalDeps) {
  return async ({ req, res }: CreateFastifyContextOptions): Promise<TrpcContext> => {
    const { ctx, authentication } = await portalRequestContext(deps, req).catch((error: unknown) => {
      // Thrown before any procedure runs, so the procedures' error mapping would not see it.
      throw error instanceof DomainError
        ? new TRPCError({ code: trpcCodeOf[error.code], message: error.message, cause: error })
        : error;
    });
    return { ...ctx, req, reply: res, log: req.log, deps, authentication };
  };
}
