import http from 'node:http';
import type { Run } from './load.js';

/**
 * The lean load generator: raw JSON-RPC over keep-alive HTTP, one MCP session per simulated client. It spends
 * a fraction of the SDK client's CPU per call, so on a 2-core machine the gateway under test, not the load
 * generator, is what the numbers measure. Answers may come as `application/json` or as an SSE stream; both
 * are read whole and the JSON-RPC response with the request's id is picked out.
 */

const PROTOCOL_VERSION = '2025-06-18';
/** Answers above this are refused: the bench only ever calls `echo`. */
const MAX_BODY_BYTES = 1 << 20;

export interface LeanTarget {
  /** The MCP endpoint, e.g. `http://127.0.0.1:4100/mcp`. */
  url: string;
  /** Authentication headers of this arm (`authorization`, `x-api-key`), if any. */
  headers: Record<string, string>;
  /** The tool that echoes (`echo`, or `<slug>__echo` through Gatehouse). */
  tool: string;
}

interface Answer {
  status: number;
  sessionId: string | undefined;
  body: string;
  contentType: string;
}

/** One keep-alive agent per arm, so arms never share (or steal) each other's sockets. */
export const leanAgent = (sockets: number) =>
  new http.Agent({ keepAlive: true, maxSockets: Math.max(1, sockets), maxFreeSockets: Math.max(1, sockets) });

function send(
  agent: http.Agent,
  url: URL,
  method: 'POST' | 'DELETE',
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        agent,
        method,
        headers: {
          ...headers,
          ...(body !== undefined && {
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
          }),
          accept: 'application/json, text/event-stream',
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) response.destroy(new Error('answer too large'));
          else chunks.push(chunk);
        });
        response.on('error', reject);
        response.on('end', () => {
          const sessionId = response.headers['mcp-session-id'];
          resolve({
            status: response.statusCode ?? 0,
            sessionId: Array.isArray(sessionId) ? sessionId[0] : sessionId,
            body: Buffer.concat(chunks).toString('utf8'),
            contentType: String(response.headers['content-type'] ?? ''),
          });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

interface JsonRpcResponse {
  id?: unknown;
  result?: { isError?: boolean } & Record<string, unknown>;
  error?: { code: number; message: string };
}

/** The JSON-RPC response with `id` from a JSON body or an SSE stream of `data:` events. */
export function responseFor(answer: Answer, id: number): JsonRpcResponse | undefined {
  const messages: unknown[] = [];
  if (answer.contentType.includes('text/event-stream')) {
    for (const line of answer.body.split('\n')) {
      if (line.startsWith('data:')) messages.push(JSON.parse(line.slice(5)));
    }
  } else if (answer.body) {
    const parsed: unknown = JSON.parse(answer.body);
    messages.push(...(Array.isArray(parsed) ? parsed : [parsed]));
  }
  return messages.find((message) => (message as JsonRpcResponse).id === id) as JsonRpcResponse | undefined;
}

export class LeanSession {
  private nextId = 1;
  private readonly endpoint: URL;
  private headers: Record<string, string>;

  private constructor(
    private readonly agent: http.Agent,
    private readonly target: LeanTarget,
  ) {
    this.endpoint = new URL(target.url);
    this.headers = { ...target.headers };
  }

  /** initialize, then notifications/initialized: the session is ready for calls. */
  static async open(agent: http.Agent, target: LeanTarget): Promise<LeanSession> {
    const session = new LeanSession(agent, target);
    const id = session.nextId++;
    const answer = await send(
      agent,
      session.endpoint,
      'POST',
      session.headers,
      JSON.stringify({
        jsonrpc: '2.0',
        id,
        method: 'initialize',
        params: {
          protocolVersion: PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: 'gatehouse-bench-lean', version: '0.1.0' },
        },
      }),
    );
    const response = answer.status === 200 ? responseFor(answer, id) : undefined;
    if (!response?.result) {
      throw new Error(`initialize failed: ${answer.status} ${answer.body.slice(0, 300)}`);
    }
    const version = String(response.result.protocolVersion ?? PROTOCOL_VERSION);
    session.headers = {
      ...session.headers,
      'mcp-protocol-version': version,
      ...(answer.sessionId && { 'mcp-session-id': answer.sessionId }),
    };
    const initialized = await send(
      agent,
      session.endpoint,
      'POST',
      session.headers,
      JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    );
    if (initialized.status !== 202 && initialized.status !== 200) {
      throw new Error(`notifications/initialized failed: ${initialized.status}`);
    }
    return session;
  }

  /** One `tools/call` of the target's echo tool; true when it succeeded. */
  async call(message: string): Promise<boolean> {
    const id = this.nextId++;
    const answer = await send(
      this.agent,
      this.endpoint,
      'POST',
      this.headers,
      JSON.stringify({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name: this.target.tool, arguments: { message } },
      }),
    );
    if (answer.status !== 200) return false;
    const response = responseFor(answer, id);
    return Boolean(response?.result && !response.result.isError);
  }

  /** DELETE: ends the session on the server. */
  async close(): Promise<void> {
    if (!this.headers['mcp-session-id']) return;
    await send(this.agent, this.endpoint, 'DELETE', this.headers).catch(() => undefined);
  }
}

/** Opens `count` sessions, `parallel` at a time; `targetFor(i)` picks each one's target (e.g. its key). */
export async function openSessions(
  agent: http.Agent,
  count: number,
  targetFor: (index: number) => LeanTarget,
  parallel = 32,
): Promise<LeanSession[]> {
  const sessions: LeanSession[] = [];
  for (let opened = 0; opened < count; opened += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - opened) }, (_, i) =>
      LeanSession.open(agent, targetFor(opened + i)),
    );
    sessions.push(...(await Promise.all(batch)));
  }
  return sessions;
}

export const closeSessions = (sessions: LeanSession[]) =>
  Promise.all(sessions.map((session) => session.close())).then(() => undefined);

/** Closed loop: every session calls back to back until `seconds` pass; latencies of successes in ms. */
export async function driveLean(sessions: LeanSession[], seconds: number): Promise<Run> {
  const latencies: number[] = [];
  const okPerClient = sessions.map(() => 0);
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    sessions.map(async (session, index) => {
      const message = `bench ${index}`;
      while (performance.now() < deadline) {
        const started = performance.now();
        const ok = await session.call(message).catch(() => false);
        if (ok) {
          latencies.push(performance.now() - started);
          okPerClient[index] = (okPerClient[index] ?? 0) + 1;
        } else errors++;
      }
    }),
  );
  return { latencies, errors, okPerClient };
}
