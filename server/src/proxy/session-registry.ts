import type { ServerResponse } from 'node:http';

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
 * Sessions being opened, per client: `initialize` received, its `Server` and transport built, the session not
 * yet in the map (it enters when the SDK has handled `initialize`). They count toward the client's limit,
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
