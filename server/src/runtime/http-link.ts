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
  /** How long a notification or a reply to the server's request may take before it is abandoned (5 s). */
  shortExchangeMs?: number;
  /** Most sockets open to the downstream at once (64); further exchanges wait in the pool's queue. */
  connections?: number;
  /** First wait before the standing GET stream is reopened (1 s); doubles while it stays silent, up to 30 s. */
  streamRetryMs?: number;
}

/** Calls are bounded by the peer's own timers, which end their request; these only catch a stuck exchange. */
const EXCHANGE_LIMIT_MS = 3_600_000;
const SHORT_EXCHANGE_MS = 5_000;
/**
 * Per downstream, well above the default 16 concurrent calls plus the GET stream and a few notifications:
 * a hung downstream can never hold more sockets than this, whatever the calls and cancellations pile up.
 */
const MAX_CONNECTIONS = 64;
const STREAM_RETRY_MS = 1_000;
const STREAM_RETRY_MAX_MS = 30_000;
/** Error bodies are read only this far, for the message. */
const ERROR_BODY_BYTES = 2048;
/**
 * Why an SSE answer is closed once its response is delivered: built once, because an abort without a reason
 * builds a DOMException per call whose stack undici formats (ADR 0023; the issue 15 profile).
 */
const RESPONSE_DELIVERED = new Error('the response was delivered');

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
  private getRetry: NodeJS.Timeout | undefined;
  private getRetryMs: number;
  /** The server answered the GET with 405: it offers no standing stream, so it is not asked again. */
  private getRefused = false;

  constructor(private readonly options: HttpLinkOptions) {
    const url = new URL(options.url);
    this.path = `${url.pathname}${url.search}`;
    this.getRetryMs = options.streamRetryMs ?? STREAM_RETRY_MS;
    this.pool = new Pool(url.origin, {
      connections: options.connections ?? MAX_CONNECTIONS,
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

  /**
   * A request lives as long as the peer's timers allow; a notification or a reply answers nothing we wait
   * for, so its exchange is abandoned after a short time rather than holding a socket to a hung server.
   */
  private async post(message: JsonRpcMessage, controller: AbortController): Promise<void> {
    const awaited = typeof message.method === 'string' && message.id !== undefined && message.id !== null;
    const limit = awaited
      ? undefined
      : setTimeout(() => controller.abort(), this.options.shortExchangeMs ?? SHORT_EXCHANGE_MS);
    try {
      await this.exchange(message, controller, awaited ? message.id : undefined);
    } finally {
      clearTimeout(limit);
    }
  }

  private async exchange(
    message: JsonRpcMessage,
    controller: AbortController,
    awaited: unknown,
  ): Promise<void> {
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
    const ok = statusCode >= 200 && statusCode < 300;
    if (ok && message.method === 'notifications/initialized') this.openGetStream();
    if (statusCode === 202) {
      await body.dump();
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
    if (type.includes('text/event-stream')) {
      await this.readEvents(body, controller, awaited);
      return;
    }
    if (type.includes('application/json')) {
      const text = await readCapped(body, this.options.maxMessageBytes, controller, false);
      this.deliver(text);
      return;
    }
    await body.dump();
    if (message.id !== undefined) throw new LinkError(`unexpected content type "${type.slice(0, 80)}"`);
  }

  /** Hands every message to the peer; true if one of them is the response to `awaited`. */
  private deliver(text: string, awaited?: unknown): boolean {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new LinkError('the server sent invalid JSON');
    }
    let answered = false;
    for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
      if (typeof item !== 'object' || item === null) continue;
      const message = item as JsonRpcMessage;
      this.events?.message(message);
      if (awaited !== undefined && message.id === awaited && message.method === undefined) answered = true;
    }
    return answered;
  }

  /**
   * Server-sent events, one `data` payload per message, each bounded while it arrives. An answer to a POST
   * ends once the response to its request is delivered (the server need not close it); returns how many
   * events arrived.
   */
  private async readEvents(body: Body, controller: AbortController, awaited?: unknown): Promise<number> {
    const decoder = new TextDecoder();
    const limit = this.options.maxMessageBytes;
    let pending = '';
    let data: string[] = [];
    let eventBytes = 0;
    let events = 0;
    reading: for await (const chunk of body as AsyncIterable<Buffer>) {
      pending += decoder.decode(chunk, { stream: true });
      for (;;) {
        const end = pending.indexOf('\n');
        if (end === -1) break;
        const line = pending.slice(0, end).replace(/\r$/, '');
        pending = pending.slice(end + 1);
        if (line === '') {
          const payload = data.join('\n');
          data = [];
          eventBytes = 0;
          if (payload === '') continue;
          events++;
          if (this.deliverEvent(payload, awaited)) {
            // Leaving the loop destroys the body; aborting frees the socket the server kept open.
            controller.abort(RESPONSE_DELIVERED);
            break reading;
          }
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
    return events;
  }

  private deliverEvent(payload: string, awaited: unknown): boolean {
    try {
      return this.deliver(payload, awaited);
    } catch {
      // One unreadable event does not end the stream.
      return false;
    }
  }

  /**
   * The downstream's own notifications (list_changed, resources/updated) arrive on a standing GET stream. When
   * it ends or fails it is reopened after a wait that doubles while it brings nothing (back to the first wait
   * once it delivered an event); never again after a 405, nor once the link is closed.
   */
  private openGetStream(): void {
    if (this.getStream || this.getRetry || this.getRefused || this.closedReason) return;
    const controller = new AbortController();
    this.getStream = controller;
    void this.listen(controller).then((outcome) => {
      if (this.getStream === controller) this.getStream = undefined;
      if (outcome === 'refused') this.getRefused = true;
      if (this.getRefused || this.closedReason) return;
      const first = this.options.streamRetryMs ?? STREAM_RETRY_MS;
      if (outcome === 'heard') this.getRetryMs = first;
      const wait = this.getRetryMs;
      this.getRetryMs = Math.min(wait * 2, STREAM_RETRY_MAX_MS);
      this.getRetry = setTimeout(() => {
        this.getRetry = undefined;
        this.openGetStream();
      }, wait);
      this.getRetry.unref();
    });
  }

  private async listen(controller: AbortController): Promise<'refused' | 'heard' | 'silent'> {
    try {
      const { statusCode, headers, body } = await this.pool.request({
        path: this.path,
        method: 'GET',
        headers: this.headers('text/event-stream'),
        signal: controller.signal,
        bodyTimeout: 0,
      });
      const type = headerOf(headers, 'content-type') ?? '';
      if (statusCode !== 200 || !type.includes('text/event-stream')) {
        await body.dump().catch(() => undefined);
        return statusCode === 405 ? 'refused' : 'silent';
      }
      return (await this.readEvents(body, controller)) > 0 ? 'heard' : 'silent';
    } catch {
      return 'silent';
    }
  }

  private hangUp(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.getStream?.abort();
    clearTimeout(this.getRetry);
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
