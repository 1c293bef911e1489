import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { McpSessionInfo } from '@gatehouse/schema';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  isInitializeRequest,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  type LoggingLevel,
  McpError,
  type Prompt,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KillSwitchBoard } from '../kill-switches/kill-switch-board.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Config } from '../platform/config.js';
import type { McpInstance } from '../runtime/instance.js';
import { type ClientAccess, ClientAccessCache } from './access.js';
import { SessionEventStore } from './event-store.js';
import { AGGREGATE_VIEW, passthroughView, ToolGateway, type View } from './tool-gateway.js';

const PAGE_SIZE = 200;
/** Each session holds a server, a transport and a replay buffer; a client needs a handful, not thousands. */
const MAX_SESSIONS_PER_CLIENT = 32;
const MAX_SUBSCRIPTIONS_PER_SESSION = 100;
const LOG_LEVELS: LoggingLevel[] = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
];
const MAX_BODY_BYTES = 4 * 1024 * 1024;

interface McpSession {
  readonly id: string;
  readonly view: View;
  readonly keyHash: string;
  readonly clientId: string;
  readonly access: ClientAccess;
  readonly startedAt: number;
  readonly server: Server;
  readonly transport: StreamableHTTPServerTransport;
  lastActivity: number;
  /** Names and hashes of the tools last listed, to send list_changed only when the visible set changes. */
  toolsFingerprint: string;
  promptsFingerprint: string;
}

interface RequestFacts {
  requestId: string;
  ip: string;
}

const jsonRpcError = (reply: FastifyReply, status: number, code: number, message: string) =>
  reply
    .code(status)
    .header('content-type', 'application/json')
    .send({ jsonrpc: '2.0', id: null, error: { code, message } });

const encodeCursor = (offset: number) => Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
function decodeCursor(cursor: string | undefined): number {
  if (!cursor) return 0;
  try {
    const offset = (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown }).o;
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw new McpError(ErrorCode.InvalidParams, 'Invalid cursor');
}

/**
 * The MCP endpoint (`/mcp` on the client port): Streamable HTTP, one SDK `Server` and transport per session,
 * never shared. Every request is authenticated by its client key; a session is bound to the client that
 * opened it, and another key presenting its id is told it does not exist.
 */
export class McpEndpoint {
  private readonly sessions = new Map<string, McpSession>();
  private readonly refusalsRecorded = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly deps: {
      access: ClientAccessCache;
      gateway: ToolGateway;
      config: Config;
      changes: ChangeBus;
      kills: KillSwitchBoard;
      allowedOrigins: readonly string[];
    },
  ) {
    const idleMs = deps.config.timings.idleTimeoutSeconds * 1000;
    this.sweeper = setInterval(() => this.sweepIdle(idleMs), Math.min(idleMs, 30_000));
    this.sweeper.unref();
    this.unsubscribe = deps.changes.subscribe(() => void this.announceToolChanges());
  }

  register(app: FastifyInstance): void {
    app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) =>
        done(null, body),
      );
      scope.route({
        method: ['GET', 'POST', 'DELETE'],
        url: '/mcp',
        handler: (request, reply) => this.handle(request, reply, AGGREGATE_VIEW),
      });
      // One MCP, unprefixed (tool names and URIs as the downstream has them), e.g. for single-server clients.
      scope.route({
        method: ['GET', 'POST', 'DELETE'],
        url: '/mcp/:slug',
        handler: (request, reply) =>
          this.handle(request, reply, passthroughView((request.params as { slug: string }).slug)),
      });
    });
    app.addHook('onClose', async () => this.close());
  }

  listSessions(): McpSessionInfo[] {
    return [...this.sessions.values()].map((s) => ({
      id: s.id,
      clientId: s.clientId,
      clientName: s.access.clientName,
      userId: s.access.userId,
      username: s.access.username,
      startedAt: new Date(s.startedAt).toISOString(),
      lastActivityAt: new Date(s.lastActivity).toISOString(),
    }));
  }

  /** Ends a session now; its client must initialize a new one (its key still works unless revoked). */
  async terminate(id: string, reason: string): Promise<boolean> {
    const session = this.sessions.get(id);
    if (!session) return false;
    // The admin's action is already audited with the admin as actor.
    await this.endSession(session, reason, { audited: true });
    return true;
  }

  private async authenticate(request: FastifyRequest): Promise<ClientAccess | null> {
    const header = request.headers.authorization ?? '';
    const [scheme, key] = header.split(' ', 2);
    if (scheme?.toLowerCase() !== 'bearer' || !key) return null;
    const keyHash = ClientAccessCache.hashOf(key.trim());
    if (!keyHash) return null;
    const access = await this.deps.access.resolve(keyHash);
    if (!access) return null;
    const refusal = await this.refusalOf(access);
    if (refusal) {
      this.recordRefusal(access, refusal, request);
      return null;
    }
    return access;
  }

  /** Why a known client may not connect now, or null. */
  private async refusalOf(access: ClientAccess): Promise<string | null> {
    if (!access.clientActive) return 'client suspended or revoked';
    if (!access.userActive) return 'user suspended';
    if (await this.deps.kills.isKilled('client', access.clientId)) return 'client killed by an admin';
    if (await this.deps.kills.isKilled('user', access.userId)) return 'user killed by an admin';
    return null;
  }

  /** A known but refused client is audited, at most once a minute per client so a retry loop cannot flood. */
  private recordRefusal(access: ClientAccess, reason: string, request: FastifyRequest): void {
    const now = Date.now();
    const key = `${access.clientId}:${reason}`;
    if (now - (this.refusalsRecorded.get(key) ?? 0) < 60_000) return;
    this.refusalsRecorded.set(key, now);
    void this.deps.gateway
      .recordRefusal(access, reason, { requestId: String(request.id), ip: request.ip, sessionId: '' })
      .catch(() => undefined);
  }

  private async handle(request: FastifyRequest, reply: FastifyReply, view: View): Promise<void> {
    const origin = request.headers.origin;
    if (origin && !this.deps.allowedOrigins.includes(origin)) {
      return jsonRpcError(reply, 403, -32000, 'Forbidden: Origin not allowed');
    }
    const access = await this.authenticate(request);
    if (!access) {
      reply.header('www-authenticate', 'Bearer realm="gatehouse", error="invalid_token"');
      return jsonRpcError(
        reply,
        401,
        -32001,
        'Unauthorized: a valid client key is required (Authorization: Bearer gh_ck_…)',
      );
    }
    this.deps.access.touch(access, request.ip);

    let body: unknown;
    if (request.method === 'POST') {
      try {
        body = JSON.parse(String(request.body ?? ''));
      } catch {
        return jsonRpcError(reply, 400, ErrorCode.ParseError, 'Parse error: the body is not JSON');
      }
      if (Array.isArray(body)) {
        return jsonRpcError(
          reply,
          400,
          ErrorCode.InvalidRequest,
          'Invalid Request: batches are not supported',
        );
      }
      if (typeof body !== 'object' || body === null || (body as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
        return jsonRpcError(
          reply,
          400,
          ErrorCode.InvalidRequest,
          'Invalid Request: not a JSON-RPC 2.0 message',
        );
      }
    }

    const sessionId = request.headers['mcp-session-id'];
    let session: McpSession | undefined;
    if (typeof sessionId === 'string') {
      session = this.sessions.get(sessionId);
      // Someone else's session id is indistinguishable from an unknown one.
      // Sessions belong to the exact key and endpoint that opened them: after a key rotation the client
      // re-initializes instead of talking to a session whose key no longer works.
      if (!session || session.keyHash !== access.keyHash || session.view.only !== view.only) {
        return jsonRpcError(reply, 404, -32001, 'Session not found');
      }
    } else if (request.method === 'POST' && isInitializeRequest(body)) {
      const open = [...this.sessions.values()].filter((s) => s.clientId === access.clientId).length;
      if (open >= MAX_SESSIONS_PER_CLIENT) {
        return jsonRpcError(
          reply,
          429,
          -32000,
          `Too many open sessions for this client (${MAX_SESSIONS_PER_CLIENT})`,
        );
      }
      session = await this.openSession(access, view);
    } else {
      return jsonRpcError(reply, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    }
    session.lastActivity = Date.now();
    const raw = request.raw as IncomingMessage & { auth?: AuthInfo };
    const facts: RequestFacts = { requestId: String(request.id), ip: request.ip };
    raw.auth = { token: '', clientId: access.clientId, scopes: [], extra: { ...facts } };
    reply.hijack();
    reply.raw.setHeader('x-content-type-options', 'nosniff');
    reply.raw.setHeader('cache-control', 'no-store');
    await session.transport.handleRequest(raw, reply.raw, body);
  }

  private async openSession(access: ClientAccess, view: View): Promise<McpSession> {
    const server = new Server(
      { name: 'gatehouse', version: '0.1.0' },
      {
        capabilities: {
          tools: { listChanged: true },
          prompts: { listChanged: true },
          resources: { subscribe: true },
          logging: {},
          completions: {},
        },
      },
    );
    let session: McpSession | undefined;
    let logLevel: LoggingLevel = 'info';
    const sessionWithId = (id: string): McpSession => ({
      id,
      view,
      keyHash: access.keyHash,
      clientId: access.clientId,
      access,
      startedAt: Date.now(),
      server,
      transport,
      lastActivity: Date.now(),
      toolsFingerprint: '',
      promptsFingerprint: '',
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: new SessionEventStore(),
      onsessioninitialized: (id) => {
        session = sessionWithId(id);
        this.sessions.set(id, session);
        void this.deps.gateway.recordSession(access, 'mcp_session.start', id).catch(() => undefined);
      },
      onsessionclosed: (id) => {
        const closed = this.sessions.get(id);
        if (closed) void this.endSession(closed, 'closed by the client');
      },
    });
    const currentAccess = async () => {
      const current = await this.deps.access.resolve(access.keyHash);
      const killed =
        current &&
        ((await this.deps.kills.isKilled('client', current.clientId)) ||
          (await this.deps.kills.isKilled('user', current.userId)));
      if (!current?.clientActive || !current.userActive || killed) {
        throw new McpError(ErrorCode.InvalidRequest, 'The client key is no longer valid');
      }
      return current;
    };
    server.setRequestHandler(ListToolsRequestSchema, async (request) => {
      const tools = await this.deps.gateway.visibleTools(await currentAccess(), view);
      if (session) session.toolsFingerprint = fingerprint(tools);
      const offset = decodeCursor(request.params?.cursor);
      const page = tools.slice(offset, offset + PAGE_SIZE);
      return {
        tools: page.map(ToolGateway.describe),
        ...(offset + PAGE_SIZE < tools.length && { nextCursor: encodeCursor(offset + PAGE_SIZE) }),
      };
    });
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const facts = (extra.authInfo?.extra ?? {}) as Partial<RequestFacts>;
      const progressToken = request.params._meta?.progressToken;
      return this.deps.gateway.callTool(
        await currentAccess(),
        request.params.name,
        request.params.arguments ?? {},
        { requestId: facts.requestId ?? '', ip: facts.ip ?? '', sessionId: extra.sessionId ?? '' },
        {
          signal: extra.signal,
          onProgress:
            progressToken === undefined
              ? undefined
              : (progress) =>
                  void extra
                    .sendNotification({
                      method: 'notifications/progress',
                      params: { progressToken, ...progress },
                    })
                    .catch(() => undefined),
          onLog: (params) => {
            if (LOG_LEVELS.indexOf(params.level) < LOG_LEVELS.indexOf(logLevel)) return;
            void extra.sendNotification({ method: 'notifications/message', params }).catch(() => undefined);
          },
          // Relayed on this request's own stream, so it reaches this session and no other.
          onServerRequest: async (downstreamRequest) => {
            const capabilities = server.getClientCapabilities();
            const elicitation = downstreamRequest.method === 'elicitation/create';
            if (elicitation ? !capabilities?.elicitation : !capabilities?.sampling) {
              throw new McpError(
                ErrorCode.InvalidRequest,
                `The client does not support ${downstreamRequest.method}`,
              );
            }
            return elicitation
              ? extra.sendRequest(downstreamRequest, ElicitResultSchema)
              : extra.sendRequest(downstreamRequest, CreateMessageResultSchema);
          },
        },
        view,
      );
    });
    const page = <T>(items: T[], cursor: string | undefined) => {
      const offset = decodeCursor(cursor);
      return {
        items: items.slice(offset, offset + PAGE_SIZE),
        nextCursor: offset + PAGE_SIZE < items.length ? encodeCursor(offset + PAGE_SIZE) : undefined,
      };
    };
    const callContext = (extra: { authInfo?: AuthInfo; sessionId?: string }) => {
      const facts = (extra.authInfo?.extra ?? {}) as Partial<RequestFacts>;
      return { requestId: facts.requestId ?? '', ip: facts.ip ?? '', sessionId: extra.sessionId ?? '' };
    };
    server.setRequestHandler(ListPromptsRequestSchema, async (request) => {
      const prompts = await this.deps.gateway.visiblePrompts(await currentAccess(), view);
      if (session) session.promptsFingerprint = prompts.map((prompt) => prompt.name).join('\n');
      const { items, nextCursor } = page(prompts, request.params?.cursor);
      return {
        prompts: items.map((prompt) => ({ ...prompt.definition, name: prompt.name }) as Prompt),
        ...(nextCursor && { nextCursor }),
      };
    });
    server.setRequestHandler(GetPromptRequestSchema, async (request, extra) =>
      this.deps.gateway.getPrompt(
        await currentAccess(),
        request.params.name,
        request.params.arguments,
        callContext(extra),
        { signal: extra.signal },
        view,
      ),
    );
    server.setRequestHandler(ListResourcesRequestSchema, async (request, extra) => {
      const resources = await this.deps.gateway.listResources(
        await currentAccess(),
        { signal: extra.signal },
        view,
      );
      const { items, nextCursor } = page(resources, request.params?.cursor);
      return { resources: items, ...(nextCursor && { nextCursor }) };
    });
    server.setRequestHandler(ListResourceTemplatesRequestSchema, async (request, extra) => {
      const templates = await this.deps.gateway.listResourceTemplates(
        await currentAccess(),
        { signal: extra.signal },
        view,
      );
      const { items, nextCursor } = page(templates, request.params?.cursor);
      return { resourceTemplates: items, ...(nextCursor && { nextCursor }) };
    });
    server.setRequestHandler(ReadResourceRequestSchema, async (request, extra) =>
      this.deps.gateway.readResource(
        await currentAccess(),
        request.params.uri,
        callContext(extra),
        { signal: extra.signal },
        view,
      ),
    );
    server.setRequestHandler(SetLevelRequestSchema, async (request) => {
      logLevel = request.params.level;
      return {};
    });
    server.setRequestHandler(CompleteRequestSchema, async (request, extra) =>
      this.deps.gateway.complete(await currentAccess(), request.params, { signal: extra.signal }, view),
    );
    // Subscriptions live as long as the session; updates go to this session only.
    const subscriptions = new Map<
      string,
      { instance: McpInstance; uri: string; listener: (uri: string) => void }
    >();
    server.setRequestHandler(SubscribeRequestSchema, async (request, extra) => {
      const target = await this.deps.gateway.resourceTarget(await currentAccess(), request.params.uri, view);
      if (!target) throw new McpError(-32002, `Resource not found: ${request.params.uri}`);
      if (subscriptions.has(request.params.uri)) return {};
      if (subscriptions.size >= MAX_SUBSCRIPTIONS_PER_SESSION) {
        throw new McpError(
          ErrorCode.InvalidRequest,
          `At most ${MAX_SUBSCRIPTIONS_PER_SESSION} subscriptions per session`,
        );
      }
      const visibleUri = request.params.uri;
      const listener = () => void server.sendResourceUpdated({ uri: visibleUri }).catch(() => undefined);
      await target.instance.subscribeResource(target.uri, listener, { signal: extra.signal });
      subscriptions.set(visibleUri, { ...target, listener });
      return {};
    });
    server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
      const subscription = subscriptions.get(request.params.uri);
      if (subscription) {
        subscriptions.delete(request.params.uri);
        await subscription.instance
          .unsubscribeResource(subscription.uri, subscription.listener)
          .catch(() => undefined);
      }
      return {};
    });
    server.onclose = () => {
      for (const subscription of subscriptions.values()) {
        void subscription.instance
          .unsubscribeResource(subscription.uri, subscription.listener)
          .catch(() => undefined);
      }
      subscriptions.clear();
    };
    await server.connect(transport);
    // The session exists once `initialize` is handled; until then this object only carries the transport.
    return sessionWithId('');
  }

  /** After any committed change, tell each session whose visible tools changed. */
  private async announceToolChanges(): Promise<void> {
    for (const session of this.sessions.values()) {
      try {
        const access = await this.deps.access.resolve(session.keyHash);
        const tools = access ? await this.deps.gateway.visibleTools(access, session.view) : [];
        const next = fingerprint(tools);
        if (next !== session.toolsFingerprint) {
          session.toolsFingerprint = next;
          await session.server.sendToolListChanged();
        }
        const prompts = access ? await this.deps.gateway.visiblePrompts(access, session.view) : [];
        const nextPrompts = prompts.map((prompt) => prompt.name).join('\n');
        if (nextPrompts !== session.promptsFingerprint) {
          session.promptsFingerprint = nextPrompts;
          await session.server.sendPromptListChanged();
        }
      } catch {
        // A session whose stream is gone learns on its next request.
      }
    }
  }

  private sweepIdle(idleMs: number): void {
    const cutoff = Date.now() - idleMs;
    for (const session of this.sessions.values()) {
      if (session.lastActivity < cutoff) void this.endSession(session, 'idle timeout');
    }
  }

  private async endSession(session: McpSession, reason: string, options = { audited: false }): Promise<void> {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    if (!options.audited)
      await this.deps.gateway
        .recordSession(session.access, 'mcp_session.end', session.id, reason)
        .catch(() => undefined);
    await session.transport.close().catch(() => undefined);
    await session.server.close().catch(() => undefined);
  }

  /**
   * Ends every session's standalone GET (SSE) stream, which only waits for notifications, so that shutdown
   * does not wait the grace period for it. Responses of calls in flight are left to finish.
   */
  closeIdleStreams(): void {
    for (const session of this.sessions.values()) session.transport.closeStandaloneSSEStream();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.unsubscribe();
    await Promise.all(
      [...this.sessions.values()].map((session) => this.endSession(session, 'Gatehouse is shutting down')),
    );
  }
}

const fingerprint = (tools: readonly { name: string; definitionHash: string }[]) =>
  tools.map((tool) => `${tool.name}@${tool.definitionHash}`).join('\n');
