import { constantTimeEqual } from '../crypto/index.js';
import { isSameOrigin } from '../identity/request-auth.js';
import { csrfTokenFor } from '../identity/sessions.service.js';
import { DomainError, preconditionFailed, unauthenticated } from '../platform/errors.js';
import { baseProcedure, middleware } from './init.js';

export const CSRF_HEADER = 'x-gatehouse-csrf';

const csrfRejected = (why: string) => new DomainError('CSRF_REJECTED', `Request refused: ${why}`);

/**
 * Cookie-authenticated and anonymous mutations must come from our own origin and carry the CSRF header:
 * the session-bound token when signed in, any value before (a custom header forces a CORS preflight that we
 * never grant). Calls with an Authorization header carry no ambient credentials and skip this.
 */
const csrfProtection = middleware(async ({ ctx, type, next }) => {
  // A bearer header means cookies are ignored for this request, so there is no ambient credential to forge.
  if (type === 'mutation' && !ctx.req.headers.authorization) {
    const header = ctx.req.headers[CSRF_HEADER];
    const presented = Array.isArray(header) ? header[0] : header;
    if (!isSameOrigin(ctx.req, ctx.config)) throw csrfRejected('cross-site or missing Origin');
    if (!presented) throw csrfRejected(`missing ${CSRF_HEADER} header`);
    if (
      ctx.authentication.kind === 'session' &&
      !constantTimeEqual(presented, csrfTokenFor(ctx.authentication.sessionToken))
    ) {
      throw csrfRejected('CSRF token does not match the session');
    }
  }
  return next();
});

/** Until the first admin exists, only the setup procedures answer. */
const requireSetupComplete = middleware(async ({ ctx, next }) => {
  if (!(await ctx.deps.setupGate.isComplete(ctx.em))) {
    throw preconditionFailed('Gatehouse is not set up yet: create the first admin first');
  }
  return next();
});

export const setupProcedure = baseProcedure.use(csrfProtection);
export const publicProcedure = baseProcedure.use(requireSetupComplete).use(csrfProtection);
export const authedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  if (ctx.actor.type !== 'user' && ctx.actor.type !== 'api_token') {
    throw unauthenticated(
      ctx.authentication.kind === 'none' && ctx.authentication.rejectedCredentials
        ? 'Your session has ended; sign in again'
        : 'Sign in required',
    );
  }
  return next();
});
