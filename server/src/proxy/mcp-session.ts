import type {
  ClientCapabilities,
  JSONRPCMessage,
  LoggingLevel,
  RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { McpInstance } from '../runtime/instance.js';
import type { ClientAccess } from './access.js';
import { SessionEventStore } from './event-store.js';
import type { RequestFacts, TrackedSession } from './session-registry.js';
import { SseStream } from './sse-stream.js';
import type { View } from './tool-gateway.js';

const LOG_LEVELS: readonly LoggingLevel[] = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
];

export const MAX_SUBSCRIPTIONS_PER_SESSION = 100;
/** Server-to-client requests a session may have waiting for the client's answer at once. */
const MAX_AWAITING = 100;
/** What a question to the client still waiting when its call ends is rejected with (built once: every call ends). */
const CALL_FINISHED = new McpError(ErrorCode.RequestTimeout, 'The call finished');
const STANDALONE = 'get';

interface Subscription {
  readonly instance: McpInstance;
  readonly uri: string;
  readonly listener: (uri: string) => void;
}

interface Awaiting {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
}

/**
 * One MCP session: what was negotiated at `initialize`, the client's log level and subscriptions, and its
 * streams (calls being answered over SSE, the GET stream) with the events kept for their resumption. No SDK
 * `Server` or transport and no timer: an idle session is this object and its (bounded) replay buffer.
 */
export class McpSession implements TrackedSession {
  lastActivity: number;
  readonly responses = { open: 0 };
  logLevel: LoggingLevel = 'info';
  /** Names and hashes of the tools last listed, to send list_changed only when the visible set changes. */
  toolsFingerprint = '';
  promptsFingerprint = '';
  readonly replay = new SessionEventStore();
  readonly subscriptions = new Map<string, Subscription>();
  /** The GET stream (server notifications), when the client holds one. */
  readonly standalone: SseStream;
  private readonly live = new Map<string, SseStream>();
  private readonly inflight = new Map<RequestId, AbortController>();
  private readonly awaiting = new Map<RequestId, Awaiting>();
  /** Writes a change of the shared state (log level, subscriptions) to the session's row. */
  persist: (patch: { logLevel?: LoggingLevel; subscriptions?: string[] }) => Promise<unknown> = async () =>
    undefined;
  private streams = 0;
  private requests = 0;
  private savingSubscriptions: Promise<unknown> = Promise.resolve();

  constructor(
    readonly id: string,
    readonly view: View,
    /** The access this session was opened with; each request brings its own, checked when its key was. */
    readonly access: ClientAccess,
    readonly protocolVersion: string,
    readonly clientCapabilities: ClientCapabilities,
    /** The request this session was last seen on (its audit records carry its id and source IP). */
    public facts: RequestFacts,
    readonly startedAt: number,
  ) {
    this.lastActivity = startedAt;
    this.standalone = new SseStream(STANDALONE, this.replay);
  }

  get clientId(): string {
    return this.access.clientId;
  }

  get keyHash(): string {
    return this.access.keyHash;
  }

  /** A new stream for the answer to one call; it stays resumable until it ends. */
  openStream(): SseStream {
    const stream = new SseStream(String(++this.streams), this.replay);
    this.live.set(stream.id, stream);
    return stream;
  }

  closeStream(stream: SseStream): void {
    stream.end();
    this.live.delete(stream.id);
  }

  /** The stream `streamId`, while it can still receive events (the GET stream always can). */
  liveStream(streamId: string): SseStream | undefined {
    return streamId === STANDALONE ? this.standalone : this.live.get(streamId);
  }

  /** A server notification for the session as a whole: on the GET stream, dropped when there is none. */
  notify(message: JSONRPCMessage): void {
    if (this.standalone.attached) this.standalone.send(message);
  }

  /** Whether a log message at `level` passes the level the client set. */
  wantsLog(level: LoggingLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(this.logLevel);
  }

  /**
   * Writes the subscriptions to the session's row, one write at a time, each with the set as it is when
   * it runs: parallel changes cannot leave an older list written last.
   */
  saveSubscriptions(): Promise<unknown> {
    const write = this.savingSubscriptions.then(() =>
      this.persist({ subscriptions: [...this.subscriptions.keys()] }),
    );
    this.savingSubscriptions = write.catch(() => undefined);
    return write;
  }

  /**
   * Registers a request in flight, so `notifications/cancelled` from the client can abort it; undefined when
   * a request with the same id is still in flight (the client must not reuse it, JSON-RPC 2.0).
   */
  begin(id: RequestId): AbortSignal | undefined {
    if (this.inflight.has(id)) return undefined;
    const controller = new AbortController();
    this.inflight.set(id, controller);
    return controller.signal;
  }

  /** The request ended: anything still waiting on it (a question to the client) is released. */
  done(id: RequestId, signal: AbortSignal): void {
    const controller = this.inflight.get(id);
    if (controller?.signal !== signal) return;
    this.inflight.delete(id);
    controller.abort(CALL_FINISHED);
  }

  /** The client cancelled request `id`: its downstream call is aborted with the client's reason. */
  cancel(id: RequestId, reason: unknown): void {
    this.inflight.get(id)?.abort(reason);
  }

  /**
   * Sends a request to the client on `send` (the stream of the call it belongs to) and waits for the client
   * to POST its answer; the call's signal abandons the wait.
   */
  request(
    message: { method: string; params?: Record<string, unknown> },
    send: (message: JSONRPCMessage) => boolean,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    if (this.awaiting.size >= MAX_AWAITING) {
      return Promise.reject(new McpError(ErrorCode.InvalidRequest, 'Too many requests awaiting the client'));
    }
    const id = `gatehouse-${++this.requests}`;
    return new Promise((resolve, reject) => {
      const onAbort = () => settle(() => reject(signal.reason ?? new Error('aborted')));
      const settle = (action: () => void) => {
        this.awaiting.delete(id);
        signal.removeEventListener('abort', onAbort);
        action();
      };
      if (signal.aborted) return reject(signal.reason);
      this.awaiting.set(id, {
        resolve: (result) => settle(() => resolve(result)),
        reject: (error) => settle(() => reject(error)),
      });
      signal.addEventListener('abort', onAbort, { once: true });
      const sent = send({ jsonrpc: '2.0', id, method: message.method, params: message.params });
      if (!sent) {
        this.awaiting.get(id)?.reject(new McpError(ErrorCode.InvalidRequest, 'The client cannot be asked'));
      }
    });
  }

  /** A response the client POSTed to one of our requests; false when nothing waits for it. */
  answer(message: { id: RequestId; result?: unknown; error?: { code: number; message: string } }): boolean {
    const waiting = this.awaiting.get(message.id);
    if (!waiting) return false;
    if (message.error) waiting.reject(new McpError(message.error.code, message.error.message));
    else waiting.resolve((message.result ?? {}) as Record<string, unknown>);
    return true;
  }

  /** How many requests to the client are waiting for its answer. */
  get awaitingCount(): number {
    return this.awaiting.size;
  }

  /** Ends everything the session holds: calls in flight, waits, streams, subscriptions, replay. */
  close(): void {
    for (const controller of this.inflight.values()) controller.abort(new Error('session ended'));
    this.inflight.clear();
    for (const waiting of this.awaiting.values()) waiting.reject(new Error('session ended'));
    for (const stream of this.live.values()) stream.end();
    this.live.clear();
    this.standalone.end();
    for (const subscription of this.subscriptions.values()) {
      void subscription.instance
        .unsubscribeResource(subscription.uri, this.id, subscription.listener)
        .catch(() => undefined);
    }
    this.subscriptions.clear();
    this.replay.dispose();
  }
}
