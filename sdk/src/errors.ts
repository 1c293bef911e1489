import type { ErrorCode, FieldErrors } from '@gatehouse/schema';

export type { ErrorCode, FieldErrors } from '@gatehouse/schema';

/**
 * The HTTP status Gatehouse answers with for each error code. Used only when a failure carries a code but
 * no status. Typed as a `Record` over the shared `ErrorCode` union so that a code added on the server
 * fails the SDK's type check until it is listed here.
 */
const statusOfCode: Record<ErrorCode, number> = {
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

/**
 * The code for a bare HTTP status, for answers that did not come from Gatehouse itself (a reverse proxy's
 * 429 or 502 page, say). 403 maps to `FORBIDDEN` because `CSRF_REJECTED` is only ever sent by Gatehouse.
 */
const codeOfStatus: Partial<Record<number, ErrorCode>> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  429: 'RATE_LIMITED',
};

/** Options for {@link GatehouseError}'s constructor. */
export interface GatehouseErrorOptions {
  /** What went wrong, from the closed set of Gatehouse error codes. */
  code: ErrorCode;
  /** The HTTP status of the response, or `0` when no response arrived (network failure, abort). */
  status: number;
  /** The server's id for the request, to quote when asking an operator to look in the logs. */
  requestId?: string;
  /** Per-field messages, keyed by input path (`name`, `members.0`). */
  fieldErrors?: FieldErrors;
  /** The underlying error, usually the `TRPCClientError` this one was converted from. */
  cause?: unknown;
}

/**
 * The one error type every call made through a {@link createGatehouseClient} client rejects with.
 *
 * Branch on {@link GatehouseError.code} (a closed union shared with the server), not on the message:
 * messages are meant for people and may change.
 *
 * @example
 * ```ts
 * try {
 *   await gatehouse.groups.create.mutate({ name: 'ops' });
 * } catch (error) {
 *   if (isGatehouseError(error) && error.code === 'CONFLICT') {
 *     // the group already exists
 *   } else {
 *     throw error;
 *   }
 * }
 * ```
 */
export class GatehouseError extends Error {
  override readonly name = 'GatehouseError';
  /** What went wrong, from the closed set of Gatehouse error codes. */
  readonly code: ErrorCode;
  /** The HTTP status of the response, or `0` when no response arrived (network failure, abort). */
  readonly status: number;
  /** The server's id for the request, when the server assigned one. */
  readonly requestId?: string;
  /**
   * Per-field messages for `VALIDATION_FAILED` (and some `CONFLICT`) errors, keyed by input path, such as
   * `{ name: ['letters, digits, dot, dash and underscore'] }`.
   */
  readonly fieldErrors?: FieldErrors;

  /**
   * Creates an error. Callers of the SDK normally receive these rather than construct them; constructing
   * one is useful for tests and fakes.
   *
   * @param message - A readable description; for server errors, the server's message.
   * @param options - The code, status and optional details.
   */
  constructor(message: string, options: GatehouseErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.status = options.status;
    if (options.requestId !== undefined) this.requestId = options.requestId;
    if (options.fieldErrors !== undefined) this.fieldErrors = options.fieldErrors;
  }
}

/**
 * Whether a caught value is a {@link GatehouseError}; a type guard for `catch` blocks.
 *
 * @param error - Any caught value.
 * @returns `true` when `error` is a `GatehouseError`.
 */
export function isGatehouseError(error: unknown): error is GatehouseError {
  return error instanceof GatehouseError;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === 'string' && Object.hasOwn(statusOfCode, value);

function isFieldErrors(value: unknown): value is FieldErrors {
  return (
    isRecord(value) &&
    Object.values(value).every(
      (messages) => Array.isArray(messages) && messages.every((message) => typeof message === 'string'),
    )
  );
}

/** The HTTP status of the response a `TRPCClientError` came from, if it came from one. */
function responseStatusOf(error: Record<string, unknown>): number | undefined {
  const meta = error.meta;
  if (!isRecord(meta) || !isRecord(meta.response)) return undefined;
  const status = meta.response.status;
  return typeof status === 'number' ? status : undefined;
}

/**
 * Converts anything a tRPC call can throw into a {@link GatehouseError}.
 *
 * - A `TRPCClientError` from Gatehouse carries `data.gatehouseCode`, `data.httpStatus`, `data.requestId`
 *   and `data.fieldErrors`; they become `code`, `status`, `requestId` and `fieldErrors`.
 * - An HTTP failure that did not come from Gatehouse (a proxy's error page) gets the code that matches its
 *   status, or `INTERNAL`.
 * - Anything else (network failure, abort, a throwing custom `fetch`) becomes `INTERNAL` with status `0`.
 *
 * The original error is kept as `cause`, and a `GatehouseError` is returned unchanged. Clients made by
 * {@link createGatehouseClient} already apply this to every call; use it directly only when calling
 * Gatehouse through your own tRPC client.
 *
 * @param error - The caught value, typically a `TRPCClientError`.
 * @returns The equivalent `GatehouseError`.
 */
export function toGatehouseError(error: unknown): GatehouseError {
  if (error instanceof GatehouseError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const fields = isRecord(error) ? error : {};
  const data = isRecord(fields.data) ? fields.data : {};
  const httpStatus = typeof data.httpStatus === 'number' ? data.httpStatus : responseStatusOf(fields);
  const code = isErrorCode(data.gatehouseCode)
    ? data.gatehouseCode
    : ((httpStatus !== undefined ? codeOfStatus[httpStatus] : undefined) ?? 'INTERNAL');
  return new GatehouseError(message, {
    code,
    status: httpStatus ?? (isErrorCode(data.gatehouseCode) ? statusOfCode[code] : 0),
    ...(typeof data.requestId === 'string' && { requestId: data.requestId }),
    ...(isFieldErrors(data.fieldErrors) && { fieldErrors: data.fieldErrors }),
    cause: error,
  });
}
