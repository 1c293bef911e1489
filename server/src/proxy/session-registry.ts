import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { ClientAccess } from './access.js';
import { McpSession } from './mcp-session.js';
import type { ReplayBudgets } from './replay-budget.js';
import type { RequestContext } from './request-context.js';
import type { SessionStore } from './session-store.js';
import type { View } from './tool-gateway.js';

/** What session bookkeeping needs of a session. */
export interface TrackedSession {
  readonly id: string;
  readonly clientId: string;
  lastActivity: number;
  /** HTTP responses of this session still open: a call being answered or a GET stream listening. */
  readonly responses: { open: number };
}

/** The request a session was last seen on, for its audit records. */
export interface RequestFacts {
  requestId: string;
  ip: string;
}

export const EVICTED_REASON = 'evicted: least recently used idle session of a client at its session limit';

/** Counts `response` as open on `session` until it ends or its connection drops. */
export function trackResponse(session: TrackedSession, response: ServerResponse): void {
  const { responses } = session;
  responses.open++;
  response.once('close', () => {
    responses.open--;
  });
}

/**
 * The session of `clientId` to end so that a new one can open: the least recently used one with no
 * response open (a client that went away without ending its session). A session that is answering a call
 * or holds a stream has a live client and is never chosen; undefined when every session is in use.
 */
export function evictionCandidate<S extends TrackedSession>(
  sessions: Iterable<S>,
  clientId: string,
): { open: number; idle: S | undefined } {
  let open = 0;
  let idle: S | undefined;
  for (const session of sessions) {
    if (session.clientId !== clientId) continue;
    open++;
    if (session.responses.open > 0) continue;
    if (!idle || session.lastActivity < idle.lastActivity) idle = session;
  }
  return { open, idle };
}

/**
 * Sessions being opened, per client: `initialize` received, the session not yet in the map (it may wait for
 * an evicted session to end first). They count toward the client's limit,
 * so parallel initializes cannot build more than the limit allows.
 */
export class PendingSessions {
  private readonly counts = new Map<string, number>();

  of(clientId: string): number {
    return this.counts.get(clientId) ?? 0;
  }

  /** Counts one more for `clientId`; the function returned counts it off (once). */
  add(clientId: string): () => void {
    this.counts.set(clientId, this.of(clientId) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = this.of(clientId) - 1;
      if (left > 0) this.counts.set(clientId, left);
      else this.counts.delete(clientId);
    };
  }
}

/** What the session registry needs of the rest of Gatehouse. */
export interface SessionRegistryDeps {
  /** Writes the durable start and end records of a session. */
  record(
    session: { id: string; access: ClientAccess; facts: RequestFacts },
    action: 'mcp_session.start' | 'mcp_session.end',
    reason?: string,
  ): Promise<void>;
  readonly idleTimeoutMs: number;
  readonly maxPerClient: number;
  readonly replay: ReplayBudgets;
  /** The `mcp_session` rows (plus cache) another process on the same database can serve a session from. */
  readonly store: SessionStore;
  readonly now: () => number;
}

/**
 * The MCP sessions this process serves: opening (within the client's limit, evicting its least recently
 * used idle session), lookup and ending. Each session is also a row (`SessionStore`), so a session opened
 * by another process on the same database is served here too: its state is loaded from the row on first
 * use (streams in flight stay with the process that holds them). No timer per session: one sweeper, armed
 * only while sessions exist.
 */
export class McpSessions {
  private readonly byId = new Map<string, McpSession>();
  private readonly pending = new PendingSessions();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly deps: SessionRegistryDeps) {}

  get(id: string): McpSession | undefined {
    return this.byId.get(id);
  }

  values(): IterableIterator<McpSession> {
    return this.byId.values();
  }

  /**
   * Opens a session for `context` (an `initialize`), or refuses when every session of its client is in use.
   * At the limit (sessions being opened included) the least recently used idle session makes room; the
   * decision is taken synchronously, so parallel initializes see each other.
   */
  async open(
    context: RequestContext,
    negotiated: {
      protocolVersion: string;
      capabilities: ClientCapabilities;
      clientInfo: Record<string, unknown>;
    },
  ): Promise<McpSession | 'too many'> {
    const facts = { requestId: context.requestId, ip: context.ip };
    const { open, idle } = evictionCandidate(this.byId.values(), context.access.clientId);
    let evicting: Promise<void> | undefined;
    if (open + this.pending.of(context.access.clientId) >= this.deps.maxPerClient) {
      if (!idle) return 'too many';
      evicting = this.end(idle, EVICTED_REASON, { facts });
    }
    const opened = this.pending.add(context.access.clientId);
    try {
      await evicting;
      // Bounded by the store before anything is written (a `SessionBoundsError`, answered as bad params).
      const record = await this.deps.store.create({
        id: randomUUID(),
        keyHash: context.access.keyHash,
        clientId: context.access.clientId,
        userId: context.access.userId,
        view: context.view.only,
        protocolVersion: negotiated.protocolVersion,
        clientCapabilities: negotiated.capabilities,
        clientInfo: negotiated.clientInfo,
      });
      const session = this.hold(
        new McpSession(
          record.id,
          context.view,
          context.access,
          record.protocolVersion,
          record.clientCapabilities as ClientCapabilities,
          facts,
          record.createdAt.getTime(),
        ),
      );
      void this.deps.record(session, 'mcp_session.start').catch(() => undefined);
      return session;
    } finally {
      opened();
    }
  }

  /**
   * The session `id` for a request with `access` through `view`: held here, or loaded from its row when the
   * same key opened it through the same view (another process opened it, or this one forgot it). A
   * session held here is returned whatever the key, so the caller can tell a mismatch from an unknown id.
   */
  async resolve(id: string, access: ClientAccess, view: View): Promise<McpSession | undefined> {
    const held = this.byId.get(id);
    if (held) return held;
    const record = await this.deps.store.getFor(id, access.keyHash);
    if (!record || record.view !== view.only || this.byId.has(id)) return this.byId.get(id);
    const session = new McpSession(
      record.id,
      view,
      access,
      record.protocolVersion,
      record.clientCapabilities as ClientCapabilities,
      { requestId: '', ip: '' },
      record.createdAt.getTime(),
    );
    session.logLevel = record.logLevel;
    // TODO(issue 17): resubscribe `record.subscriptions` here; until then a session moved to this process
    // receives resource updates only for what it subscribes to again.
    return this.hold(session);
  }

  /** A request of the session arrived. */
  touch(session: McpSession, facts: RequestFacts): void {
    session.lastActivity = this.deps.now();
    session.facts = facts;
    this.deps.store.touch(session.id);
  }

  private hold(session: McpSession): McpSession {
    session.persist = (patch) => this.deps.store.update(session.id, patch);
    this.byId.set(session.id, session);
    session.replay.attach(this.deps.replay.forClient(session.clientId));
    this.arm();
    return session;
  }

  /** Ends a session; its end record carries the request that ended it, else the last one it was seen on. */
  async end(
    session: McpSession,
    reason: string,
    options: { audited?: boolean; facts?: RequestFacts } = {},
  ): Promise<void> {
    if (this.byId.get(session.id) !== session) return;
    this.byId.delete(session.id);
    session.close();
    if (options.facts) session.facts = options.facts;
    await this.deps.store.end(session.id).catch(() => false);
    if (!options.audited) await this.deps.record(session, 'mcp_session.end', reason).catch(() => undefined);
  }

  async endAll(reason: string): Promise<void> {
    clearTimeout(this.sweeper);
    this.sweeper = undefined;
    await Promise.all([...this.byId.values()].map((session) => this.end(session, reason)));
  }

  /** The sweeper runs only while there are sessions to sweep. */
  private arm(): void {
    if (this.sweeper || this.byId.size === 0) return;
    const idleMs = this.deps.idleTimeoutMs;
    this.sweeper = setTimeout(
      () => {
        this.sweeper = undefined;
        const cutoff = this.deps.now() - idleMs;
        for (const session of this.byId.values()) {
          if (session.lastActivity < cutoff) void this.end(session, 'idle timeout');
        }
        // Rows idle as long, whichever process opened them (their audit end is that process's sweep).
        void this.deps.store.expireIdle(new Date(cutoff)).catch(() => undefined);
        this.arm();
      },
      Math.min(idleMs, 30_000),
    );
    this.sweeper.unref();
  }
}
