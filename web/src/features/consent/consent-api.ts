import { ErrorCode, type FieldErrors } from '@gatehouse/schema';
import { z } from 'zod';
import type { AppError } from '../../lib/errors.js';
import { me } from '../../lib/session.js';
import { CSRF_HEADER } from '../../lib/trpc.js';

/**
 * The consent step of an OAuth authorization, as the portal-port interaction routes serve it
 * (`/oauth/interaction/<uid>/details|confirm|deny`). Plain same-origin fetches with the session cookie: these
 * routes sit beside oidc-provider, not in tRPC.
 */

const text = (max: number) => z.string().max(max);

export const ConsentClient = z.object({
  clientId: text(2048),
  name: text(256),
  logoUri: text(2048).nullable(),
  registration: z.enum(['cimd', 'dcr']),
  domain: text(256),
  redirectUri: text(2048),
  localhostOnly: z.boolean(),
});
export type ConsentClient = z.infer<typeof ConsentClient>;

export const ConsentMcp = z.object({
  id: text(64),
  slug: text(64),
  name: text(256),
  tools: z
    .array(z.object({ name: text(128), title: text(256).optional(), description: text(4096).optional() }))
    .max(1000),
  subscribed: z.boolean(),
  selectedTools: z.array(text(128)).max(1000).nullable(),
});
export type ConsentMcp = z.infer<typeof ConsentMcp>;

export const ConsentDetails = z.object({
  uid: text(256),
  client: ConsentClient,
  resource: text(2048),
  existingClient: z.object({ id: text(64), name: text(256) }).nullable(),
  mcps: z.array(ConsentMcp).max(1000),
});
export type ConsentDetails = z.infer<typeof ConsentDetails>;

/** What `confirm` takes: at least one MCP; `tools: null` means every approved tool, now and later. */
export interface ConsentSubscription {
  mcpId: string;
  tools: string[] | null;
}

const RedirectAnswer = z.object({ redirectTo: text(8192) });

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
    call(`${base(uid)}/details`, { headers: { accept: 'application/json' } }, ConsentDetails),
  confirm: (uid: string, subscriptions: ConsentSubscription[]) =>
    call(`${base(uid)}/confirm`, post({ subscriptions }), RedirectAnswer),
  deny: (uid: string) => call(`${base(uid)}/deny`, post(), RedirectAnswer),
};
