import type { McpConnection } from '@gatehouse/schema';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  type CreateMessageRequest,
  CreateMessageRequestSchema,
  type ElicitRequest,
  ElicitRequestSchema,
  InitializeResultSchema,
  type LoggingMessageNotification,
  LoggingMessageNotificationSchema,
  McpError,
  ErrorCode as McpErrorCode,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { HttpLink } from './http-link.js';
import { JsonRpcPeer, type PeerHandlers } from './jsonrpc-peer.js';
import type { Link } from './link.js';
import { DownstreamClient } from './mcp-client.js';
import { SdkTransportLink } from './sdk-link.js';
import { StdioLink } from './stdio-link.js';
import type { ResolvedLaunch } from './templating.js';

/** Protocol revisions Gatehouse speaks to downstreams, newest first; older servers are refused at connect. */
export const DOWNSTREAM_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const;

const CLIENT_INFO = { name: 'gatehouse', version: '0.1.0' };
/** Declared so servers may ask; each request is answered by the originating client or refused. */
const CLIENT_CAPABILITIES = { elicitation: { form: {} }, sampling: {} };
/** A misbehaving server could page forever; no real catalog is this large. */
const MAX_LIST_PAGES = 100;

export interface DownstreamOptions {
  connection: McpConnection;
  launch: ResolvedLaunch;
  connectTimeoutMs: number;
  maxMessageBytes: number;
  stopGraceMs: number;
  onStderr(chunk: string): void;
  /** Called once when the connection ends for any reason (crash, downstream hang-up, our own close). */
  onClose(): void;
  onListChanged?(kind: 'tools' | 'prompts'): void;
  /** Elicitation and sampling requests from the server, answered by the client whose call caused them. */
  onServerRequest?(request: ServerToClientRequest): Promise<Record<string, unknown>>;
  /** Log messages the server sends (`notifications/message`). */
  onLog?(params: LoggingMessageNotification['params']): void;
  /** `notifications/resources/updated` for a subscribed URI. */
  onResourceUpdated?(uri: string): void;
}

export type ServerToClientRequest = ElicitRequest | CreateMessageRequest;

export interface Downstream {
  readonly client: DownstreamClient;
  readonly pid: number | null;
  readonly protocolVersion: string;
  readonly serverInfo: { name: string; version: string };
  readonly capabilities: Record<string, unknown>;
  readonly instructions: string | undefined;
  /** How a stdio child ended, or why the link ended the connection; null while running. */
  exitDescription(): string | null;
  close(): Promise<void>;
}

export class ProtocolVersionRefused extends Error {}

function createLink(options: DownstreamOptions): Link {
  const { connection, launch } = options;
  if (connection.transport === 'stdio') {
    return new StdioLink({
      command: connection.command,
      args: connection.args,
      env: launch.env,
      cwd: connection.cwd ?? undefined,
      maxMessageBytes: options.maxMessageBytes,
      stopGraceMs: options.stopGraceMs,
      onStderr: options.onStderr,
    });
  }
  if (connection.transport === 'sse') {
    const requestInit = { headers: launch.headers };
    return new SdkTransportLink(new SSEClientTransport(new URL(connection.url), { requestInit }));
  }
  return new HttpLink({
    url: connection.url,
    headers: launch.headers,
    maxMessageBytes: options.maxMessageBytes,
  });
}

/** What the server sends on its own: notifications to listeners, requests relayed to the calling client. */
function serverTraffic(options: DownstreamOptions): PeerHandlers {
  return {
    onNotification(method, params) {
      if (method === 'notifications/message') {
        const parsed = LoggingMessageNotificationSchema.safeParse({ method, params });
        if (parsed.success) options.onLog?.(parsed.data.params);
      } else if (method === 'notifications/resources/updated') {
        if (typeof params?.uri === 'string') options.onResourceUpdated?.(params.uri);
      } else if (method === 'notifications/tools/list_changed') {
        options.onListChanged?.('tools');
      } else if (method === 'notifications/prompts/list_changed') {
        options.onListChanged?.('prompts');
      }
    },
    async onRequest(method, params) {
      const schema =
        method === 'elicitation/create'
          ? ElicitRequestSchema
          : method === 'sampling/createMessage'
            ? CreateMessageRequestSchema
            : undefined;
      if (!schema) throw new McpError(McpErrorCode.MethodNotFound, `Method not found: ${method}`);
      const parsed = schema.safeParse({ method, params: params ?? {} });
      if (!parsed.success) throw new McpError(McpErrorCode.InvalidParams, `Invalid ${method} request`);
      if (!options.onServerRequest) {
        throw new McpError(
          McpErrorCode.InvalidRequest,
          'Gatehouse does not relay this request outside a tool call',
        );
      }
      return options.onServerRequest(parsed.data as ServerToClientRequest);
    },
  };
}

/** Connects and initializes one downstream MCP server; rejects if it does not speak a supported revision. */
export async function openDownstream(options: DownstreamOptions): Promise<Downstream> {
  const link = createLink(options);
  let handedOver = false;
  const peer = new JsonRpcPeer(link, serverTraffic(options), () => {
    if (handedOver) options.onClose();
  });
  try {
    await peer.start();
    const answer = await peer.request(
      'initialize',
      {
        protocolVersion: DOWNSTREAM_PROTOCOL_VERSIONS[0],
        capabilities: CLIENT_CAPABILITIES,
        clientInfo: CLIENT_INFO,
      },
      { timeout: options.connectTimeoutMs, maxTotalTimeout: options.connectTimeoutMs },
    );
    const parsed = InitializeResultSchema.safeParse(answer);
    const negotiated = parsed.success ? parsed.data.protocolVersion : undefined;
    if (!parsed.success || !(DOWNSTREAM_PROTOCOL_VERSIONS as readonly string[]).includes(negotiated ?? '')) {
      throw new ProtocolVersionRefused(
        `the server speaks MCP ${negotiated ?? 'of an unknown revision'}; Gatehouse needs ${DOWNSTREAM_PROTOCOL_VERSIONS.at(-1)} or newer`,
      );
    }
    link.setProtocolVersion(parsed.data.protocolVersion);
    peer.notify('notifications/initialized');
    if (peer.isClosed) throw new Error(link.exitDescription() ?? 'the connection closed while starting');
    handedOver = true;
    const { serverInfo, capabilities, instructions } = parsed.data;
    return {
      client: new DownstreamClient(peer),
      pid: link.pid,
      protocolVersion: parsed.data.protocolVersion,
      serverInfo: { name: serverInfo.name ?? 'unknown', version: serverInfo.version ?? 'unknown' },
      capabilities: capabilities as Record<string, unknown>,
      instructions,
      exitDescription: () => link.exitDescription(),
      close: () => peer.close(),
    };
  } catch (error) {
    await peer.close().catch(() => undefined);
    const ended = error instanceof McpError && error.code === McpErrorCode.ConnectionClosed;
    throw ended ? new Error(link.exitDescription() ?? 'the connection closed while starting') : error;
  }
}

/** Every page, all within one time budget: a slow-paging server cannot hold a start (or a caller) for long. */
async function collectPages<T>(
  budgetMs: number,
  fetchPage: (
    cursor: string | undefined,
    timeoutMs: number,
  ) => Promise<{ items: T[]; nextCursor?: string | undefined }>,
): Promise<T[]> {
  const deadline = Date.now() + budgetMs;
  const all: T[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`listing took longer than ${budgetMs / 1000}s`);
    const result = await fetchPage(cursor, remaining);
    all.push(...result.items);
    if (!result.nextCursor) return all;
    cursor = result.nextCursor;
  }
  throw new Error(`the server kept paginating past ${MAX_LIST_PAGES} pages`);
}

export interface ToolAndPromptListing {
  tools: Tool[];
  prompts: Prompt[];
}

/** Tools and prompts, every page; what pinning compares against the approved definitions. */
export async function listToolsAndPrompts(
  downstream: Downstream,
  timeoutMs: number,
): Promise<ToolAndPromptListing> {
  const { client } = downstream;
  const tools = downstream.capabilities.tools
    ? await collectPages(timeoutMs, async (cursor, timeout) => {
        const page = await client.listTools(cursor ? { cursor } : {}, { timeout });
        return { items: page.tools, nextCursor: page.nextCursor };
      })
    : [];
  const prompts = downstream.capabilities.prompts
    ? await collectPages(timeoutMs, async (cursor, timeout) => {
        const page = await client.listPrompts(cursor ? { cursor } : {}, { timeout });
        return { items: page.prompts, nextCursor: page.nextCursor };
      })
    : [];
  return { tools, prompts };
}

export interface FullListing extends ToolAndPromptListing {
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
}

export async function listEverything(downstream: Downstream, timeoutMs: number): Promise<FullListing> {
  const { client } = downstream;
  const { tools, prompts } = await listToolsAndPrompts(downstream, timeoutMs);
  const hasResources = Boolean(downstream.capabilities.resources);
  const resources = hasResources
    ? await collectPages(timeoutMs, async (cursor, timeout) => {
        const page = await client.listResources(cursor ? { cursor } : {}, { timeout });
        return { items: page.resources, nextCursor: page.nextCursor };
      })
    : [];
  const resourceTemplates = hasResources
    ? await collectPages(timeoutMs, async (cursor, timeout) => {
        const page = await client.listResourceTemplates(cursor ? { cursor } : {}, { timeout });
        return { items: page.resourceTemplates, nextCursor: page.nextCursor };
      })
    : [];
  return { tools, prompts, resources, resourceTemplates };
}
