import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { RemoteUnreachableError, remoteFetch } from './remote-fetch.js';

export interface BridgeOptions {
  /** The Gatehouse MCP endpoint, e.g. `https://gatehouse.example.com:8443/mcp`. */
  url: string;
  /** The client key (`gh_ck_…`), sent as `Authorization: Bearer <key>` on every request. Never logged. */
  key: string;
  /** Where the local client's messages come from; defaults to `process.stdin`. */
  stdin?: Readable;
  /** Where messages for the local client go; defaults to `process.stdout`. */
  stdout?: Writable;
  /** Where log lines go; defaults to `process.stderr`. */
  stderr?: Writable;
  fetch?: typeof fetch;
  /** Also log transport diagnostics (stream errors, reconnections). */
  verbose?: boolean;
}

export interface Bridge {
  /** Resolves with the exit code once the bridge has stopped: 0 when stdin ended or on close(), 3 when the key was rejected. */
  closed: Promise<number>;
  /** Stops the bridge (ending the remote session) and waits until it has stopped. */
  close(): Promise<void>;
}

/** JSON-RPC error codes the bridge answers with when it cannot obtain a response from the endpoint. */
export const BridgeErrorCode = {
  /** The endpoint could not be reached, or the connection or session was lost before the response arrived. */
  ConnectionFailed: -32000,
  /** The endpoint answered 401/403: the client key is wrong, revoked or not allowed. */
  KeyRejected: -32003,
} as const;

export const EXIT_OK = 0;
export const EXIT_KEY_REJECTED = 3;

/** Waits after the 1st, 2nd… failed attempt to reach the endpoint: 0.5 s doubling, capped at 10 s. */
const RETRY_DELAYS_MS = [500, 1_000, 2_000, 4_000, 8_000];
const REINITIALIZE_TIMEOUT_MS = 30_000;
const END_SESSION_TIMEOUT_MS = 2_000;
/** How long after a response stream ended without the response before the request is failed. */
const LOST_RESPONSE_GRACE_MS = 50;

/** Parses and checks an endpoint URL; throws a TypeError (that never contains the key) if it is not http(s). */
export function parseEndpointUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`invalid --url ${JSON.stringify(url)}: not an absolute URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new TypeError(`invalid --url ${JSON.stringify(url)}: the scheme must be https (or http)`);
  }
  return parsed;
}

/**
 * Checks a client key can go into an HTTP header. Without this, fetch would reject the request with an error
 * quoting the header, key included.
 */
export function checkClientKey(key: string): void {
  if (key === '') throw new TypeError('the client key is empty');
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new TypeError(
      'the client key contains whitespace or characters that cannot go into an HTTP header',
    );
  }
}

const isLoopback = (host: string) =>
  host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

/** One StreamableHTTPClientTransport, i.e. one (possible) Gatehouse session. */
interface Remote {
  readonly transport: StreamableHTTPClientTransport;
  retired: boolean;
  /** Set once the standalone GET stream has opened, so a later 404 on it means the session expired. */
  eventStreamSeen: boolean;
  /** Responses the bridge itself waits for (the replayed initialize), by request id. */
  readonly waiters: Map<RequestId, (message: JSONRPCMessage) => void>;
}

/** A request from the local client awaiting its response. */
interface Pending {
  /** The remote the request was delivered to, once it was. */
  deliveredTo?: Remote;
}

interface Initialization {
  request: JSONRPCRequest;
  /** The endpoint answered it successfully: there is a session to renew when it expires. */
  answered: boolean;
  /** The local client sent `notifications/initialized`. */
  initializedNotified: boolean;
}

const errorResponse = (id: RequestId, code: number, message: string): JSONRPCErrorResponse => ({
  jsonrpc: '2.0',
  id,
  error: { code, message },
});

const isResponse = (message: JSONRPCMessage) => !('method' in message);
const responseIdOf = (message: JSONRPCMessage): RequestId | undefined =>
  'id' in message && (typeof message.id === 'string' || typeof message.id === 'number')
    ? message.id
    : undefined;
const httpStatusOf = (error: unknown) => (error instanceof StreamableHTTPError ? error.code : undefined);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
/** Error pages can be long (HTML from a proxy): quote at most the start. */
const truncate = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}…` : text);

/** A one-line description of a failed attempt to reach the endpoint, for the retry log. */
function attemptFailure(error: unknown): string {
  if (error instanceof RemoteUnreachableError) return `cannot reach Gatehouse (${error.message})`;
  if (error instanceof StreamableHTTPError) return `Gatehouse answered HTTP ${error.code}`;
  return messageOf(error);
}

/** The JSON-RPC error an endpoint put in the body of a non-2xx answer, as quoted by the SDK's error message. */
function jsonRpcErrorIn(error: StreamableHTTPError): { code: number; message: string } | undefined {
  const start = error.message.indexOf('{');
  if (start < 0) return undefined;
  try {
    const body: unknown = JSON.parse(error.message.slice(start));
    if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
    const inner = body.error;
    if (typeof inner !== 'object' || inner === null || !('code' in inner) || !('message' in inner))
      return undefined;
    const { code, message } = inner;
    return typeof code === 'number' && typeof message === 'string' ? { code, message } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts relaying MCP between a local stdio client and a Gatehouse Streamable HTTP endpoint. Messages pass
 * through unchanged in both directions (ids included); the bridge only adds the key, learns the protocol
 * version from the initialize response, retries unreachable endpoints, renews expired sessions by replaying
 * the client's initialize, and answers requests it cannot deliver with JSON-RPC errors.
 */
export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const url = parseEndpointUrl(options.url);
  const { key } = options;
  checkClientKey(key);
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const baseFetch = options.fetch ?? fetch;
  const verbose = options.verbose ?? false;

  const redact = (text: string) => text.split(key).join('[redacted]');
  const log = (line: string) => {
    stderr.write(`gatehouse-connect: ${redact(line)}\n`);
  };
  const debug = (line: string) => {
    if (verbose) log(line);
  };

  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    log(`warning: ${url.host} is plain http, so the client key travels unencrypted; use https`);
  }

  const pending = new Map<RequestId, Pending>();
  let initialization: Initialization | undefined;
  let current: Remote | undefined;
  let establishing: Promise<Remote> | undefined;
  let renewals = 0;
  let stopping = false;
  const stopSignal = new AbortController();
  let resolveClosed: (code: number) => void = () => {};
  const closed = new Promise<number>((resolve) => {
    resolveClosed = resolve;
  });
  let stopped: Promise<void> | undefined;

  const local = new StdioServerTransport(stdin, stdout);

  const toLocal = (message: JSONRPCMessage) => {
    if (stdout.writableEnded || stdout.destroyed) return;
    local.send(message).catch((error: unknown) => debug(`could not write to stdout: ${messageOf(error)}`));
  };

  /** Answers a pending local request with an error (at most once). */
  const failRequest = (id: RequestId, code: number, message: string) => {
    if (!pending.delete(id)) return;
    toLocal(errorResponse(id, code, redact(message)));
  };

  // --- the remote side ---------------------------------------------------------------------------------

  /** Every remote not closed yet, so stopping can close one still being established. */
  const live = new Set<Remote>();

  const createRemote = (): Remote => {
    const transport = new StreamableHTTPClientTransport(url, {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
      fetch: remoteFetch(baseFetch, {
        onEventStreamOpened: () => {
          remote.eventStreamSeen = true;
        },
        onEventStreamNotFound: () => {
          // Only after the stream has worked once: an endpoint that simply has no GET route must not loop.
          if (!remote.eventStreamSeen || remote.retired || stopping) return;
          debug('the event stream answered 404: the session expired');
          retire(remote);
          getRemote().catch((error: unknown) => debug(`could not renew the session: ${messageOf(error)}`));
        },
        onResponseStreamEnded: (id, resumable) => {
          if (resumable) return; // the SDK transport resumes it with Last-Event-ID
          setTimeout(() => {
            if (stopping || pending.get(id)?.deliveredTo !== remote) return;
            failRequest(
              id,
              BridgeErrorCode.ConnectionFailed,
              'the connection to Gatehouse closed before the response arrived',
            );
          }, LOST_RESPONSE_GRACE_MS);
        },
      }),
      reconnectionOptions: {
        initialReconnectionDelay: 500,
        reconnectionDelayGrowFactor: 2,
        maxReconnectionDelay: 10_000,
        maxRetries: RETRY_DELAYS_MS.length,
      },
    });
    const remote: Remote = { transport, retired: false, eventStreamSeen: false, waiters: new Map() };
    live.add(remote);
    transport.onmessage = (message) => {
      if (!remote.retired) onRemoteMessage(remote, message);
    };
    transport.onerror = (error) => {
      if (remote.retired || stopping) return;
      const status = httpStatusOf(error);
      if (status === 401 || status === 403) {
        void keyRejected(status);
        return;
      }
      debug(`remote: ${messageOf(error)}`);
      if (messageOf(error).startsWith('Maximum reconnection attempts')) {
        log('gave up reconnecting the event stream from Gatehouse; server notifications may be missed');
      }
    };
    return remote;
  };

  /** Stops using a remote (its session expired): requests delivered to it can no longer be answered. */
  const retire = (remote: Remote) => {
    if (remote.retired) return;
    remote.retired = true;
    live.delete(remote);
    if (current === remote) current = undefined;
    for (const [id, entry] of pending) {
      if (entry.deliveredTo === remote) {
        failRequest(
          id,
          BridgeErrorCode.ConnectionFailed,
          'the Gatehouse session expired before the response arrived; retry the request',
        );
      }
    }
    remote.transport.close().catch(() => {});
  };

  /** A new session: replays the local client's initialize (answer swallowed) and `notifications/initialized`. */
  const establish = async (): Promise<Remote> => {
    const remote = createRemote();
    await remote.transport.start();
    const init = initialization;
    if (!init?.answered) return remote;
    try {
      const id = `gatehouse-connect-reinitialize-${++renewals}`;
      const answer = new Promise<JSONRPCMessage>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('the endpoint did not answer the replayed initialize request')),
          REINITIALIZE_TIMEOUT_MS,
        );
        timer.unref();
        remote.waiters.set(id, (message) => {
          clearTimeout(timer);
          resolve(message);
        });
      });
      answer.catch(() => {});
      await remote.transport.send({ ...init.request, id });
      const reply = await answer;
      if (isJSONRPCErrorResponse(reply)) {
        throw new Error(`the endpoint refused the replayed initialize request: ${reply.error.message}`);
      }
      const version = isJSONRPCResultResponse(reply) ? reply.result.protocolVersion : undefined;
      if (typeof version === 'string') remote.transport.setProtocolVersion(version);
      if (init.initializedNotified) {
        await remote.transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      }
      if (stopping) throw new Error('the bridge is stopping');
      log('the Gatehouse session expired; started a new one');
      return remote;
    } catch (error) {
      remote.retired = true;
      live.delete(remote);
      await remote.transport.close().catch(() => {});
      throw error;
    }
  };

  const getRemote = (): Promise<Remote> => {
    if (current) return Promise.resolve(current);
    establishing ??= establish()
      .then((remote) => {
        current = remote;
        return remote;
      })
      .finally(() => {
        establishing = undefined;
      });
    return establishing;
  };

  const onRemoteMessage = (remote: Remote, message: JSONRPCMessage) => {
    if (isResponse(message)) {
      const id = responseIdOf(message);
      if (id !== undefined) {
        const waiter = remote.waiters.get(id);
        if (waiter) {
          remote.waiters.delete(id);
          waiter(message);
          return;
        }
        if (!pending.delete(id)) {
          // Already answered by the bridge (connection lost, session expired) or cancelled by the client.
          debug(`dropping a response for request ${JSON.stringify(id)}, which is no longer pending`);
          return;
        }
        const init = initialization;
        if (init && !init.answered && id === init.request.id && isJSONRPCResultResponse(message)) {
          init.answered = true;
          const version = message.result.protocolVersion;
          // Without the Client class, nobody else tells the transport which revision was negotiated.
          if (typeof version === 'string') remote.transport.setProtocolVersion(version);
        }
      }
    }
    toLocal(message);
  };

  /** Why a message could not be delivered, as a JSON-RPC error for the local client. */
  const describeFailure = (error: unknown, attempts: number): { code: number; message: string } => {
    if (error instanceof RemoteUnreachableError) {
      return {
        code: BridgeErrorCode.ConnectionFailed,
        message: `Gatehouse endpoint ${url.origin} unreachable after ${attempts} attempts: ${error.message}`,
      };
    }
    if (error instanceof StreamableHTTPError) {
      const inBody = jsonRpcErrorIn(error);
      if (inBody) return inBody;
      return {
        code: BridgeErrorCode.ConnectionFailed,
        message: truncate(`Gatehouse endpoint answered HTTP ${error.code}: ${error.message}`),
      };
    }
    return {
      code: BridgeErrorCode.ConnectionFailed,
      message: truncate(`Gatehouse request failed: ${messageOf(error)}`),
    };
  };

  /** Delivers one local message to the endpoint, retrying and renewing the session as needed. */
  const forward = async (message: JSONRPCMessage): Promise<void> => {
    let failures = 0;
    let sessionRenewals = 0;
    while (!stopping) {
      let remote: Remote | undefined;
      try {
        remote = await getRemote();
        await remote.transport.send(message);
        if (isJSONRPCRequest(message)) {
          const entry = pending.get(message.id);
          if (entry) entry.deliveredTo = remote;
        }
        return;
      } catch (error) {
        if (stopping) return;
        const status = httpStatusOf(error);
        if (status === 401 || status === 403) {
          await keyRejected(status);
          return;
        }
        if (
          status === 404 &&
          remote?.transport.sessionId !== undefined &&
          !isInitializeRequest(message) &&
          sessionRenewals < 2
        ) {
          sessionRenewals++;
          debug(`the endpoint no longer knows session ${remote.transport.sessionId}`);
          retire(remote);
          continue;
        }
        const retryable =
          error instanceof RemoteUnreachableError || status === 502 || status === 503 || status === 504;
        const delay = RETRY_DELAYS_MS[failures];
        if (retryable && delay !== undefined) {
          failures++;
          log(
            `${attemptFailure(error)}; retrying in ${delay / 1000} s (${failures}/${RETRY_DELAYS_MS.length})`,
          );
          try {
            await sleep(delay, undefined, { signal: stopSignal.signal });
          } catch {
            return;
          }
          continue;
        }
        const failure = describeFailure(error, failures + 1);
        if (isJSONRPCRequest(message)) {
          failRequest(message.id, failure.code, failure.message);
        } else {
          log(`could not deliver a message to Gatehouse: ${failure.message}`);
        }
        return;
      }
    }
  };

  // --- the local side ----------------------------------------------------------------------------------

  local.onmessage = (message) => {
    if (stopping) return;
    if (isJSONRPCRequest(message)) {
      pending.set(message.id, {});
      if (isInitializeRequest(message)) {
        initialization = { request: structuredClone(message), answered: false, initializedNotified: false };
      }
    } else if (isJSONRPCNotification(message)) {
      if (message.method === 'notifications/initialized' && initialization) {
        initialization.initializedNotified = true;
      } else if (message.method === 'notifications/cancelled') {
        // The endpoint need not answer a cancelled request.
        const requestId = message.params?.requestId;
        if (typeof requestId === 'string' || typeof requestId === 'number') pending.delete(requestId);
      }
    }
    void forward(message);
  };
  local.onerror = (error) => {
    // Unparsable lines on stdin (skipped by the transport) or a stdin stream error.
    log(`client input: ${truncate(messageOf(error), 200)}`);
  };

  // --- stopping ----------------------------------------------------------------------------------------

  const flushStdout = () =>
    new Promise<void>((resolve) => {
      if (stdout.writableEnded || stdout.destroyed) {
        resolve();
        return;
      }
      stdout.write('', () => resolve());
    });

  const stop = (code: number, endSession: boolean): Promise<void> => {
    if (stopped) return stopped;
    stopping = true;
    stopSignal.abort();
    stdin.off('end', onStdinEnd);
    stdin.off('close', onStdinEnd);
    stopped = (async () => {
      await local.close().catch(() => {});
      if (endSession && current?.transport.sessionId !== undefined) {
        // Best effort: frees the session on the endpoint now instead of at its idle timeout.
        await Promise.race([
          current.transport.terminateSession().catch(() => {}),
          sleep(END_SESSION_TIMEOUT_MS, undefined, { ref: false }),
        ]);
      }
      for (const remote of [...live]) {
        remote.retired = true;
        live.delete(remote);
        await remote.transport.close().catch(() => {});
      }
      await flushStdout();
      resolveClosed(code);
    })();
    return stopped;
  };

  const keyRejected = async (status: number): Promise<void> => {
    if (stopping) return;
    const advice = 'Check --key / GATEHOUSE_CLIENT_KEY in the Gatehouse portal.';
    for (const id of [...pending.keys()]) {
      failRequest(
        id,
        BridgeErrorCode.KeyRejected,
        `Gatehouse rejected the client key (HTTP ${status}). ${advice}`,
      );
    }
    log(`the endpoint rejected the client key (HTTP ${status}). ${advice}`);
    await stop(EXIT_KEY_REJECTED, false);
  };

  const onStdinEnd = () => {
    debug('the client closed stdin');
    void stop(EXIT_OK, true);
  };
  const onStdoutError = (error: Error) => {
    debug(`stdout failed: ${error.message}`);
    void stop(EXIT_OK, true);
  };

  stdin.on('end', onStdinEnd);
  stdin.on('close', onStdinEnd);
  stdout.on('error', onStdoutError);
  current = createRemote();
  await current.transport.start();
  await local.start();
  debug(`relaying stdio to ${url.href}`);

  return {
    closed,
    close: () => stop(EXIT_OK, true),
  };
}

const isInitializeRequest = (message: JSONRPCMessage) =>
  isJSONRPCRequest(message) && message.method === 'initialize';
