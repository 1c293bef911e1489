import type { ErrorCode, FieldErrors } from '@gatehouse/schema';
import type { z } from 'zod';

/** A failure the caller can act on. Transports map `code` to their own status once (see each adapter). */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fieldErrors?: FieldErrors,
    /** For RATE_LIMITED and CAPACITY_EXCEEDED: when to try again; every transport sends it as Retry-After. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const validationFailed = (fieldErrors: FieldErrors, message = 'Some fields are invalid') =>
  new DomainError('VALIDATION_FAILED', message, fieldErrors);
export const unauthenticated = (message = 'Sign in required') => new DomainError('UNAUTHENTICATED', message);
export const forbidden = (message = 'You are not allowed to do this') =>
  new DomainError('FORBIDDEN', message);
export const notFound = (entity: string, id: string) =>
  new DomainError('NOT_FOUND', `${entity} "${id}" not found`);
export const conflict = (message: string, fieldErrors?: FieldErrors) =>
  new DomainError('CONFLICT', message, fieldErrors);
export const preconditionFailed = (message: string) => new DomainError('PRECONDITION_FAILED', message);
export const rateLimited = (message: string, retryAfterSeconds?: number) =>
  new DomainError('RATE_LIMITED', message, undefined, retryAfterSeconds);

/** Zod issues as field errors keyed by dotted path under `prefix` (`config.connection.url`). */
export function fieldErrorsOf(
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly string[] = [],
): FieldErrors {
  const fields: FieldErrors = {};
  for (const issue of issues) {
    const key = [...prefix, ...issue.path.map(String)].join('.') || '_';
    fields[key] = [...(fields[key] ?? []), issue.message];
  }
  return fields;
}
