import type { ErrorCode, FieldErrors } from '@gatehouse/schema';
import { TRPCClientError } from '@trpc/client';

/** What a screen needs to show about a failed call. */
export interface AppError {
  code: ErrorCode;
  message: string;
  /** Keyed by input field name (`password`, `email`); `_` holds errors about the input as a whole. */
  fieldErrors: FieldErrors;
  requestId?: string;
  httpStatus?: number;
}

const unreachable: AppError = {
  code: 'INTERNAL',
  message: 'Gatehouse could not be reached. Check your connection and try again.',
  fieldErrors: {},
};

const isAppError = (value: unknown): value is AppError =>
  typeof value === 'object' &&
  value !== null &&
  'code' in value &&
  'message' in value &&
  'fieldErrors' in value;

/**
 * Turns anything a call can throw into an `AppError`. Only server-described errors (and `AppError`s the portal
 * throws itself, such as a failed local validation) keep their message.
 */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  if (error instanceof TRPCClientError) {
    const data: unknown = error.data;
    if (data && typeof data === 'object' && 'gatehouseCode' in data) {
      const described = data as {
        gatehouseCode: ErrorCode;
        fieldErrors?: FieldErrors;
        requestId?: string;
        httpStatus?: number;
      };
      return {
        code: described.gatehouseCode,
        message: error.message,
        fieldErrors: described.fieldErrors ?? {},
        requestId: described.requestId,
        httpStatus: described.httpStatus,
      };
    }
    // No tRPC error body: the request never reached Gatehouse, or something in between answered.
    return unreachable;
  }
  return {
    code: 'INTERNAL',
    message: 'Something went wrong in the portal. Reload the page and try again.',
    fieldErrors: {},
  };
}

/** The messages for one field, or undefined (form fields phrase them with their label). */
export function fieldError(error: AppError | undefined, field: string): readonly string[] | undefined {
  const messages = error?.fieldErrors[field];
  return messages && messages.length > 0 ? messages : undefined;
}

/** A structural stand-in for a zod schema, so the portal needs no direct zod dependency. */
interface Parser<T> {
  safeParse(
    value: unknown,
  ):
    | { success: true; data: T }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/**
 * Checks form input against the same schema the server uses, and reports problems in the server's shape,
 * so one code path shows both.
 */
export function validate<T>(
  schema: Parser<T>,
  value: unknown,
): { ok: true; data: T } | { ok: false; error: AppError } {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, data: result.data };
  const fieldErrors: FieldErrors = {};
  for (const issue of result.error.issues) {
    const key = issue.path.map(String).join('.') || '_';
    fieldErrors[key] = [...(fieldErrors[key] ?? []), issue.message];
  }
  return { ok: false, error: { code: 'VALIDATION_FAILED', message: 'Some fields are invalid', fieldErrors } };
}
