import { randomBytes } from 'node:crypto';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { ClientReplayBudget, ReplayHolder } from './replay-budget.js';

const MAX_EVENTS = 1000;
/** Replay is for the last moments of a dropped stream, not an archive: large results fall out first. */
const MAX_BYTES = 8 * 1024 * 1024;

/** One stored event; a priming event (the first of a stream, so the client holds a cursor) has no message. */
export interface StoredEvent {
  readonly id: string;
  readonly streamId: string;
  readonly message: JSONRPCMessage | null;
  readonly bytes: number;
}

/**
 * Resumability for one session: the last events of its streams, so a client that lost an SSE stream can
 * reconnect with `Last-Event-ID` and miss nothing. One store per session, so an event id from another
 * session (or a guessed one) replays nothing. Bounded by count and bytes, and, once the session is
 * initialized, by the replay budget its client's sessions share: the oldest events fall out first.
 * Synchronous, so events are stored (and numbered) in the order they are written.
 */
export class SessionEventStore implements ReplayHolder {
  private readonly events: StoredEvent[] = [];
  private held = 0;
  private budget: ClientReplayBudget | undefined;
  private readonly prefix = randomBytes(6).toString('hex');
  private counter = 0;

  get bytes(): number {
    return this.held;
  }

  /** Counts this store against its client's budget from now on (the session was initialized). */
  attach(budget: ClientReplayBudget): void {
    this.budget = budget;
    budget.attach(this);
  }

  /** The session ended: its events are dropped and no longer count against the client. */
  dispose(): void {
    this.budget?.detach(this);
    this.budget = undefined;
    this.events.length = 0;
    this.held = 0;
  }

  dropOldest(): boolean {
    const dropped = this.events.shift();
    if (!dropped) return false;
    this.held -= dropped.bytes;
    this.budget?.changed(-dropped.bytes);
    return true;
  }

  /** Stores one event of `streamId` (its serialized text, already made for the wire) and returns its id. */
  store(streamId: string, message: JSONRPCMessage | null, serialized: string): string {
    const id = `${this.prefix}-${++this.counter}`;
    const bytes = serialized.length;
    this.events.push({ id, streamId, message, bytes });
    this.held += bytes;
    while (this.events.length > MAX_EVENTS || (this.held > MAX_BYTES && this.events.length > 1)) {
      this.dropOldest();
    }
    // Counted after the local trim, so the budget sees only what this store still holds.
    this.budget?.changed(bytes);
    return id;
  }

  /** The stream an event id belongs to, or undefined when it is unknown here or expired. */
  streamOf(eventId: string): string | undefined {
    return this.events.find((event) => event.id === eventId)?.streamId;
  }

  /** The events of the same stream after `eventId`, oldest first (priming events left out). */
  after(eventId: string): StoredEvent[] {
    const index = this.events.findIndex((event) => event.id === eventId);
    const last = this.events[index];
    if (!last) return [];
    return this.events
      .slice(index + 1)
      .filter((event) => event.streamId === last.streamId && event.message !== null);
  }
}
