import type { ErrorCode } from '@gatehouse/schema';

/** The HTTP status for each domain error code, for the transports that answer over plain HTTP. */
export const httpStatusOf: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CSRF_REJECTED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  RATE_LIMITED: 429,
  CAPACITY_EXCEEDED: 503,
  DOWNSTREAM_UNAVAILABLE: 503,
  DOWNSTREAM_TIMEOUT: 504,
  DOWNSTREAM_FAILED: 502,
  INTERNAL: 500,
};
