import type { SessionLogLevel } from './session-bounds.js';

/** What outlives a request of an MCP session, in a form any Gatehouse process on the database can serve. */
export interface SessionRecord {
  /** The id the client presents (`Mcp-Session-Id`). Held in process memory only; the table has its hash. */
  readonly id: string;
  /** The hash of the client key that opened the session; only that key may use it. */
  readonly keyHash: string;
  readonly clientId: string;
  readonly userId: string;
  /** The passthrough view's MCP slug (`/mcp/<slug>`), or null for the aggregate view (`/mcp`). */
  readonly view: string | null;
  readonly protocolVersion: string;
  readonly clientCapabilities: Readonly<Record<string, unknown>>;
  readonly clientInfo: Readonly<Record<string, unknown>>;
  readonly logLevel: SessionLogLevel;
  /** Resource URIs the session subscribed to, as the client named them. */
  readonly subscriptions: readonly string[];
  readonly createdAt: Date;
  /** As this process knows it; persisted lazily (see `SessionStore.touch`). */
  readonly lastActivityAt: Date;
}

export type NewSession = Omit<
  SessionRecord,
  'logLevel' | 'subscriptions' | 'createdAt' | 'lastActivityAt'
> & {
  readonly logLevel?: SessionLogLevel;
  readonly subscriptions?: readonly string[];
};

/** What a session may change after it opened (write-through). */
export interface SessionPatch {
  readonly logLevel?: SessionLogLevel;
  readonly subscriptions?: readonly string[];
}

export interface ExpiredSession {
  /** The table's key; the raw id is known only to a process that holds the session (see `local`). */
  readonly idHash: string;
  readonly clientId: string;
  readonly userId: string;
  readonly lastActivityAt: Date;
}

export interface ExpiredSessions {
  /** Rows deleted, every process's sessions included. */
  readonly count: number;
  /** Every session expired, for their audit records (a crashed process's sessions included). */
  readonly sessions: readonly ExpiredSession[];
  /** Ids of the expired sessions this process held (so it can close their streams). */
  readonly local: readonly string[];
}
