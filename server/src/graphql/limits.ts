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
