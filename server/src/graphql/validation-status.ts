import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * A document that fails validation (an unknown field, a wrong argument type) is the caller's mistake: 400
 * `VALIDATION_FAILED`, like the limits and syntax errors (ADR 0013). Without this, yoga answers such errors
 * with 200 to `application/json` clients (the GraphQL-over-HTTP legacy rule) and its own error code.
 */
export const validationErrorsAre400: Plugin = {
  onValidate() {
    return ({ result, setResult }) => {
      if (result.length === 0) return;
      setResult(
        result.map(
          (error) =>
            new GraphQLError(error.message, {
              nodes: error.nodes,
              extensions: { code: 'VALIDATION_FAILED', http: { status: 400 } },
            }),
        ),
      );
    };
  },
};
