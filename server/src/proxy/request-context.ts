import type { ClientAccess } from './access.js';
import type { McpSession } from './mcp-session.js';
import type { View } from './tool-gateway.js';

/**
 * What one request to `/mcp` carries through the pipeline, set once and passed explicitly: who sent it (the
 * access resolved when its key was checked, before the body was read), from where, through which view, and,
 * once resolved, its session. Nothing about a request travels any other way (no `raw.auth`, no side maps).
 */
export interface RequestContext {
  /** Fastify's request id: the audit records of this request carry it. */
  readonly requestId: string;
  readonly ip: string;
  /** The client, its user and their subscriptions, as resolved by the key check of this request. */
  readonly access: ClientAccess;
  /** How the session sees its MCPs: the aggregate `/mcp` or one MCP at `/mcp/<slug>`. */
  readonly view: View;
  /** The session this request belongs to, once resolved (undefined while `initialize` opens one). */
  session?: McpSession;
}

/** The facts of a request that the audit trail records with it. */
export const callFacts = (context: RequestContext) => ({
  requestId: context.requestId,
  ip: context.ip,
  sessionId: context.session?.id ?? '',
});

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the key check in `onRequest` when the key is valid and admitted; null otherwise. */
    mcp: RequestContext | null;
  }
}
