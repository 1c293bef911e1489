import { type Dispatcher, Pool } from 'undici';
import {
  type JsonRpcMessage,
  type Link,
  LinkError,
  type LinkEvents,
  ResponseTooLarge,
  type Sending,
} from './link.js';

export interface HttpLinkOptions {
  url: string;
  headers: Record<string, string>;
  /** Largest message (a JSON body, or one SSE event) accepted; reading stops as soon as it is passed. */
  maxMessageBytes: number;
}

/** Calls are bounded by the peer's own timers, which end their request; these only catch a stuck exchange. */
const EXCHANGE_LIMIT_MS = 3_600_000;
/** Error bodies are read only this far, for the message. */
const ERROR_BODY_BYTES = 2048;

type Body = Dispatcher.ResponseData['body'];

const headerOf = (headers: Dispatcher.ResponseData['headers'], name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * Streamable HTTP towards a downstream over an undici keep-alive pool: each message is one POST, its answer
 * (`application/json` or `text/event-stream`) read incrementally with the size cap enforced while reading.
 * Every exchange has its own AbortController, so nothing accumulates on a long-lived signal; aborting it
 * (a call timed out, cancelled, or too large) destroys the request and frees its socket at once.
 */
export class HttpLink implements Link {
  readonly pid = null;
  private readonly pool: Pool;
  private readonly path: string;
  private events: LinkEvents | undefined;
  private sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private closedReason: string | null = null;
  private getStream: AbortController | undefined;

  constructor(private readonly options: HttpLinkOptions) {
    const url = new URL(options.url);
    this.path = `${url.pathname}${url.search}`;
    this.pool = new Pool(url.origin, {
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: EXCHANGE_LIMIT_MS,
      bodyTimeout: EXCHANGE_LIMIT_MS,
    });
  }

  start(events: LinkEvents): Promise<void> {
    this.events = events;
    return Promise.resolve();
  }

  exitDescription(): string | null {
    return this.closedReason;
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  private headers(accept: string): Record<string, string> {
    return {
      ...this.options.headers,
      accept,
      ...(this.sessionId !== undefined && { 'mcp-session-id': this.sessionId }),
      ...(this.protocolVersion !== undefined && { 'mcp-protocol-version': this.protocolVersion }),
    };
  }

  send(message: JsonRpcMessage): Sending {
    const controller = new AbortController();
    const done = this.closedReason
      ? Promise.reject(new LinkError('Not connected'))
      : this.post(message, controller);
    return { done, abort: () => controller.abort() };
  }

  private async post(message: JsonRpcMessage, controller: AbortController): Promise<void> {
    const response = await this.pool.request({
      path: this.path,
      method: 'POST',
      headers: { ...this.headers('application/json, text/event-stream'), 'content-type': 'application/json' },
      body: JSON.stringify(message),
      signal: controller.signal,
    });
    const { statusCode, headers, body } = response;
    const session = headerOf(headers, 'mcp-session-id');
    if (session !== undefined && message.method === 'initialize') this.sessionId = session;
    if (statusCode === 202) {
      await body.dump();
      if (message.method === 'notifications/initialized') this.openGetStream();
      return;
    }
    if (statusCode === 404 && this.sessionId !== undefined) {
      await body.dump();
      this.hangUp('the server ended the session');
      throw new LinkError('the server ended the session');
    }
    if (statusCode >= 400) {
      const text = await readCapped(body, ERROR_BODY_BYTES, controller, true).catch(() => '');
      throw new LinkError(`HTTP ${statusCode}${describeError(text)}`);
    }
    const type = headerOf(headers, 'content-type') ?? '';
    if (type.includes('text/event-stream')) return this.readEvents(body, controller);
    if (type.includes('application/json')) {
      const text = await readCapped(body, this.options.maxMessageBytes, controller, false);
      this.deliver(text);
      return;
    }
    await body.dump();
    if (message.id !== undefined) throw new LinkError(`unexpected content type "${type.slice(0, 80)}"`);
  }

  private deliver(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new LinkError('the server sent invalid JSON');
    }
    for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
      if (typeof item === 'object' && item !== null) this.events?.message(item as JsonRpcMessage);
    }
  }

  /** Server-sent events, one `data` payload per message, each bounded while it arrives. */
  private async readEvents(body: Body, controller: AbortController): Promise<void> {
    const decoder = new TextDecoder();
    const limit = this.options.maxMessageBytes;
    let pending = '';
    let data: string[] = [];
    let eventBytes = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      pending += decoder.decode(chunk, { stream: true });
      for (;;) {
        const end = pending.indexOf('\n');
        if (end === -1) break;
        const line = pending.slice(0, end).replace(/\r$/, '');
        pending = pending.slice(end + 1);
        if (line === '') {
          if (data.length > 0) this.deliverEvent(data.join('\n'));
          data = [];
          eventBytes = 0;
        } else if (line.startsWith('data:')) {
          const value = line.slice(line.startsWith('data: ') ? 6 : 5);
          data.push(value);
          eventBytes += value.length;
        }
      }
      if (eventBytes + pending.length > limit) {
        controller.abort();
        throw new ResponseTooLarge(limit);
      }
    }
  }

  private deliverEvent(payload: string): void {
    try {
      this.deliver(payload);
    } catch {
      // One unreadable event does not end the stream.
    }
  }

  /** The downstream's own notifications (list_changed, resources/updated) arrive on a standing GET stream. */
  private openGetStream(): void {
    if (this.getStream || this.closedReason) return;
    const controller = new AbortController();
    this.getStream = controller;
    void this.pool
      .request({
        path: this.path,
        method: 'GET',
        headers: this.headers('text/event-stream'),
        signal: controller.signal,
        bodyTimeout: 0,
      })
      .then(async ({ statusCode, headers, body }) => {
        const type = headerOf(headers, 'content-type') ?? '';
        if (statusCode !== 200 || !type.includes('text/event-stream')) return body.dump();
        await this.readEvents(body, controller);
      })
      .catch(() => undefined);
  }

  private hangUp(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.getStream?.abort();
    this.events?.closed(reason);
    void this.pool.destroy().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closedReason === null) this.hangUp('Connection closed');
    await this.pool.destroy().catch(() => undefined);
  }
}

/** Reads a body up to `limit` bytes; past it, the request is destroyed (or, for an error page, cut short). */
async function readCapped(
  body: Body,
  limit: number,
  controller: AbortController,
  truncate: boolean,
): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      controller.abort();
      if (truncate) break;
      throw new ResponseTooLarge(limit);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The JSON-RPC error message of an error page, if it has one (never the raw page). */
function describeError(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    const message = parsed.error?.message;
    return typeof message === 'string' ? `: ${message.slice(0, 200)}` : '';
  } catch {
    return '';
  }
}
