import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { SessionEventStore } from './event-store.js';

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/** Clients before 2025-11-25 cannot handle the empty data of a priming event. */
const PRIMING_SINCE = '2025-11-25';

/**
 * One SSE stream of a session: the answer to one call (once it needs streaming) or the session's GET
 * stream. Every event is stored for replay before it is written, so a client that lost the response can
 * resume it with `Last-Event-ID` on a new GET, which attaches here in place of the lost response.
 */
export class SseStream {
  private response: ServerResponse | undefined;
  private ended = false;

  constructor(
    readonly id: string,
    private readonly replay: SessionEventStore,
  ) {}

  /** True while a response is attached and open. */
  get attached(): boolean {
    return this.response !== undefined && !this.response.writableEnded && !this.response.destroyed;
  }

  get finished(): boolean {
    return this.ended;
  }

  /** Starts writing this stream to `response`; `onClose` runs when that response closes. */
  attach(response: ServerResponse, headers: Readonly<Record<string, string>>, onClose?: () => void): void {
    const previous = this.response;
    this.response = response;
    this.ended = false;
    if (previous && !previous.writableEnded) previous.end();
    response.writeHead(200, { ...SSE_HEADERS, ...headers });
    response.flushHeaders();
    response.once('close', () => {
      if (this.response === response) this.response = undefined;
      onClose?.();
    });
  }

  /** A first event with no data, so the client holds an event id before anything else happens. */
  prime(protocolVersion: string): void {
    if (protocolVersion < PRIMING_SINCE) return;
    const id = this.replay.store(this.id, null, '');
    this.write(`id: ${id}\ndata: \n\n`);
  }

  send(message: JSONRPCMessage): void {
    const data = JSON.stringify(message);
    const id = this.replay.store(this.id, message, data);
    this.write(`event: message\nid: ${id}\ndata: ${data}\n\n`);
  }

  /** Writes an event already stored (a replay), under its original id. */
  resend(id: string, message: JSONRPCMessage): void {
    this.write(`event: message\nid: ${id}\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** No more events: the response attached (if any) ends. */
  end(): void {
    this.ended = true;
    const response = this.response;
    this.response = undefined;
    if (response && !response.writableEnded) response.end();
  }

  private write(text: string): void {
    if (this.attached) this.response?.write(text);
  }
}
