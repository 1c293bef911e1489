import {
  type ConsentInput,
  ErrorCode,
  type FieldErrors,
  InteractionDetails,
  InteractionRedirect,
} from '@gatehouse/schema';
import { z } from 'zod';
import type { AppError } from '../../lib/errors.js';
import { me } from '../../lib/session.js';
import { CSRF_HEADER } from '../../lib/trpc.js';

/**
 * The consent step of an OAuth authorization, as the portal-port interaction routes serve it
 * (`/oauth/interaction/<uid>/details|confirm|deny`). Plain same-origin fetches with the session cookie: these
 * routes sit beside oidc-provider, not in tRPC.
 */

export type { ConsentClient, ConsentMcp } from '@gatehouse/schema';
export type ConsentDetails = InteractionDetails;
/** What `confirm` takes: at least one MCP; `tools: null` means every approved tool, now and later. */
export type ConsentSubscription = ConsentInput['subscriptions'][number];

const base = (uid: string) => `/oauth/interaction/${encodeURIComponent(uid)}`;

const ErrorBody = z.object({
  error: z.union([
    z.object({
      code: z.string(),
      message: z.string(),
      fieldErrors: z.record(z.string(), z.array(z.string())).optional(),
      requestId: z.string().optional(),
    }),
    z.string(),
  ]),
  requestId: z.string().optional(),
});

const messageFor = (status: number): string =>
  status === 401
    ? 'Sign in required'
    : status === 404 || status === 410
      ? 'This authorization request has expired or was already answered. Go back to the app and connect again.'
      : 'Gatehouse could not answer this authorization request. Try again.';

const codeFor = (status: number): AppError['code'] =>
  status === 401
    ? 'UNAUTHENTICATED'
    : status === 403
      ? 'FORBIDDEN'
      : status === 404 || status === 410
        ? 'NOT_FOUND'
        : status === 400
          ? 'VALIDATION_FAILED'
          : 'INTERNAL';

/** A failed answer in the portal's error shape: the server's own message when it sent one, else a plain one. */
async function errorOf(response: Response): Promise<AppError> {
  const parsed = ErrorBody.safeParse(await response.json().catch(() => undefined));
  const described = parsed.success && typeof parsed.data.error === 'object' ? parsed.data.error : undefined;
  const code = ErrorCode.safeParse(described?.code);
  return {
    code: code.success ? code.data : codeFor(response.status),
    message: described?.message ?? messageFor(response.status),
    fieldErrors: (described?.fieldErrors ?? {}) as FieldErrors,
    requestId: described?.requestId ?? (parsed.success ? parsed.data.requestId : undefined),
    httpStatus: response.status,
  };
}

const unreachable: AppError = {
  code: 'INTERNAL',
  message: 'Gatehouse could not be reached. Check your connection and try again.',
  fieldErrors: {},
};

async function call<T>(
  path: string,
  init: RequestInit,
  schema: { safeParse: (value: unknown) => { success: true; data: T } | { success: false } },
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw unreachable;
  }
  if (!response.ok) throw await errorOf(response);
  const parsed = schema.safeParse(await response.json().catch(() => undefined));
  if (!parsed.success) throw unreachable;
  return parsed.data;
}

const post = (body?: unknown): RequestInit => ({
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    accept: 'application/json',
    // The session's CSRF token, as on every portal mutation.
    [CSRF_HEADER]: me()?.csrfToken ?? 'portal',
  },
  body: JSON.stringify(body ?? {}),
});

export const consentApi = {
  details: (uid: string) =>
    call(`${base(uid)}/details`, { headers: { accept: 'application/json' } }, InteractionDetails),
  confirm: (uid: string, subscriptions: ConsentSubscription[]) =>
    call(`${base(uid)}/confirm`, post({ subscriptions }), InteractionRedirect),
  deny: (uid: string) => call(`${base(uid)}/deny`, post(), InteractionRedirect),
};
