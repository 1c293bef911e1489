import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import { type FastifyTRPCPluginOptions, fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { registerAuditExport } from '../audit/export-route.js';
import { registerGraphql } from '../graphql/route.js';
import { registerOAuthCallback } from '../oauth/callback-route.js';
import type { AuthorizationServer } from '../oauth-server/authorization-server.js';
import { registerAuthorizationServer, registerResourceMetadata } from '../oauth-server/routes.js';
import { clientPortErrorHandler } from '../proxy/endpoint-guard.js';
import { type AppRouter, appRouter } from '../trpc/app-router.js';
import { contextFactory, type PortalDeps } from '../trpc/context.js';
import { enforceBodyDeadline, retryAfterOfErrors, retryAfterOnEvery429 } from './http-guards.js';
import { clientPortLogger } from './logger.js';
import { ReadinessProbe } from './readiness.js';
import type { TlsMaterial } from './tls.js';

export interface Apps {
  /** Client port: the MCP endpoint and health, nothing administrative. */
  client: FastifyInstance;
  /** Portal port: tRPC, GraphQL, the audit export, portal static files, health. */
  portal: FastifyInstance;
}

function baseApp(deps: PortalDeps, logger: Logger, tls: TlsMaterial | undefined): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    trustProxy: deps.config.trustedProxies.length > 0 ? [...deps.config.trustedProxies] : false,
    // In-flight requests finish on close; idle keep-alive sockets are closed at once.
    forceCloseConnections: 'idle',
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 5000 },
    ...(tls && { https: { key: tls.key, cert: tls.cert } }),
  }) as unknown as FastifyInstance;

  enforceBodyDeadline(app, deps.config.requestBodyTimeoutMs);
  retryAfterOnEvery429(app);
  app.get('/healthz', async () => ({ status: 'ok' }));
  const readiness = new ReadinessProbe(deps.orm);
  app.get('/readyz', async (_req, reply) => {
    const result = await readiness.check();
    return result.ready
      ? { status: 'ready' }
      : reply.code(503).send({ status: 'not-ready', reason: result.reason });
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    if (deps.config.secureTransport)
      reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
    return payload;
  });
  return app;
}

export async function buildApps(
  deps: PortalDeps,
  logger: Logger,
  tls: TlsMaterial | undefined,
  mounts: { mcp: { register(app: FastifyInstance): void }; authorization?: AuthorizationServer },
): Promise<Apps> {
  const client = baseApp(deps, clientPortLogger(logger), tls);
  mounts.mcp.register(client);
  if (mounts.authorization) registerResourceMetadata(client, mounts.authorization);
  // Clients of the MCP port never see internal error text; a database outage is a typed 503 (one table).
  client.setErrorHandler(clientPortErrorHandler(deps.config.mcpLimits.maxBodyBytes));
  client.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found' }));

  const portal = baseApp(deps, logger, tls);
  await portal.register(fastifyCookie);
  portal.addHook('onSend', async (req, reply, payload) => {
    if (req.url.startsWith('/trpc')) reply.header('cache-control', 'no-store');
    else if (!reply.hasHeader('content-security-policy')) {
      reply.header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'",
      );
    }
    return payload;
  });
  await portal.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: {
      router: appRouter,
      createContext: contextFactory(deps),
      maxBatchSize: 20,
      responseMeta: ({ errors }) => {
        const retryAfter = retryAfterOfErrors(errors);
        return retryAfter === undefined ? {} : { headers: { 'retry-after': String(retryAfter) } };
      },
    } satisfies FastifyTRPCPluginOptions<AppRouter>['trpcOptions'],
  });

  registerOAuthCallback(portal, deps);
  if (mounts.authorization) registerAuthorizationServer(portal, deps, mounts.authorization);
  registerGraphql(portal, deps);
  registerAuditExport(portal, deps);

  const hasPortalAssets = existsSync(deps.config.webDist);
  if (hasPortalAssets) {
    await portal.register(fastifyStatic, {
      root: deps.config.webDist,
      prefix: '/',
      wildcard: false,
      index: ['index.html'],
      cacheControl: false,
      // Vite names built assets by content hash: they never change, so browsers keep them. The page itself
      // is revalidated every time, so a new release is picked up at once.
      setHeaders: (res, file) => {
        res.header(
          'cache-control',
          path.relative(deps.config.webDist, file).startsWith(`assets${path.sep}`)
            ? 'public, max-age=31536000, immutable'
            : 'no-cache',
        );
      },
    });
  }
  // The portal routes by hash, so its only page is `/`; any other unknown path is a plain 404.
  portal.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found' }));
  return { client, portal };
}
