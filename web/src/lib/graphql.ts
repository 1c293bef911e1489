import type { ErrorCode, FieldErrors } from '@gatehouse/schema';
import type { AppError } from './errors.js';
import { me, SESSION_ENDED_MESSAGE, signedOut } from './session.js';

interface GraphqlError {
  message: string;
  extensions?: { code?: ErrorCode; fieldErrors?: FieldErrors };
}

/**
 * One query to the audit explorer's GraphQL endpoint, with the portal session's cookie. Failures become
 * `AppError`s like tRPC's; an ended session returns to sign-in, whichever screen asked.
 */
export async function graphql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  // The explorer runs a few requests per person at once; a screen asking more waits and tries again.
  for (let attempt = 0; ; attempt++) {
    try {
      return await graphqlOnce<T>(query, variables);
    } catch (error) {
      if ((error as AppError).code !== 'RATE_LIMITED' || attempt >= 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250 * (attempt + 1)));
    }
  }
}

async function graphqlOnce<T>(query: string, variables: Record<string, unknown>): Promise<T> {
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw {
      code: 'INTERNAL',
      message: 'Gatehouse could not be reached. Check your connection and try again.',
      fieldErrors: {},
    } satisfies AppError;
  }
  const body = (await response.json().catch(() => ({}))) as { data?: T; errors?: GraphqlError[] };
  const first = body.errors?.[0];
  if (first || !body.data) {
    const code = first?.extensions?.code ?? 'INTERNAL';
    if (code === 'UNAUTHENTICATED' && me()) signedOut(SESSION_ENDED_MESSAGE);
    throw {
      code,
      message: first?.message ?? 'The audit explorer did not answer.',
      fieldErrors: first?.extensions?.fieldErrors ?? {},
      httpStatus: response.status,
    } satisfies AppError;
  }
  return body.data;
}
