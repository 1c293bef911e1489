import { z } from 'zod';

/** The closed set of error codes every transport maps to. Clients and the SDK branch on these. */
export const ErrorCode = z.enum([
  'VALIDATION_FAILED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'PRECONDITION_FAILED',
  'CSRF_REJECTED',
  'CAPACITY_EXCEEDED',
  'DOWNSTREAM_UNAVAILABLE',
  'DOWNSTREAM_TIMEOUT',
  'DOWNSTREAM_FAILED',
  /** The audit trail could not be written, so the change was rolled back; retry later. */
  'AUDIT_UNAVAILABLE',
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** The HTTP status Gatehouse answers with for each code, on every transport that has one. */
export const httpStatusOfCode: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CSRF_REJECTED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  RATE_LIMITED: 429,
  CAPACITY_EXCEEDED: 429,
  DOWNSTREAM_UNAVAILABLE: 503,
  DOWNSTREAM_TIMEOUT: 504,
  DOWNSTREAM_FAILED: 502,
  AUDIT_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** Field errors keyed by input path (`email`, `members.0`), each a list of readable messages. */
export const FieldErrors = z.record(z.string(), z.array(z.string()));
export type FieldErrors = z.infer<typeof FieldErrors>;

/** What every transport carries besides its own status: code, request id and optional field errors. */
export const ErrorData = z.object({
  gatehouseCode: ErrorCode,
  requestId: z.string().optional(),
  fieldErrors: FieldErrors.optional(),
});
export type ErrorData = z.infer<typeof ErrorData>;
