import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { httpStatusOfCode } from '@gatehouse/schema';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { DomainError } from '../platform/errors.js';
import { GRAPHQL_PATH, graphqlLimits } from './limits.js';
import { explorerSchema, type GraphqlContext } from './schema.js';
import { validationErrorsAre400 } from './validation-status.js';

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

/**
 * The explorer's GraphQL server: schema, limits and error masking. Loaded on the first `/graphql` request,
 * not at start (ADR 0029): yoga, the schema builder and graphql hold tens of MiB an unused explorer need not
 * pay for; GraphiQL's page (its bundle alone is ~70 MiB resident) loads only when someone opens it.
 */
export function createExplorerYoga() {
  return createYoga<{ req: FastifyRequest; reply: FastifyReply; gatehouse: GraphqlContext }>({
    schema: explorerSchema,
    graphqlEndpoint: GRAPHQL_PATH,
    logging: false,
    landingPage: false,
    graphiql: (_request, context) =>
      context?.gatehouse.scope.kind === 'all' ? { title: 'Gatehouse audit explorer' } : false,
    renderGraphiQL: async (options) =>
      (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
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
}

export type ExplorerYoga = ReturnType<typeof createExplorerYoga>;
