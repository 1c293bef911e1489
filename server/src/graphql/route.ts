import { createHash } from 'node:crypto';
import { httpStatusOfCode } from '@gatehouse/schema';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { auditScopeOf } from '../audit/explorer.service.js';
import { isSameOrigin } from '../identity/request-auth.js';
import { requireAuthenticated } from '../platform/context.js';
import { DomainError } from '../platform/errors.js';
import { type PortalDeps, portalRequestContext } from '../trpc/context.js';
import { GRAPHQL_PATH, graphqlLimits } from './limits.js';
import { createLoaders } from './loaders.js';
import type { GraphqlContext } from './schema.js';
import type { ExplorerYoga } from './yoga.js';

export { GRAPHQL_PATH, graphqlLimits };

/** GraphiQL is one page of inline scripts: allow exactly those, by hash, and its blob: workers. */
function graphiqlPolicy(html: string): string {
  const hashes = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map(
    ([, body]) =>
      `'sha256-${createHash('sha256')
        .update(body ?? '')
        .digest('base64')}'`,
  );
  return [
    "default-src 'self'",
    `script-src ${hashes.join(' ')}`,
    'worker-src blob:',
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

function refuse(reply: FastifyReply, error: DomainError) {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply
    .code(httpStatusOfCode[error.code])
    .header('cache-control', 'no-store')
    .send({ errors: [{ message: error.message, extensions: { code: error.code } }] });
}

/**
 * `/graphql` on the portal port: the audit explorer for auditors and admins (everything) and users (their
 * own events). Authenticated like tRPC (API token or portal session); a cookie-authenticated request must
 * come from our own origin. Queries only.
 */
export function registerGraphql(portal: FastifyInstance, deps: PortalDeps): void {
  let cachedPolicy: { html: string; policy: string } | undefined;
  const running = new Map<string, number>();
  // Built on the first request (see yoga.ts): an idle Gatehouse does not hold the explorer in memory.
  let yoga: Promise<ExplorerYoga> | undefined;
  const explorer = () => {
    yoga ??= import('./yoga.js').then((module) => module.createExplorerYoga());
    return yoga;
  };

  portal.route({
    url: GRAPHQL_PATH,
    method: ['GET', 'POST'],
    handler: async (req, reply) => {
      let gatehouse: GraphqlContext;
      try {
        const { ctx: service, authentication } = await portalRequestContext(deps, req);
        const person = requireAuthenticated(service);
        if (authentication.kind === 'session' && !isSameOrigin(req, deps.config) && req.method === 'POST') {
          throw new DomainError('CSRF_REJECTED', 'Request refused: cross-site or missing Origin');
        }
        gatehouse = {
          scope: auditScopeOf(service),
          userId: person.userId,
          explorer: deps.audit.explorer,
          monitor: deps.audit.monitor,
          loaders: createLoaders(deps.audit.explorer.reader),
        };
      } catch (error) {
        if (error instanceof DomainError) return refuse(reply, error);
        throw error;
      }

      const inFlight = running.get(gatehouse.userId) ?? 0;
      if (inFlight >= graphqlLimits.concurrentPerPerson) {
        return refuse(
          reply,
          new DomainError('RATE_LIMITED', 'Too many explorer queries at once; wait for one to finish'),
        );
      }
      running.set(gatehouse.userId, inFlight + 1);
      // The slot is held until the execution ends, even past the request timeout.
      const execution = Promise.resolve(
        explorer().then((server) =>
          server.handleNodeRequestAndResponse(req, reply, { req, reply, gatehouse }),
        ),
      );
      const release = () => {
        const left = (running.get(gatehouse.userId) ?? 1) - 1;
        if (left > 0) running.set(gatehouse.userId, left);
        else running.delete(gatehouse.userId);
      };
      execution.then(release, release);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(resolve, graphqlLimits.requestTimeoutMs, 'timeout');
      });
      const response = await Promise.race([execution, timeout]).finally(() => clearTimeout(timer));
      if (response === 'timeout') {
        return refuse(reply, new DomainError('CAPACITY_EXCEEDED', 'The query took too long; narrow it'));
      }
      for (const [key, value] of response.headers) reply.header(key, value);
      reply.header('cache-control', 'no-store');
      reply.status(response.status);
      if (response.headers.get('content-type')?.startsWith('text/html')) {
        const html = await response.text();
        if (cachedPolicy?.html !== html) cachedPolicy = { html, policy: graphiqlPolicy(html) };
        return reply.header('content-security-policy', cachedPolicy.policy).send(html);
      }
      return reply.send(response.body);
    },
  });
}
