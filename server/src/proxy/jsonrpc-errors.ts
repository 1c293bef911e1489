import {
  ErrorCode,
  InitializeRequestSchema,
  JSONRPCMessageSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import type { FastifyReply } from 'fastify';

interface WireError {
  readonly status: number;
  readonly code: number;
  readonly message: string;
}

/**
 * Every error the MCP endpoint writes itself, at the HTTP level or before a message reaches its method, with
 * its HTTP status and JSON-RPC code. Errors raised while a method is handled go through `toWireError` instead. Downstream
 * JSON-RPC errors pass through unchanged; nothing else carries local error text to the client.
 */
export const WIRE_ERRORS = {
  PARSE_ERROR: { status: 400, code: ErrorCode.ParseError, message: 'Parse error: the body is not JSON' },
  BODY_TOO_LARGE: {
    status: 413,
    code: ErrorCode.InvalidRequest,
    message: 'Invalid Request: the body is too large',
  },
  LIMIT_EXCEEDED: {
    status: 400,
    code: ErrorCode.InvalidRequest,
    message: 'Invalid Request: the message exceeds a limit',
  },
  BATCH: {
    status: 400,
    code: ErrorCode.InvalidRequest,
    message: 'Invalid Request: batches are not supported',
  },
  NOT_JSON_RPC: {
    status: 400,
    code: ErrorCode.InvalidRequest,
    message: 'Invalid Request: not a JSON-RPC 2.0 message',
  },
  INVALID_METHOD: {
    status: 400,
    code: ErrorCode.InvalidRequest,
    message: 'Invalid Request: "method" must be a string',
  },
  INVALID_ID: {
    status: 400,
    code: ErrorCode.InvalidRequest,
    message: 'Invalid Request: "id" must be a string or a number',
  },
  // A well-formed request with bad params gets an ordinary JSON-RPC error answer, so HTTP 200.
  INVALID_PARAMS: { status: 200, code: ErrorCode.InvalidParams, message: 'Invalid params' },
  UNAUTHORIZED: {
    status: 401,
    code: -32001,
    message: 'Unauthorized: a valid client key is required (Authorization: Bearer gh_ck_…)',
  },
  CREDENTIAL_IN_URL: {
    status: 401,
    code: -32001,
    message:
      'Unauthorized: credentials are not accepted in the URL; send the client key as Authorization: Bearer gh_ck_…',
  },
  HOST_NOT_ALLOWED: { status: 403, code: -32000, message: 'Forbidden: Host not allowed' },
  ORIGIN_NOT_ALLOWED: { status: 403, code: -32000, message: 'Forbidden: Origin not allowed' },
  SESSION_REQUIRED: { status: 400, code: -32000, message: 'Bad Request: Mcp-Session-Id header is required' },
  SESSION_NOT_FOUND: { status: 404, code: -32001, message: 'Session not found' },
  TOO_MANY_SESSIONS: { status: 429, code: -32000, message: 'Too many open sessions for this client' },
  AUTH_THROTTLED: {
    status: 429,
    code: -32000,
    message: 'Too many failed authentication attempts; retry later',
  },
  UNSUPPORTED_PROTOCOL_VERSION: {
    status: 400,
    code: -32000,
    message: 'Bad Request: Unsupported protocol version',
  },
  ALREADY_INITIALIZED: {
    status: 400,
    code: ErrorCode.InvalidRequest,
    message: 'Invalid Request: Server already initialized',
  },
  NOT_ACCEPTABLE: {
    status: 406,
    code: -32000,
    message: 'Not Acceptable: Client must accept application/json or text/event-stream',
  },
  NOT_ACCEPTABLE_STREAM: {
    status: 406,
    code: -32000,
    message: 'Not Acceptable: Client must accept text/event-stream',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    code: -32000,
    message: 'Unsupported Media Type: Content-Type must be application/json',
  },
  STREAM_CONFLICT: { status: 409, code: -32000, message: 'Conflict: the stream already has a connection' },
  INVALID_EVENT_ID: { status: 400, code: -32000, message: 'Bad Request: unknown or expired event id' },
  UNAVAILABLE: { status: 503, code: -32000, message: 'Gatehouse is temporarily unavailable; retry later' },
  INTERNAL: { status: 500, code: ErrorCode.InternalError, message: 'Internal error' },
} as const satisfies Record<string, WireError>;

export type WireErrorKind = keyof typeof WIRE_ERRORS;

type JsonRpcId = string | number | null;

/** Writes one error from the table; `detail` (one line, never internal text) follows the fixed message. */
export function sendWireError(
  reply: FastifyReply,
  kind: WireErrorKind,
  options: { detail?: string; id?: JsonRpcId } = {},
): FastifyReply {
  const entry = WIRE_ERRORS[kind];
  return jsonRpcError(
    reply,
    entry.status,
    entry.code,
    options.detail ? `${entry.message}: ${options.detail}` : entry.message,
    options.id ?? null,
  );
}

/** The raw writer behind the table (kept for call sites that predate it). */
export const jsonRpcError = (
  reply: FastifyReply,
  status: number,
  code: number,
  message: string,
  id: JsonRpcId = null,
) =>
  reply
    .code(status)
    .header('content-type', 'application/json')
    .send({ jsonrpc: '2.0', id, error: { code, message } });

type FieldType = 'string' | 'object';

/**
 * Cheap structural checks of the params of the requests Gatehouse serves (a few `typeof`s, no schema): the
 * fields each method needs and the optional ones whose type the handlers rely on. The method's full schema
 * is checked once more before its handler runs; its failures become one-line INVALID_PARAMS (`paramsProblem`).
 */
const PARAMS_SHAPES: ReadonlyMap<
  string,
  { required: [string, FieldType][]; optional: [string, FieldType][] }
> = new Map([
  ['ping', { required: [], optional: [] }],
  ['tools/list', { required: [], optional: [['cursor', 'string']] }],
  ['tools/call', { required: [['name', 'string']], optional: [['arguments', 'object']] }],
  ['prompts/list', { required: [], optional: [['cursor', 'string']] }],
  ['prompts/get', { required: [['name', 'string']], optional: [['arguments', 'object']] }],
  ['resources/list', { required: [], optional: [['cursor', 'string']] }],
  ['resources/templates/list', { required: [], optional: [['cursor', 'string']] }],
  ['resources/read', { required: [['uri', 'string']], optional: [] }],
  ['resources/subscribe', { required: [['uri', 'string']], optional: [] }],
  ['resources/unsubscribe', { required: [['uri', 'string']], optional: [] }],
  ['logging/setLevel', { required: [['level', 'string']], optional: [] }],
  [
    'completion/complete',
    {
      required: [
        ['ref', 'object'],
        ['argument', 'object'],
      ],
      optional: [],
    },
  ],
]);

// Every request may carry `_meta` (an object).
for (const shape of PARAMS_SHAPES.values()) shape.optional.push(['_meta', 'object']);

const isType = (value: unknown, type: FieldType) =>
  type === 'string'
    ? typeof value === 'string'
    : typeof value === 'object' && value !== null && !Array.isArray(value);

/** The first field of `params` that breaks its method's shape, as one line; undefined when none does. */
function shapeProblem(method: string, params: Record<string, unknown> | undefined): string | undefined {
  const shape = PARAMS_SHAPES.get(method);
  if (!shape) return undefined;
  for (const [field, type] of shape.required) {
    if (!isType(params?.[field], type)) return `params.${field}: expected ${article(type)}`;
  }
  for (const [field, type] of shape.optional) {
    const value = params?.[field];
    if (value !== undefined && !isType(value, type)) return `params.${field}: expected ${article(type)}`;
  }
  return undefined;
}

export type EnvelopeProblem = { kind: WireErrorKind; detail?: string; id?: JsonRpcId };

/**
 * Checks the JSON-RPC 2.0 envelope of one parsed message (after the size bounds, so this never walks an
 * unbounded value) and, for the requests Gatehouse serves, their params. Returns the error to answer, or null.
 */
export function checkEnvelope(body: unknown): EnvelopeProblem | null {
  if (Array.isArray(body)) return { kind: 'BATCH' };
  if (typeof body !== 'object' || body === null) return { kind: 'NOT_JSON_RPC' };
  const message = body as Record<string, unknown>;
  if (message.jsonrpc !== '2.0') return { kind: 'NOT_JSON_RPC' };
  const hasId = 'id' in message;
  if (hasId && typeof message.id !== 'string' && typeof message.id !== 'number')
    return { kind: 'INVALID_ID' };
  const id = hasId ? (message.id as string | number) : null;
  const isResponse = !('method' in message) && ('result' in message || 'error' in message);
  if (!isResponse && typeof message.method !== 'string') return { kind: 'INVALID_METHOD', id };
  if (!isResponse && message.params !== undefined) {
    if (typeof message.params !== 'object' || message.params === null || Array.isArray(message.params)) {
      return { kind: 'INVALID_PARAMS', detail: '"params" must be an object', id };
    }
  }
  if (!isResponse && hasId && message.method === 'initialize') {
    // Once per session, and the SDK's own handler: the full schema here, so its failure is one line too.
    const result = InitializeRequestSchema.safeParse(message);
    return result.success ? null : { kind: 'INVALID_PARAMS', detail: firstIssue(result.error), id };
  }
  if (!isResponse && hasId && PARAMS_SHAPES.has(message.method as string)) {
    // The envelope of a request is fully checked above; its params get the cheap checks only.
    const detail = shapeProblem(message.method as string, message.params as Record<string, unknown>);
    return detail === undefined ? null : { kind: 'INVALID_PARAMS', detail, id };
  }
  // Notifications, responses and methods Gatehouse does not serve: the SDK's envelope schema, so a message
  // it would refuse gets -32600 here instead of its -32700.
  return JSONRPCMessageSchema.safeParse(message).success ? null : { kind: 'NOT_JSON_RPC', id };
}

/** One line naming the first offending field, e.g. `params.name: expected a string`. */
function firstIssue(error: unknown): string {
  const issue = (error as { issues?: { path?: PropertyKey[]; message?: string; expected?: unknown }[] })
    .issues?.[0];
  if (!issue) return 'the params do not match the method';
  const path = (issue.path ?? []).map(String).join('.') || 'params';
  const what = typeof issue.expected === 'string' ? `expected ${article(issue.expected)}` : 'invalid value';
  return `${path}: ${what}`.replace(/[\r\n]+/g, ' ').slice(0, 200);
}

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/**
 * What a failure inside a request handler looks like on the wire. JSON-RPC errors (ours, the SDK's and
 * those a downstream returned) pass; any other error is local and becomes a bare "Internal error", its
 * text going only to `logInternal`.
 */
export function toWireError(error: unknown, logInternal: (error: unknown) => void): McpError {
  if (error instanceof McpError) return error;
  logInternal(error);
  return new McpError(ErrorCode.InternalError, WIRE_ERRORS.INTERNAL.message);
}

/** Wraps a request handler so it can only fail with a wire error (see `toWireError`). */
export function wireSafe<A extends unknown[], R>(
  handler: (...args: A) => R | Promise<R>,
  logInternal: (error: unknown) => void,
): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await handler(...args);
    } catch (error) {
      throw toWireError(error, logInternal);
    }
  };
}

/**
 * Checks a request against its method's full schema (the SDK's zod schema, after the cheap envelope
 * checks): the one-line INVALID_PARAMS detail of the first offending field, or undefined when it matches.
 */
export function paramsProblem(
  schema: { safeParse(value: unknown): { success: boolean; error?: unknown } },
  message: unknown,
): string | undefined {
  const parsed = schema.safeParse(message);
  return parsed.success ? undefined : firstIssue(parsed.error);
}
