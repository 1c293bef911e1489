import {
  type ClientCapabilities,
  ErrorCode,
  type JSONRPCMessage,
  LATEST_PROTOCOL_VERSION,
  type RequestId,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import type { Config } from '../platform/config.js';
import { DomainError } from '../platform/errors.js';
import type { ClientAccess, ClientAccessCache } from './access.js';
import { paramsProblem, sendWireError, toWireError } from './jsonrpc-errors.js';
import type { KeyGuard } from './key-guard.js';
import type { Method, MethodCall } from './mcp-methods.js';
import type { McpSession } from './mcp-session.js';
import { readMessage } from './message-limits.js';
import type { RequestContext } from './request-context.js';
import { type McpSessions, trackResponse } from './session-registry.js';
import { SessionBoundsError } from './session-store.js';
import {
  acceptsOf,
  CallAnswer,
  isJsonBody,
  openGetStream,
  protocolVersionRefused,
} from './streamable-http.js';
import type { View } from './tool-gateway.js';

const SERVER_INFO = { name: 'gatehouse', version: '0.1.0' };
const CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { subscribe: true },
  logging: {},
  completions: {},
};

export interface PipelineDeps {
  readonly access: ClientAccessCache;
  readonly guard: KeyGuard;
  readonly refusals: RefusalAudit;
  readonly config: Config;
  readonly sessions: McpSessions;
  readonly methods: ReadonlyMap<string, Method>;
  readonly log: Logger;
  /** The canonical URL of an endpoint (`/mcp` for null, `/mcp/<slug>`): what an OAuth token must be bound to. */
  resourceOf(slug: string | null): string;
  /** Why a known client may not connect now (suspended, revoked, killed), or null: `ToolGateway.admission`. */
  admission(access: ClientAccess): Promise<string | null>;
  /** Audits a refused known client (rate-limited by the caller). */
  recordRefusal(access: ClientAccess, reason: string, request: FastifyRequest): void;
}

type Message = JSONRPCMessage & { id?: RequestId; method?: string; params?: Record<string, unknown> };

/**
 * One request to `/mcp`, top to bottom:
 *   1. authenticate — `onRequest`, from the headers alone, before the body is read; sets the request context
 *   2. parse and bound the message — size while reading, then depth, lengths, envelope, params
 *   3. resolve the session — by id, bound to the key that opened it; `initialize` opens one
 *   4. route — the method table (`mcp-methods.ts`)
 *   5. authorize → forward → audit — `ToolGateway`, with the access resolved in step 1
 *   6. reply — plain JSON, or SSE when something streams (`streamable-http.ts`)
 */
export class McpPipeline {
  constructor(private readonly deps: PipelineDeps) {}

  /** 1. Authenticate: a request without a valid, admitted key is answered here and its body never read. */
  async authenticate(
    request: FastifyRequest,
    reply: FastifyReply,
    view: View,
  ): Promise<FastifyReply | undefined> {
    const requestId = String(request.id);
    const verdict = await this.deps.guard.check({
      authorization: request.headers.authorization,
      ip: request.ip,
      id: requestId,
      resource: this.deps.resourceOf(view.only),
    });
    if (verdict.ok) {
      // The connect rules of the one pure `authorize` (client and user active, neither killed).
      const refusal = await this.deps.admission(verdict.access);
      if (!refusal) {
        request.mcp = { requestId, ip: request.ip, access: verdict.access, view };
        return undefined;
      }
      this.deps.recordRefusal(verdict.access, refusal, request);
    }
    reply.header('connection', 'close');
    if (!verdict.ok && (verdict.refusal === 'throttled' || verdict.refusal === 'unavailable')) {
      reply.header('retry-after', String(verdict.retryAfterSeconds));
      return sendWireError(reply, verdict.refusal === 'throttled' ? 'AUTH_THROTTLED' : 'UNAVAILABLE');
    }
    // The resource_metadata parameter (RFC 9728) is added to every 401 of the endpoint (mcp-endpoint.ts).
    reply.header(
      'www-authenticate',
      verdict.ok || verdict.refusal !== 'missing' ? 'Bearer error="invalid_token"' : 'Bearer',
    );
    return sendWireError(reply, 'UNAUTHORIZED');
  }

  /** Every method of `/mcp`: POST carries one message, GET opens or resumes a stream, DELETE ends the session. */
  async handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const context = request.mcp;
    if (!context) return sendWireError(reply, 'UNAUTHORIZED');
    this.deps.access.touch(context.access, request.ip);

    // 2. Parse and bound the message (the body's size was bounded while it was read).
    let message: Message | undefined;
    if (request.method === 'POST') {
      const read = readMessage(String(request.body ?? ''), this.deps.config.mcpLimits);
      if (!read.ok) {
        await this.deps.refusals.record('protocol_error', request.ip, context.requestId);
        return sendWireError(reply, read.problem.kind, read.problem);
      }
      message = read.message as Message;
      if (!isJsonBody(request)) return sendWireError(reply, 'UNSUPPORTED_MEDIA_TYPE');
      const accepts = acceptsOf(request);
      if (!accepts.json && !accepts.sse) return sendWireError(reply, 'NOT_ACCEPTABLE');
    }

    // 3. Resolve the session: someone else's session id is indistinguishable from an unknown one.
    const sessionId = request.headers['mcp-session-id'];
    if (typeof sessionId !== 'string') {
      if (message?.method === 'initialize' && message.id !== undefined)
        return this.initialize(context, message, reply);
      return sendWireError(reply, 'SESSION_REQUIRED');
    }
    const session = await this.deps.sessions.resolve(sessionId, context.access, context.view);
    // Sessions belong to the exact key and endpoint that opened them: after a key rotation the client
    // re-initializes instead of talking to a session whose key no longer works.
    if (!session || session.keyHash !== context.access.keyHash || session.view.only !== context.view.only) {
      if (session && session.keyHash !== context.access.keyHash) {
        await this.deps.refusals.record('session_mismatch', request.ip, context.requestId);
      }
      return sendWireError(reply, 'SESSION_NOT_FOUND');
    }
    if (message?.method === 'initialize')
      return sendWireError(reply, 'ALREADY_INITIALIZED', { id: message.id ?? null });
    const refused = protocolVersionRefused(request, reply);
    if (refused) return refused;
    context.session = session;
    this.deps.sessions.touch(session, { requestId: context.requestId, ip: context.ip });
    trackResponse(session, reply.raw);

    if (request.method === 'GET') return openGetStream(request, reply, session);
    if (request.method === 'DELETE') {
      await this.deps.sessions.end(session, 'closed by the client');
      return reply.code(200).send();
    }
    if (!message) return sendWireError(reply, 'NOT_JSON_RPC');
    if (message.method === undefined || message.id === undefined) {
      this.accept(session, message);
      return reply.code(202).send();
    }
    // 4–6. Route, authorize → forward → audit, reply.
    await this.serve(
      context,
      session,
      message as Message & { id: RequestId; method: string },
      new CallAnswer(reply, session, acceptsOf(request)),
    );
    return reply.sent ? reply : undefined;
  }

  /** `initialize` without a session: negotiate, open the session, answer with its id. */
  private async initialize(
    context: RequestContext,
    message: Message,
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    const params = message.params as {
      protocolVersion: string;
      capabilities: ClientCapabilities;
      clientInfo: Record<string, unknown>;
    };
    const protocolVersion = SUPPORTED_PROTOCOL_VERSIONS.includes(params.protocolVersion)
      ? params.protocolVersion
      : LATEST_PROTOCOL_VERSION;
    let session: McpSession | 'too many';
    try {
      session = await this.deps.sessions.open(context, {
        protocolVersion,
        capabilities: params.capabilities,
        clientInfo: params.clientInfo,
      });
    } catch (error) {
      if (error instanceof SessionBoundsError)
        return sendWireError(reply, 'INVALID_PARAMS', { detail: error.message, id: message.id ?? null });
      // The key's client was deleted meanwhile: its key is no longer valid.
      if (error instanceof DomainError && error.code === 'UNAUTHENTICATED')
        return sendWireError(reply, 'UNAUTHORIZED', { id: message.id ?? null });
      // A session id taken already (vanishingly rare): retrying opens another.
      if (error instanceof DomainError && error.code === 'CONFLICT')
        return sendWireError(reply, 'UNAVAILABLE', { id: message.id ?? null });
      throw error;
    }
    if (session === 'too many') {
      return sendWireError(reply, 'TOO_MANY_SESSIONS', {
        detail: `at most ${this.deps.config.mcpSessions.maxPerClient}`,
      });
    }
    trackResponse(session, reply.raw);
    const result = { protocolVersion, capabilities: CAPABILITIES, serverInfo: SERVER_INFO };
    return reply
      .code(200)
      .header('content-type', 'application/json')
      .header('mcp-session-id', session.id)
      .send(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
  }

  /** Notifications and responses from the client: cancellation, answers to our requests; the rest is noted. */
  private accept(session: McpSession, message: Message): void {
    if (message.method === 'notifications/cancelled') {
      const params = message.params as { requestId?: RequestId; reason?: unknown } | undefined;
      if (params?.requestId !== undefined) session.cancel(params.requestId, params.reason);
    } else if (message.method === undefined && message.id !== undefined) {
      session.answer(message as Parameters<McpSession['answer']>[0]);
    }
  }

  /** Routes one request to its method and writes its answer; local failures never cross the wire. */
  private async serve(
    context: RequestContext,
    session: McpSession,
    message: Message & { id: RequestId; method: string },
    answer: CallAnswer,
  ): Promise<void> {
    const { id } = message;
    const method = this.deps.methods.get(message.method);
    if (!method) {
      return answer.finish({
        jsonrpc: '2.0',
        id,
        error: { code: ErrorCode.MethodNotFound, message: 'Method not found' },
      });
    }
    const problem = paramsProblem(method.schema, message);
    if (problem !== undefined) {
      return answer.finish({
        jsonrpc: '2.0',
        id,
        error: { code: ErrorCode.InvalidParams, message: `Invalid params: ${problem}` },
      });
    }
    // A progress token asks for progress: the answer streams from the start.
    if ((message.params?._meta as { progressToken?: unknown } | undefined)?.progressToken !== undefined) {
      answer.openStream();
    }
    const signal = session.begin(id);
    if (!signal) {
      return answer.finish({
        jsonrpc: '2.0',
        id,
        error: {
          code: ErrorCode.InvalidRequest,
          message: 'Invalid Request: a request with this id is in flight',
        },
      });
    }
    const call: MethodCall = { context, session, signal, send: answer.send };
    try {
      const result = await method.handle(message.params as never, call);
      answer.finish({ jsonrpc: '2.0', id, result });
    } catch (error) {
      const wire = toWireError(error, (cause) =>
        this.deps.log.error({ err: cause }, 'MCP request handler failed'),
      );
      answer.finish({
        jsonrpc: '2.0',
        id,
        error: {
          code: wire.code,
          message: wire.message,
          ...(wire.data !== undefined && { data: wire.data }),
        },
      });
    } finally {
      session.done(id, signal);
    }
  }
}
