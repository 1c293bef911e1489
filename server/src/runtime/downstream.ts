import type { McpConnection } from '@gatehouse/schema';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  type CreateMessageRequest,
  CreateMessageRequestSchema,
  type CreateMessageResult,
  type ElicitRequest,
  ElicitRequestSchema,
  type ElicitResult,
  type LoggingMessageNotification,
  LoggingMessageNotificationSchema,
  McpError,
  ErrorCode as McpErrorCode,
  type Prompt,
  PromptListChangedNotificationSchema,
  type Resource,
  type ResourceTemplate,
  ResourceUpdatedNotificationSchema,
  type Tool,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { ProcessTransport } from './process-transport.js';
import type { ResolvedLaunch } from './templating.js';

/** Protocol revisions Gatehouse speaks to downstreams, newest first; older servers are refused at connect. */
export const DOWNSTREAM_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const;

const CLIENT_INFO = { name: 'gatehouse', version: '0.1.0' };
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
  readonly client: Client;
  readonly pid: number | null;
  readonly protocolVersion: string;
  readonly serverInfo: { name: string; version: string };
  readonly capabilities: Record<string, unknown>;
  readonly instructions: string | undefined;
  /** How a stdio child ended, for error messages; null while running or for HTTP. */
  exitDescription(): string | null;
  close(): Promise<void>;
}

export class ProtocolVersionRefused extends Error {}

function createTransport(options: DownstreamOptions): {
  transport: Transport;
  exitDescription: () => string | null;
} {
  const { connection, launch } = options;
  if (connection.transport === 'stdio') {
    let exit: string | null = null;
    const transport = new ProcessTransport({
      command: connection.command,
      args: connection.args,
      env: launch.env,
      cwd: connection.cwd ?? undefined,
      maxMessageBytes: options.maxMessageBytes,
      stopGraceMs: options.stopGraceMs,
      onStderr: options.onStderr,
      onExit: (code, signal) => {
        exit = signal ? `process was killed by ${signal}` : `process exited with code ${code}`;
      },
    });
    return { transport, exitDescription: () => transport.protocolError ?? exit };
  }
  const url = new URL(connection.url);
  const requestInit = { headers: launch.headers };
  const transport =
    connection.transport === 'sse'
      ? new SSEClientTransport(url, { requestInit })
      : new StreamableHTTPClientTransport(url, { requestInit });
  return { transport, exitDescription: () => null };
}

/** Connects and initializes one downstream MCP server; rejects if it does not speak a supported revision. */
export async function openDownstream(options: DownstreamOptions): Promise<Downstream> {
  const { transport, exitDescription } = createTransport(options);
  let negotiated: string | undefined;
  const forward = transport.setProtocolVersion?.bind(transport);
  transport.setProtocolVersion = (version: string) => {
    negotiated = version;
    forward?.(version);
  };
  let closed = false;
  transport.onclose = () => {
    if (closed) return;
    closed = true;
    options.onClose();
  };
  // Declared so servers may ask; each request is answered by the originating client or refused.
  const client = new Client(CLIENT_INFO, { capabilities: { elicitation: { form: {} }, sampling: {} } });
  const relay = async (request: ServerToClientRequest) => {
    if (!options.onServerRequest) {
      throw new McpError(
        McpErrorCode.InvalidRequest,
        'Gatehouse does not relay this request outside a tool call',
      );
    }
    return options.onServerRequest(request);
  };
  client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) =>
    options.onLog?.(notification.params),
  );
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) =>
    options.onResourceUpdated?.(notification.params.uri),
  );
  client.setRequestHandler(ElicitRequestSchema, (request) => relay(request) as Promise<ElicitResult>);
  client.setRequestHandler(
    CreateMessageRequestSchema,
    (request) => relay(request) as Promise<CreateMessageResult>,
  );
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => options.onListChanged?.('tools'));
  client.setNotificationHandler(PromptListChangedNotificationSchema, () =>
    options.onListChanged?.('prompts'),
  );
  try {
    await client.connect(transport, { timeout: options.connectTimeoutMs });
  } catch (error) {
    await transport.close().catch(() => undefined);
    throw error;
  }
  if (!negotiated || !(DOWNSTREAM_PROTOCOL_VERSIONS as readonly string[]).includes(negotiated)) {
    await client.close().catch(() => undefined);
    throw new ProtocolVersionRefused(
      `the server speaks MCP ${negotiated ?? 'of an unknown revision'}; Gatehouse needs ${DOWNSTREAM_PROTOCOL_VERSIONS.at(-1)} or newer`,
    );
  }
  const serverInfo = client.getServerVersion();
  return {
    client,
    pid: transport instanceof ProcessTransport ? (transport.pid ?? null) : null,
    protocolVersion: negotiated,
    serverInfo: { name: serverInfo?.name ?? 'unknown', version: serverInfo?.version ?? 'unknown' },
    capabilities: (client.getServerCapabilities() ?? {}) as Record<string, unknown>,
    instructions: client.getInstructions(),
    exitDescription,
    close: () => client.close(),
  };
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
