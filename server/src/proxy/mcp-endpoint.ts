import type { McpSessionInfo } from '@gatehouse/schema';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import type { ClientAccess, ClientAccessCache } from './access.js';
import { registerEndpointGuards } from './endpoint-guard.js';
import type { KeyGuard } from './key-guard.js';
import { methodTable, promptsFingerprint, toolsFingerprint } from './mcp-methods.js';
import { McpPipeline } from './pipeline.js';
import { ReplayBudgets } from './replay-budget.js';
import { McpSessions } from './session-registry.js';
import type { SessionStore } from './session-store.js';
import { AGGREGATE_VIEW, passthroughView, type ToolGateway } from './tool-gateway.js';

/**
 * The MCP endpoint (`/mcp` on the client port): Streamable HTTP served by Gatehouse itself (`pipeline.ts`
 * reads a request top to bottom). Every request is authenticated by its client key; a session is bound to
 * the client that opened it, and another key presenting its id is told it does not exist. This file wires
 * the routes and serves the admin's view of the sessions and the list_changed announcements.
 */
export class McpEndpoint {
  private readonly sessions: McpSessions;
  private readonly pipeline: McpPipeline;
  private readonly refusalsRecorded = new Map<string, number>();
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
      store: SessionStore;
      clock: Clock;
      log: Logger;
      /** Canonical URLs of the endpoints and of their RFC 9728 metadata (ADR 0034). */
      urls: {
        resourceOf(slug: string | null): string;
        metadataUrlOf(slug: string | null): string;
      };
    },
  ) {
    this.replay = new ReplayBudgets(deps.config.mcpSessions.replayBytesPerClient);
    this.sessions = new McpSessions({
      record: (session, action, reason) =>
        deps.gateway.recordSession(
          session.access,
          action,
          { ...session.facts, sessionId: session.id },
          reason,
        ),
      idleTimeoutMs: deps.config.timings.idleTimeoutSeconds * 1000,
      maxPerClient: deps.config.mcpSessions.maxPerClient,
      replay: this.replay,
      store: deps.store,
      now: () => deps.clock.now().getTime(),
    });
    this.pipeline = new McpPipeline({
      access: deps.access,
      guard: deps.guard,
      refusals: deps.refusals,
      config: deps.config,
      sessions: this.sessions,
      methods: methodTable(deps.gateway),
      log: deps.log,
      resourceOf: (slug) => deps.urls.resourceOf(slug),
      admission: (access) => deps.gateway.admission(access),
      recordRefusal: (access, reason, request) => this.recordRefusal(access, reason, request),
    });
    this.unsubscribe = deps.changes.subscribe(() => void this.announceToolChanges());
  }

  /** Replay memory held for the sessions of one client, bounded by `GATEHOUSE_MCP_REPLAY_BYTES_PER_CLIENT`. */
  replayBytes(clientId: string): number {
    return this.replay.bytesOf(clientId);
  }

  register(app: FastifyInstance): void {
    app.register(async (scope) => {
      scope.decorateRequest('mcp', null);
      // Every 401 tells an OAuth client where to discover how to authorize (RFC 9728 §5.1, ADR 0034).
      scope.addHook('onSend', (request, reply, payload, done) => {
        if (reply.statusCode === 401 && !reply.raw.headersSent) {
          const challenge = String(reply.getHeader('www-authenticate') ?? 'Bearer');
          const params = challenge.replace(/^Bearer\s*/i, '').replace(/realm="[^"]*",?\s*/, '');
          const metadata = this.deps.urls.metadataUrlOf(viewOf(request).only);
          reply.header(
            'www-authenticate',
            `Bearer resource_metadata="${metadata}"${params ? `, ${params}` : ''}`,
          );
        }
        done(null, payload);
      });
      // Host, Origin and query-string credentials first, then the key from the headers, all before any
      // body is read (ADR 0017, ADR 0018).
      registerEndpointGuards(scope, this.deps.config, {
        onCredentialInUrl: (request) =>
          this.deps.refusals.record('query_token', request.ip, String(request.id)),
      });
      scope.addHook('onRequest', (request, reply) =>
        this.pipeline.authenticate(request, reply, viewOf(request)),
      );
      scope.removeAllContentTypeParsers();
      const bodyLimit = this.deps.config.mcpLimits.maxBodyBytes;
      scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_req, body, done) =>
        done(null, body),
      );
      const handler = (request: FastifyRequest, reply: Parameters<McpPipeline['handle']>[1]) =>
        this.pipeline.handle(request, reply);
      scope.route({ method: ['GET', 'POST', 'DELETE'], url: '/mcp', handler });
      // One MCP, unprefixed (tool names and URIs as the downstream has them), e.g. for single-server clients.
      scope.route({ method: ['GET', 'POST', 'DELETE'], url: '/mcp/:slug', handler });
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
    await this.sessions.end(session, reason, { audited: true });
    return true;
  }

  /** A known but refused client is audited, at most once a minute per client so a retry loop cannot flood. */
  private recordRefusal(access: ClientAccess, reason: string, request: FastifyRequest): void {
    const now = this.deps.clock.now().getTime();
    const key = `${access.clientId}:${reason}`;
    if (now - (this.refusalsRecorded.get(key) ?? 0) < 60_000) return;
    this.refusalsRecorded.set(key, now);
    void this.deps.gateway
      .recordRefusal(access, reason, { requestId: String(request.id), ip: request.ip, sessionId: '' })
      .catch(() => undefined);
  }

  /** After any committed change, tell each session whose visible tools or prompts changed. */
  private async announceToolChanges(): Promise<void> {
    for (const session of this.sessions.values()) {
      try {
        const access = await this.deps.access.resolve(session.keyHash);
        const tools = access ? await this.deps.gateway.visibleTools(access, session.view) : [];
        const next = toolsFingerprint(tools);
        if (next !== session.toolsFingerprint) {
          session.toolsFingerprint = next;
          session.notify({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
        }
        const prompts = access ? await this.deps.gateway.visiblePrompts(access, session.view) : [];
        const nextPrompts = promptsFingerprint(prompts);
        if (nextPrompts !== session.promptsFingerprint) {
          session.promptsFingerprint = nextPrompts;
          session.notify({ jsonrpc: '2.0', method: 'notifications/prompts/list_changed' });
        }
      } catch {
        // A session whose stream is gone learns on its next request.
      }
    }
  }

  /**
   * Ends every session's GET stream, which only waits for notifications, so that shutdown does not wait the
   * grace period for it. Responses of calls in flight are left to finish.
   */
  closeIdleStreams(): void {
    for (const session of this.sessions.values()) session.standalone.end();
  }

  async close(): Promise<void> {
    this.unsubscribe();
    await this.sessions.endAll('Gatehouse is shutting down');
    await this.deps.store.close().catch(() => undefined);
  }
}

const viewOf = (request: FastifyRequest) => {
  const slug = (request.params as { slug?: string } | undefined)?.slug;
  return slug === undefined ? AGGREGATE_VIEW : passthroughView(slug);
};
