import type { AppRouter } from '@gatehouse/server';
import { createTRPCClient, httpBatchLink, loggerLink, TRPCClientError } from '@trpc/client';

/** The header the server checks on every cookie-authenticated or anonymous mutation. */
export const CSRF_HEADER = 'x-gatehouse-csrf';

/**
 * Before sign-in the server accepts any value: the custom header alone forces a CORS preflight that it never
 * grants. Once signed in, it must be the session's own token.
 */
const ANONYMOUS_CSRF_VALUE = 'portal';

let csrfToken: string | null = null;

/** Set from `Me.csrfToken` after sign-in; `null` after sign-out. */
export function setCsrfToken(token: string | null) {
  csrfToken = token;
}

export type ClientError = TRPCClientError<AppRouter>;
type CallErrorListener = (error: ClientError, path: string) => void;
let callErrorListener: CallErrorListener | undefined;

/** One listener sees every failed call before its caller does (the session uses it to notice sign-outs). */
export function onCallError(listener: CallErrorListener) {
  callErrorListener = listener;
}

/** The single typed client for the portal. Cookies are same-origin, so no token is ever stored in JS. */
export const trpc = createTRPCClient<AppRouter>({
  links: [
    // loggerLink with a custom logger is tRPC's documented hook for observing results; it changes nothing.
    loggerLink({
      enabled: (opts) => opts.direction === 'down' && opts.result instanceof TRPCClientError,
      logger: (opts) => {
        if (opts.direction === 'down' && opts.result instanceof TRPCClientError) {
          callErrorListener?.(opts.result, opts.path);
        }
      },
    }),
    httpBatchLink({
      url: '/trpc',
      headers: () => ({ [CSRF_HEADER]: csrfToken ?? ANONYMOUS_CSRF_VALUE }),
      fetch: (url, init) => fetch(url, { ...(init as RequestInit), credentials: 'same-origin' }),
    }),
  ],
});
