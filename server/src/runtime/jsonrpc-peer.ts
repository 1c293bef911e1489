import { McpError, ErrorCode as McpErrorCode } from '@modelcontextprotocol/sdk/types.js';
import type { JsonRpcMessage, Link, Sending } from './link.js';

/** Mirrors the MCP SDK's request options, so callers written against its client keep working. */
export interface PeerRequestOptions {
  /** Idle timeout: how long the call may go without an answer or a progress notification. */
  timeout?: number;
  /** The call ends after this long whatever progress it reports. */
  maxTotalTimeout?: number;
  signal?: AbortSignal;
  onprogress?: (progress: { progress: number; total?: number; message?: string }) => void;
}

export interface PeerHandlers {
  /** Notifications other than progress (list_changed, resources/updated, message…). */
  onNotification(method: string, params: Record<string, unknown> | undefined): void;
  /** Requests the server sends us (sampling, elicitation): the result, or a thrown McpError. */
  onRequest(method: string, params: Record<string, unknown> | undefined): Promise<Record<string, unknown>>;
}

interface Pending {
  method: string;
  resolve(value: Record<string, unknown>): void;
  reject(error: unknown): void;
  sending: Sending | undefined;
  idle: NodeJS.Timeout | undefined;
  total: NodeJS.Timeout | undefined;
  onprogress: PeerRequestOptions['onprogress'];
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Why a call timed out: no answer nor progress for the idle timeout, or the maximum total time passed. */
export type TimeoutKind = 'idle' | 'total';

export function abortError(reason?: unknown): Error {
  const error = new Error(typeof reason === 'string' ? reason : 'The operation was aborted');
  error.name = 'AbortError';
  return error;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A JSON-RPC client over any link. Ids are ours (a counter; the client's ids never reach a downstream); each
 * call holds one pending entry with at most two timers and one listener on its own signal, all released the
 * moment it settles. A call that times out or is aborted frees its entry at once, ends its exchange on the
 * link (an HTTP request and its socket) and tells the downstream with `notifications/cancelled`.
 */
export class JsonRpcPeer {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedReason: string | null = null;

  constructor(
    private readonly link: Link,
    private readonly handlers: PeerHandlers,
    private readonly onClose: (reason: string) => void,
  ) {}

  start(): Promise<void> {
    return this.link.start({
      message: (message) => this.receive(message),
      closed: (reason) => this.closed(reason),
    });
  }

  get isClosed(): boolean {
    return this.closedReason !== null;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  request(
    method: string,
    params: Record<string, unknown> | undefined,
    options: PeerRequestOptions = {},
  ): Promise<Record<string, unknown>> {
    if (this.closedReason !== null) {
      return Promise.reject(new McpError(McpErrorCode.ConnectionClosed, 'Connection closed'));
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const entry: Pending = {
        method,
        resolve,
        reject,
        sending: undefined,
        idle: undefined,
        total: undefined,
        onprogress: options.onprogress,
        signal,
        onAbort: undefined,
      };
      this.pending.set(id, entry);
      const { timeout, maxTotalTimeout } = options;
      if (timeout) entry.idle = setTimeout(() => this.timedOut(id, 'idle', timeout), timeout);
      if (maxTotalTimeout) {
        entry.total = setTimeout(() => this.timedOut(id, 'total', maxTotalTimeout), maxTotalTimeout);
      }
      if (signal) {
        entry.onAbort = () =>
          this.abandon(id, abortError(signal.reason), String(signal.reason ?? 'cancelled by the client'));
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      const withToken = options.onprogress
        ? { ...params, _meta: { ...(isObject(params?._meta) ? params._meta : {}), progressToken: id } }
        : params;
      const sending = this.link.send({
        jsonrpc: '2.0',
        id,
        method,
        ...(withToken !== undefined && { params: withToken }),
      });
      entry.sending = sending;
      sending.done.catch((error: unknown) => this.settle(id, undefined, error));
    });
  }

  /** Fire and forget: a failed notification is not the caller's problem. */
  notify(method: string, params?: Record<string, unknown>): void {
    if (this.closedReason !== null) return;
    this.link
      .send({ jsonrpc: '2.0', method, ...(params !== undefined && { params }) })
      .done.catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.link.close();
    this.closed('Connection closed');
  }

  private timedOut(id: number, kind: TimeoutKind, ms: number): void {
    const error = new McpError(McpErrorCode.RequestTimeout, 'Request timed out', { timeout: ms, kind });
    this.abandon(id, error, `Request timed out after ${ms} ms`);
  }

  /**
   * Ends a call we no longer wait for: freed now, its exchange ended, the downstream told (except for
   * `initialize`, which MCP says must never be cancelled).
   */
  private abandon(id: number, error: Error, reason: string): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.settle(id, undefined, error);
    entry.sending?.abort();
    if (entry.method !== 'initialize') this.notify('notifications/cancelled', { requestId: id, reason });
  }

  private settle(id: number, result: Record<string, unknown> | undefined, error?: unknown): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    clearTimeout(entry.idle);
    clearTimeout(entry.total);
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    if (error !== undefined) entry.reject(error);
    else entry.resolve(result ?? {});
  }

  private receive(message: JsonRpcMessage): void {
    const { id, method } = message;
    if (typeof method === 'string') {
      const params = isObject(message.params) ? message.params : undefined;
      if (id === undefined || id === null) this.notification(method, params);
      else if (typeof id === 'string' || typeof id === 'number') this.serverRequest(id, method, params);
      return;
    }
    if (typeof id !== 'number') return;
    if (isObject(message.error)) {
      const { code, message: text, data } = message.error;
      const error = new McpError(
        typeof code === 'number' ? code : McpErrorCode.InternalError,
        typeof text === 'string' ? text : 'error',
        data,
      );
      this.settle(id, undefined, error);
    } else {
      this.settle(id, isObject(message.result) ? message.result : {});
    }
  }

  private notification(method: string, params: Record<string, unknown> | undefined): void {
    if (method === 'notifications/progress') {
      const token = params?.progressToken;
      const entry = typeof token === 'number' ? this.pending.get(token) : undefined;
      if (!entry?.onprogress || typeof params?.progress !== 'number') return;
      // Progress shows the call is alive: its idle timeout starts again (the total one does not).
      entry.idle?.refresh();
      entry.onprogress({
        progress: params.progress,
        ...(typeof params.total === 'number' && { total: params.total }),
        ...(typeof params.message === 'string' && { message: params.message }),
      });
      return;
    }
    this.handlers.onNotification(method, params);
  }

  private serverRequest(
    id: string | number,
    method: string,
    params: Record<string, unknown> | undefined,
  ): void {
    const answer = method === 'ping' ? Promise.resolve({}) : this.handlers.onRequest(method, params);
    answer.then(
      (result) => this.reply({ jsonrpc: '2.0', id, result }),
      (error: unknown) => {
        const code = error instanceof McpError ? error.code : McpErrorCode.InternalError;
        const text = error instanceof Error ? error.message : 'error';
        this.reply({ jsonrpc: '2.0', id, error: { code, message: text } });
      },
    );
  }

  private reply(message: JsonRpcMessage): void {
    if (this.closedReason !== null) return;
    this.link.send(message).done.catch(() => undefined);
  }

  private closed(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    for (const id of [...this.pending.keys()]) {
      this.settle(id, undefined, new McpError(McpErrorCode.ConnectionClosed, 'Connection closed'));
    }
    this.onClose(reason);
  }
}
