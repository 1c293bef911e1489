import type { ErrorCode, ErrorData, FieldErrors } from '@gatehouse/schema';
import { initTRPC, TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import { ZodError } from 'zod';
import { AuditUnavailableError } from '../audit/unavailable.js';
import { DomainError, fieldErrorsOf } from '../platform/errors.js';
import type { TrpcContext } from './context.js';

export const trpcCodeOf: Record<ErrorCode, TRPC_ERROR_CODE_KEY> = {
  VALIDATION_FAILED: 'BAD_REQUEST',
  UNAUTHENTICATED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  CSRF_REJECTED: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  CAPACITY_EXCEEDED: 'TOO_MANY_REQUESTS',
  DOWNSTREAM_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  DOWNSTREAM_TIMEOUT: 'GATEWAY_TIMEOUT',
  DOWNSTREAM_FAILED: 'BAD_GATEWAY',
  AUDIT_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
};

/** The single mapping from errors to what a tRPC caller sees. Unknown errors never show their message. */
function describeError(error: TRPCError): { code: ErrorCode; message: string; fieldErrors?: FieldErrors } {
  const cause = error.cause;
  if (cause instanceof DomainError)
    return { code: cause.code, message: cause.message, fieldErrors: cause.fieldErrors };
  if (error.code === 'BAD_REQUEST' && cause instanceof ZodError) {
    return {
      code: 'VALIDATION_FAILED',
      message: 'Some fields are invalid',
      fieldErrors: fieldErrorsOf(cause.issues),
    };
  }
  if (error.code === 'BAD_REQUEST' || error.code === 'PARSE_ERROR') {
    return { code: 'VALIDATION_FAILED', message: 'The request could not be read' };
  }
  if (error.code === 'NOT_FOUND' || error.code === 'METHOD_NOT_SUPPORTED') {
    return { code: 'NOT_FOUND', message: 'No such procedure' };
  }
  if (error.code === 'PAYLOAD_TOO_LARGE')
    return { code: 'VALIDATION_FAILED', message: 'The request is too large' };
  return { code: 'INTERNAL', message: 'Internal server error' };
}

const t = initTRPC.context<TrpcContext>().create({
  errorFormatter({ shape, error, ctx }) {
    const described = describeError(error);
    const data: ErrorData & typeof shape.data = {
      ...shape.data,
      stack: undefined,
      gatehouseCode: described.code,
      requestId: ctx?.requestId,
      ...(described.fieldErrors && { fieldErrors: described.fieldErrors }),
    };
    return { ...shape, message: described.message, data };
  },
});

/** Converts domain errors into tRPC errors with the right status, once, for every procedure. */
const mapDomainErrors = t.middleware(async ({ next, ctx }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof AuditUnavailableError) {
      ctx.log.error({ requestId: ctx.requestId, database: cause.failure }, cause.logMessage);
    }
    if (cause instanceof DomainError) {
      throw new TRPCError({ code: trpcCodeOf[cause.code], message: cause.message, cause });
    }
    if (result.error.code === 'INTERNAL_SERVER_ERROR') {
      ctx.log.error({ err: cause ?? result.error, requestId: ctx.requestId }, 'procedure failed');
    }
  }
  return result;
});

export const router = t.router;
export const middleware = t.middleware;
export const baseProcedure = t.procedure.use(mapDomainErrors);
