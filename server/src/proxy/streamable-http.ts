import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendWireError } from './jsonrpc-errors.js';
import type { McpSession } from './mcp-session.js';
import type { SseStream } from './sse-stream.js';

/**
 * The HTTP side of Streamable HTTP (MCP 2025-11-25), served directly on Fastify: how an answer is written
 * (plain JSON, or SSE once something has to stream), the GET stream, `Last-Event-ID` resumption and the
 * header rules. What a message means is the pipeline's business (`pipeline.ts`).
 */

/** What the client's `Accept` allows for the answer to a POST. */
export interface Accepts {
  readonly json: boolean;
  readonly sse: boolean;
}

export function acceptsOf(request: FastifyRequest): Accepts {
  const accept = request.headers.accept ?? '';
  const any = accept.includes('*/*');
  return {
    json: any || accept.includes('application/json'),
    sse: any || accept.includes('text/event-stream'),
  };
}

/** A POST body must be declared JSON. */
export const isJsonBody = (request: FastifyRequest) =>
  (request.headers['content-type'] ?? '').toLowerCase().includes('application/json');

/** A request after `initialize` may name the protocol version; one Gatehouse does not speak is refused. */
export function protocolVersionRefused(request: FastifyRequest, reply: FastifyReply): FastifyReply | null {
  const version = request.headers['mcp-protocol-version'];
  if (
    version === undefined ||
    (typeof version === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(version))
  ) {
    return null;
  }
  return sendWireError(reply, 'UNSUPPORTED_PROTOCOL_VERSION', {
    detail: `supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`,
  });
}

/**
 * The answer to one JSON-RPC request. It is plain `application/json` unless something has to reach the client
 * while the request runs (progress, a log message, a sampling or elicitation request): then, if the client
 * accepts it, the answer becomes an SSE stream of this session, resumable with `Last-Event-ID`.
 */
export class CallAnswer {
  private stream: SseStream | undefined;

  constructor(
    private readonly reply: FastifyReply,
    private readonly session: McpSession,
    private readonly accepts: Accepts,
  ) {}

  /** Turns the answer into an SSE stream now, if the client accepts one; false when it does not. */
  openStream(): boolean {
    if (this.stream) return true;
    if (!this.accepts.sse || this.reply.raw.headersSent) return false;
    this.reply.hijack();
    this.stream = this.session.openStream();
    this.stream.attach(this.reply.raw, { 'mcp-session-id': this.session.id });
    this.stream.prime(this.session.protocolVersion);
    return true;
  }

  /** Sends one message on this answer's stream, opening it on first use; false when the client cannot take it. */
  readonly send = (message: JSONRPCMessage): boolean => {
    if (!this.openStream()) return false;
    this.stream?.send(message);
    return true;
  };

  /** Writes the response: the last event of the stream, or the JSON body when nothing streamed. */
  finish(message: JSONRPCMessage): void {
    if (!this.stream && !this.accepts.json) this.send(message);
    else if (this.stream) this.stream.send(message);
    else {
      void this.reply
        .code(200)
        .header('content-type', 'application/json')
        .header('mcp-session-id', this.session.id)
        .send(JSON.stringify(message));
      return;
    }
    if (this.stream) this.session.closeStream(this.stream);
  }
}

/** GET: the session's stream of server notifications, or the resumption of a lost stream. */
export function openGetStream(
  request: FastifyRequest,
  reply: FastifyReply,
  session: McpSession,
): FastifyReply | undefined {
  if (!acceptsOf(request).sse) return sendWireError(reply, 'NOT_ACCEPTABLE_STREAM');
  const lastEventId = request.headers['last-event-id'];
  if (typeof lastEventId === 'string' && lastEventId !== '') return resume(reply, session, lastEventId);
  if (session.standalone.attached) return sendWireError(reply, 'STREAM_CONFLICT');
  reply.hijack();
  session.standalone.attach(reply.raw, { 'mcp-session-id': session.id });
  return undefined;
}

/** Replays the events of the stream `lastEventId` belongs to that came after it; a live stream continues. */
function resume(reply: FastifyReply, session: McpSession, lastEventId: string): FastifyReply | undefined {
  const streamId = session.replay.streamOf(lastEventId);
  if (streamId === undefined) return sendWireError(reply, 'INVALID_EVENT_ID');
  const live = session.liveStream(streamId);
  if (live?.attached) return sendWireError(reply, 'STREAM_CONFLICT');
  const missed = session.replay.after(lastEventId);
  reply.hijack();
  const headers = { 'mcp-session-id': session.id };
  if (live && !live.finished) {
    live.attach(reply.raw, headers);
    for (const event of missed) if (event.message) live.resend(event.id, event.message);
    return undefined;
  }
  // The stream is complete: what was missed, then the end.
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    ...headers,
  });
  for (const event of missed) {
    raw.write(`event: message\nid: ${event.id}\ndata: ${JSON.stringify(event.message)}\n\n`);
  }
  raw.end();
  return undefined;
}
