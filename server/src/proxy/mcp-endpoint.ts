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
import type { Logger } from 'pino';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import type { KillSwitchBoard } from '../kill-switches/kill-switch-board.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Config } from '../platform/config.js';
import type { McpInstance } from '../runtime/instance.js';
import type { ClientAccess, ClientAccessCache } from './access.js';
import { registerEndpointGuards } from './endpoint-guard.js';
import { SessionEventStore } from './event-store.js';
import { guardRequestHandlers, sendWireError } from './jsonrpc-errors.js';
import type { KeyGuard } from './key-guard.js';
import { readMessage } from './message-limits.js';
import { ReplayBudgets } from './replay-budget.js';
import {
  EVICTED_REASON,
  evictionCandidate,
  PendingSessions,
  type RequestFacts,
  trackResponse,
} from './session-registry.js';
import { AGGREGATE_VIEW, passthroughView, ToolGateway, type View } from './tool-gateway.js';

const PAGE_SIZE = 200;
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
  /** Shared with the object that carries the transport until `initialize` is handled. */
  readonly responses: { open: number };
  /** The request this session was last seen on (its audit records carry its id and source IP). */
  facts: RequestFacts;
  readonly replay: SessionEventStore;
  /** Names and hashes of the tools last listed, to send list_changed only when the visible set changes. */
  toolsFingerprint: string;
  promptsFingerprint: string;
}

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
  private readonly pending = new PendingSessions();
  private readonly refusalsRecorded = new Map<string, number>();
  /** Requests whose key passed `admit` (before their body was read), with the access it resolved to. */
  private readonly admitted = new WeakMap<FastifyRequest, ClientAccess>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private readonly replay: ReplayBudgets;

  constructor(
    private readonly deps: {
      access: ClientAccessCache;
      guard: KeyGuard;
      refusals: RefusalAudit;
      gateway: ToolGateway;
      config: Config;
      changes: ChangeBus;
      kills: KillSwitchBoard;
      log: Logger;
    },
  ) {
    const idleMs = deps.config.timings.idleTimeoutSeconds * 1000;
    this.sweeper = setInterval(() => this.sweepIdle(idleMs), Math.min(idleMs, 30_000));
    this.sweeper.unref();
    this.unsubscribe = deps.changes.subscribe(() => void this.announceToolChanges());
    this.replay = new ReplayBudgets(deps.config.mcpSessions.replayBytesPerClient);
  }

  /** Replay memory held for the sessions of one client, bounded by `GATEHOUSE_MCP_REPLAY_BYTES_PER_CLIENT`. */
  replayBytes(clientId: string): number {
    return this.replay.bytesOf(clientId);
  }

  register(app: FastifyInstance): void {
    app.register(async (scope) => {
      // Host, Origin and query-string credentials first, then the key from the headers, all before any
      // body is read (ADR 0017, ADR 0018).
      registerEndpointGuards(scope, this.deps.config, {
        onCredentialInUrl: (request) =>
          this.deps.refusals.record('query_token', request.ip, String(request.id)),
      });
      scope.addHook('onRequest', (request, reply) => this.admit(request, reply));
      scope.removeAllContentTypeParsers();
      const bodyLimit = this.deps.config.mcpLimits.maxBodyBytes;
      scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_req, body, done) =>
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

  /**
   * Authenticates from the headers alone: a request without a valid, admitted key is answered here and its
   * body is never read (the connection closes after the answer).
   */
  private async admit(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const verdict = await this.deps.guard.check({
      authorization: request.headers.authorization,
      ip: request.ip,
      id: String(request.id),
    });
    if (verdict.ok) {
      const refusal = await this.refusalOf(verdict.access);
      if (!refusal) {
        this.admitted.set(request, verdict.access);
        return undefined;
      }
      this.recordRefusal(verdict.access, refusal, request);
    }
    reply.header('connection', 'close');
    if (!verdict.ok && (verdict.refusal === 'throttled' || verdict.refusal === 'unavailable')) {
      reply.header('retry-after', String(verdict.retryAfterSeconds));
      return sendWireError(reply, verdict.refusal === 'throttled' ? 'AUTH_THROTTLED' : 'UNAVAILABLE');
    }
    reply.header('www-authenticate', 'Bearer realm="gatehouse", error="invalid_token"');
    return sendWireError(reply, 'UNAUTHORIZED');
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
    const access = this.admitted.get(request);
    if (!access) return sendWireError(reply, 'UNAUTHORIZED');
    this.deps.access.touch(access, request.ip);

    let body: unknown;
    if (request.method === 'POST') {
      const read = readMessage(String(request.body ?? ''), this.deps.config.mcpLimits);
      if (!read.ok) {
        await this.deps.refusals.record('protocol_error', request.ip, String(request.id));
        return sendWireError(reply, read.problem.kind, read.problem);
      }
      body = read.message;
    }

    const facts: RequestFacts = { requestId: String(request.id), ip: request.ip };
    const sessionId = request.headers['mcp-session-id'];
    let session: McpSession | undefined;
    if (typeof sessionId === 'string') {
      session = this.sessions.get(sessionId);
      // Someone else's session id is indistinguishable from an unknown one.
      // Sessions belong to the exact key and endpoint that opened them: after a key rotation the client
      // re-initializes instead of talking to a session whose key no longer works.
      if (!session || session.keyHash !== access.keyHash || session.view.only !== view.only) {
        if (session && session.keyHash !== access.keyHash) {
          await this.deps.refusals.record('session_mismatch', request.ip, String(request.id));
        }
        return sendWireError(reply, 'SESSION_NOT_FOUND');
      }
    } else if (request.method === 'POST' && isInitializeRequest(body)) {
      // At the limit (sessions being opened included), the least recently used idle session (its client
      // went away) makes room. Decided and counted synchronously, so parallel initializes see each other.
      const { open, idle } = evictionCandidate(this.sessions.values(), access.clientId);
      const { maxPerClient } = this.deps.config.mcpSessions;
      let evicting: Promise<void> | undefined;
      if (open + this.pending.of(access.clientId) >= maxPerClient) {
        if (!idle) return sendWireError(reply, 'TOO_MANY_SESSIONS', { detail: `at most ${maxPerClient}` });
        evicting = this.endSession(idle, EVICTED_REASON, { facts });
      }
      const opened = this.pending.add(access.clientId);
      try {
        await evicting;
        session = await this.openSession(access, view, facts);
        await this.serve(session, request, reply, body, facts, access);
      } finally {
        // Handled: the session is in the map now (or `initialize` failed and there is none).
        opened();
      }
      return;
    } else {
      return sendWireError(reply, 'SESSION_REQUIRED');
    }
    await this.serve(session, request, reply, body, facts, access);
  }

  private async serve(
    session: McpSession,
    request: FastifyRequest,
    reply: FastifyReply,
    body: unknown,
    facts: RequestFacts,
    access: ClientAccess,
  ): Promise<void> {
    session.lastActivity = Date.now();
    session.facts = facts;
    trackResponse(session, reply.raw);
    const raw = request.raw as IncomingMessage & { auth?: AuthInfo };
    raw.auth = { token: '', clientId: access.clientId, scopes: [], extra: { ...facts } };
    reply.hijack();
    await session.transport.handleRequest(raw, reply.raw, body);
  }

  private async openSession(access: ClientAccess, view: View, facts: RequestFacts): Promise<McpSession> {
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
    // Local failures in the handlers below never cross the wire (jsonrpc-errors.ts).
    guardRequestHandlers(server, (error) =>
      this.deps.log.error({ err: error }, 'MCP request handler failed'),
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
      responses,
      facts,
      replay,
      toolsFingerprint: '',
      promptsFingerprint: '',
    });
    const replay = new SessionEventStore();
    const responses = { open: 0 };
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: replay,
      onsessioninitialized: (id) => {
        session = sessionWithId(id);
        this.sessions.set(id, session);
        replay.attach(this.replay.forClient(access.clientId));
        void this.deps.gateway
          .recordSession(access, 'mcp_session.start', { ...facts, sessionId: id })
          .catch(() => undefined);
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

  /** Ends a session; its end record carries the request that ended it, else the last one it was seen on. */
  private async endSession(
    session: McpSession,
    reason: string,
    options: { audited?: boolean; facts?: RequestFacts } = {},
  ): Promise<void> {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    session.replay.dispose();
    const facts = options.facts ?? session.facts;
    if (!options.audited)
      await this.deps.gateway
        .recordSession(session.access, 'mcp_session.end', { ...facts, sessionId: session.id }, reason)
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
