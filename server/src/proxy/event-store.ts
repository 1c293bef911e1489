import { randomBytes } from 'node:crypto';
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { ClientReplayBudget, ReplayHolder } from './replay-budget.js';

const MAX_EVENTS = 1000;
/** Replay is for the last moments of a dropped stream, not an archive: large results fall out first. */
const MAX_BYTES = 8 * 1024 * 1024;

/**
 * Resumability for one session: the last events of its streams, so a client that lost an SSE stream can
 * reconnect with `Last-Event-ID` and miss nothing. One store per session, so an event id from another
 * session (or a guessed one) replays nothing. Bounded by count and bytes, and, once the session is
 * initialized, by the replay budget its client's sessions share: the oldest events fall out first.
 */
export class SessionEventStore implements EventStore, ReplayHolder {
  private readonly events: { id: string; streamId: string; message: JSONRPCMessage; bytes: number }[] = [];
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

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const id = `${this.prefix}-${++this.counter}`;
    const bytes = Buffer.byteLength(JSON.stringify(message));
    this.events.push({ id, streamId, message, bytes });
    this.held += bytes;
    while (this.events.length > MAX_EVENTS || (this.held > MAX_BYTES && this.events.length > 1)) {
      this.dropOldest();
    }
    // Counted after the local trim, so the budget sees only what this store still holds.
    this.budget?.changed(bytes);
    return id;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.events.find((event) => event.id === eventId)?.streamId;
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const index = this.events.findIndex((event) => event.id === lastEventId);
    const last = this.events[index];
    if (!last) throw new Error('Unknown or expired event id');
    for (const event of this.events.slice(index + 1)) {
      if (event.streamId === last.streamId) await send(event.id, event.message);
    }
    return last.streamId;
  }
}
