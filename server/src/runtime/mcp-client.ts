import {
  type CallToolResult,
  type CompleteRequest,
  type CompleteResult,
  CompleteResultSchema,
  type GetPromptResult,
  GetPromptResultSchema,
  type ListPromptsResult,
  ListPromptsResultSchema,
  type ListResourcesResult,
  ListResourcesResultSchema,
  type ListResourceTemplatesResult,
  ListResourceTemplatesResultSchema,
  type ListToolsResult,
  ListToolsResultSchema,
  McpError,
  ErrorCode as McpErrorCode,
  type ReadResourceResult,
  ReadResourceResultSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { JsonRpcPeer, PeerRequestOptions } from './jsonrpc-peer.js';

type Params = Record<string, unknown>;

/**
 * The requests Gatehouse makes of a downstream MCP server, typed as the MCP SDK's client types them (so call
 * sites read the same), over the lean JSON-RPC peer. Listings, prompts, resources and completions are checked
 * against the SDK's schemas (off the hot path); a tool result is checked for its shape only, since it is relayed
 * as it came and measured against the response limit.
 */
export class DownstreamClient {
  constructor(private readonly peer: JsonRpcPeer) {}

  async callTool(
    params: { name: string; arguments?: Record<string, unknown> },
    _resultSchema?: unknown,
    options?: PeerRequestOptions,
  ): Promise<CallToolResult> {
    const result = await this.peer.request('tools/call', params, options);
    if (!Array.isArray(result.content) && result.structuredContent === undefined) {
      throw new McpError(McpErrorCode.InvalidRequest, 'the server answered a tool call without content');
    }
    return result as CallToolResult;
  }

  getPrompt(
    params: { name: string; arguments?: Record<string, string> },
    options?: PeerRequestOptions,
  ): Promise<GetPromptResult> {
    return this.typed('prompts/get', params, GetPromptResultSchema, options);
  }

  listTools(params: { cursor?: string }, options?: PeerRequestOptions): Promise<ListToolsResult> {
    return this.typed('tools/list', params, ListToolsResultSchema, options);
  }

  listPrompts(params: { cursor?: string }, options?: PeerRequestOptions): Promise<ListPromptsResult> {
    return this.typed('prompts/list', params, ListPromptsResultSchema, options);
  }

  listResources(params: { cursor?: string }, options?: PeerRequestOptions): Promise<ListResourcesResult> {
    return this.typed('resources/list', params, ListResourcesResultSchema, options);
  }

  listResourceTemplates(
    params: { cursor?: string },
    options?: PeerRequestOptions,
  ): Promise<ListResourceTemplatesResult> {
    return this.typed('resources/templates/list', params, ListResourceTemplatesResultSchema, options);
  }

  readResource(params: { uri: string }, options?: PeerRequestOptions): Promise<ReadResourceResult> {
    return this.typed('resources/read', params, ReadResourceResultSchema, options);
  }

  subscribeResource(params: { uri: string }, options?: PeerRequestOptions): Promise<Record<string, unknown>> {
    return this.peer.request('resources/subscribe', params, options);
  }

  unsubscribeResource(
    params: { uri: string },
    options?: PeerRequestOptions,
  ): Promise<Record<string, unknown>> {
    return this.peer.request('resources/unsubscribe', params, options);
  }

  complete(params: CompleteRequest['params'], options?: PeerRequestOptions): Promise<CompleteResult> {
    return this.typed('completion/complete', params as Params, CompleteResultSchema, options);
  }

  ping(options?: PeerRequestOptions): Promise<Record<string, unknown>> {
    return this.peer.request('ping', undefined, options);
  }

  private async typed<T>(
    method: string,
    params: Params,
    schema: z.ZodType<T>,
    options: PeerRequestOptions | undefined,
  ): Promise<T> {
    const result = await this.peer.request(method, params, options);
    const parsed = schema.safeParse(result);
    if (!parsed.success) {
      throw new McpError(McpErrorCode.InvalidRequest, `the server sent a malformed ${method} result`);
    }
    return parsed.data;
  }
}
