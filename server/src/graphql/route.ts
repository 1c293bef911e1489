import { createHash } from 'node:crypto';
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { httpStatusOfCode } from '@gatehouse/schema';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { auditScopeOf } from '../audit/explorer.service.js';
import { isSameOrigin } from '../identity/request-auth.js';
import { requireAuthenticated } from '../platform/context.js';
import { DomainError } from '../platform/errors.js';
import { type PortalDeps, portalRequestContext } from '../trpc/context.js';
import { createLoaders } from './loaders.js';
import { explorerSchema, type GraphqlContext } from './schema.js';
import { validationErrorsAre400 } from './validation-status.js';

export const GRAPHQL_PATH = '/graphql';

/**
 * Bounds every operation before it runs; see ADR 0013. The deepest useful query
 * (auditEvents → edges → node → actor → client → user → groups → name) is 8 levels. Introspection counts
 * too (ADR 0019): toward the cost limit like any field, and toward a depth limit of its own, 15, the depth of
 * the standard introspection query GraphiQL and code generators send. Fragment spreads add no depth.
 */
export const graphqlLimits = {
  maxDepth: 8,
  maxIntrospectionDepth: 15,
  maxCost: 20_000,
  maxAliases: 15,
  maxTokens: 2000,
  /** The whole request, on top of each statement's own timeout in the explorer's pool. */
  requestTimeoutMs: 15_000,
  /** Requests one person may have running at once, so nobody can hold the explorer's whole pool. */
  concurrentPerPerson: 4,
};

function domainGraphqlError(error: DomainError): GraphQLError {
  return new GraphQLError(error.message, {
    extensions: {
      code: error.code,
      ...(error.fieldErrors && { fieldErrors: error.fieldErrors }),
      http: { status: httpStatusOfCode[error.code] },
    },
  });
}

/** By name: the limit rules load graphql's CommonJS build, whose GraphQLError is another class than ours. */
const isGraphqlError = (error: unknown): error is GraphQLError =>
  error instanceof Error && error.name === 'GraphQLError';

/**
 * The one mapping from errors to what a GraphQL caller sees: domain errors typed; errors in the query
 * itself (syntax, validation, limits) as 400 VALIDATION_FAILED; anything else masked.
 */
function maskError(error: unknown): Error {
  const original = isGraphqlError(error) ? error.originalError : error;
  if (original instanceof DomainError) return domainGraphqlError(original);
  if (isGraphqlError(original)) return maskError(original);
  // Without a path the error is about the query document itself (syntax, validation, limits).
  if (isGraphqlError(error) && !original && !error.path) {
    return new GraphQLError(error.message, {
      nodes: error.nodes,
      extensions: { code: 'VALIDATION_FAILED', http: { status: 400 } },
    });
  }
  return new GraphQLError('Internal server error', { extensions: { code: 'INTERNAL' } });
}

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
  const yoga = createYoga<{ req: FastifyRequest; reply: FastifyReply; gatehouse: GraphqlContext }>({
    schema: explorerSchema,
    graphqlEndpoint: GRAPHQL_PATH,
    logging: false,
    landingPage: false,
    graphiql: (_request, context) =>
      context?.gatehouse.scope.kind === 'all' ? { title: 'Gatehouse audit explorer' } : false,
    renderGraphiQL,
    context: ({ gatehouse }) => gatehouse,
    maskedErrors: { maskError },
    plugins: [
      maxTokensPlugin({ n: graphqlLimits.maxTokens }),
      maxDepthPlugin({ n: graphqlLimits.maxDepth, flattenFragments: true }),
      maxDepthPlugin({
        n: graphqlLimits.maxIntrospectionDepth,
        ignoreIntrospection: false,
        flattenFragments: true,
      }),
      maxAliasesPlugin({ n: graphqlLimits.maxAliases }),
      costLimitPlugin({ maxCost: graphqlLimits.maxCost, ignoreIntrospection: false, flattenFragments: true }),
      validationErrorsAre400,
    ],
  });

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
        yoga.handleNodeRequestAndResponse(req, reply, { req, reply, gatehouse }),
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
