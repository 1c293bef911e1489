import { randomBytes } from 'node:crypto';
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

const MAX_EVENTS = 1000;
/** Replay is for the last moments of a dropped stream, not an archive: large results fall out first. */
const MAX_BYTES = 8 * 1024 * 1024;

/**
 * Resumability for one session: the last events of its streams, so a client that lost an SSE stream can
 * reconnect with `Last-Event-ID` and miss nothing. One store per session, so an event id from another
 * session (or a guessed one) replays nothing. Bounded by count and bytes: the oldest events fall out first.
 */
export class SessionEventStore implements EventStore {
  private readonly events: { id: string; streamId: string; message: JSONRPCMessage; bytes: number }[] = [];
  private bytes = 0;
  private readonly prefix = randomBytes(6).toString('hex');
  private counter = 0;

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const id = `${this.prefix}-${++this.counter}`;
    const bytes = Buffer.byteLength(JSON.stringify(message));
    this.events.push({ id, streamId, message, bytes });
    this.bytes += bytes;
    while (this.events.length > MAX_EVENTS || (this.bytes > MAX_BYTES && this.events.length > 1)) {
      this.bytes -= this.events.shift()?.bytes ?? 0;
    }
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
