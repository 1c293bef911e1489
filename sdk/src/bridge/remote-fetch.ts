import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';

/**
 * The endpoint could not be reached: `fetch` itself rejected (refused, reset, DNS, TLS…), so no HTTP response
 * arrived. The only error the bridge retries by resending, since the request most likely never got processed.
 */
export class RemoteUnreachableError extends Error {
  constructor(cause: unknown) {
    super(describeNetworkError(cause), { cause });
    this.name = 'RemoteUnreachableError';
  }
}

function describeNetworkError(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error && cause.message) return cause.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** What one remote transport's `fetch` observes on the wire, below the SDK transport. */
export interface RemoteFetchHooks {
  /** The standalone GET event stream opened (HTTP 200). */
  onEventStreamOpened(): void;
  /** The standalone GET event stream was answered 404: the session is gone. */
  onEventStreamNotFound(): void;
  /**
   * The SSE response stream of a POSTed request ended (cleanly or not). `resumable` is true when the stream
   * carried event ids, in which case the SDK transport resumes it by itself.
   */
  onResponseStreamEnded(requestId: RequestId, resumable: boolean): void;
}

/** The id of the JSON-RPC request in a POST body, if the body is one request. */
function requestIdOf(body: unknown): RequestId | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const message: unknown = JSON.parse(body);
    if (typeof message !== 'object' || message === null || !('method' in message) || !('id' in message)) {
      return undefined;
    }
    const { id } = message;
    return typeof id === 'string' || typeof id === 'number' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Passes an SSE body through unchanged and reports when it ends. A broken connection ends the stream cleanly
 * instead of erroring it, so the chunks already read still reach the SDK's parser; the SDK treats both alike.
 */
function watchEventStream(
  body: ReadableStream<Uint8Array>,
  onEnd: (resumable: boolean) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let resumable = false;
  let tail = '\n';
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd(resumable);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          end();
          return;
        }
        if (!resumable) {
          const text = tail + decoder.decode(value, { stream: true });
          resumable = /[\r\n]id:/.test(text);
          tail = text.slice(-3);
        }
        controller.enqueue(value);
      } catch {
        controller.close();
        end();
      }
    },
    async cancel(reason) {
      end();
      await reader.cancel(reason);
    },
  });
}

/**
 * The `fetch` given to one StreamableHTTPClientTransport: tags connection failures as
 * {@link RemoteUnreachableError} and reports the stream events the SDK transport does not surface per request.
 */
export function remoteFetch(base: FetchLike, hooks: RemoteFetchHooks): FetchLike {
  return async (url, init) => {
    let response: Response;
    try {
      response = await base(url, init);
    } catch (error) {
      if (init?.signal?.aborted) throw error;
      throw new RemoteUnreachableError(error);
    }
    const method = init?.method ?? 'GET';
    if (method === 'GET') {
      if (response.ok) hooks.onEventStreamOpened();
      else if (response.status === 404) hooks.onEventStreamNotFound();
      return response;
    }
    const contentType = response.headers.get('content-type') ?? '';
    const requestId = method === 'POST' ? requestIdOf(init?.body) : undefined;
    if (
      requestId === undefined ||
      !response.ok ||
      !response.body ||
      !contentType.includes('text/event-stream')
    ) {
      return response;
    }
    const body = watchEventStream(response.body, (resumable) =>
      hooks.onResponseStreamEnded(requestId, resumable),
    );
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
