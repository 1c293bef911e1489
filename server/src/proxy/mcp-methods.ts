import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  type JSONRPCMessage,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  PingRequestSchema,
  type Prompt,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { ZodType } from 'zod';
import type { ServerToClientRequest } from '../runtime/downstream.js';
import { MAX_SUBSCRIPTIONS_PER_SESSION, type McpSession } from './mcp-session.js';
import { callFacts, type RequestContext } from './request-context.js';
import { boundedString, SESSION_LIMITS, SessionBoundsError } from './session-bounds.js';
import { ToolGateway } from './tool-gateway.js';

const PAGE_SIZE = 200;

/** One request being served: its context, its session, its cancellation and its way back to the client. */
export interface MethodCall {
  readonly context: RequestContext;
  readonly session: McpSession;
  readonly signal: AbortSignal;
  /** Sends a message about this call on its own stream (SSE, opened on first use); false when it cannot. */
  send(message: JSONRPCMessage): boolean;
}

type Handler = (params: never, call: MethodCall) => Promise<Record<string, unknown>>;

/** A served method: the SDK's schema of its request (checked before the handler runs) and the handler. */
export interface Method {
  readonly schema: ZodType;
  readonly handle: Handler;
}

const encodeCursor = (offset: number) => Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
function decodeCursor(cursor: string | undefined): number {
  if (!cursor) return 0;
  try {
    const offset = (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown }).o;
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw new McpError(ErrorCode.InvalidParams, 'Invalid cursor');
}

function page<T>(items: readonly T[], cursor: string | undefined): { items: T[]; nextCursor?: string } {
  const offset = decodeCursor(cursor);
  const next = offset + PAGE_SIZE;
  return {
    items: items.slice(offset, next),
    ...(next < items.length && { nextCursor: encodeCursor(next) }),
  };
}

export const toolsFingerprint = (tools: readonly { name: string; definitionHash: string }[]) =>
  tools.map((tool) => `${tool.name}@${tool.definitionHash}`).join('\n');
export const promptsFingerprint = (prompts: readonly { name: string }[]) =>
  prompts.map((prompt) => prompt.name).join('\n');

const method = <P>(schema: ZodType, handle: (params: P, call: MethodCall) => Promise<object>): Method => ({
  schema,
  handle: handle as unknown as Handler,
});

/**
 * The dispatch table of `/mcp`: every method Gatehouse serves after `initialize`, each a few lines that hand
 * the request to the `ToolGateway` with the request's own access and view. Authorization, routing, the
 * downstream call and the audit record all happen there.
 */
export function methodTable(gateway: ToolGateway): ReadonlyMap<string, Method> {
  return new Map<string, Method>([
    ['ping', method(PingRequestSchema, async () => ({}))],
    [
      'tools/list',
      method<{ cursor?: string }>(ListToolsRequestSchema, async (params, { context, session }) => {
        const tools = await gateway.visibleTools(context.access, context.view);
        session.toolsFingerprint = toolsFingerprint(tools);
        const { items, nextCursor } = page(tools, params?.cursor);
        return { tools: items.map(ToolGateway.describe), ...(nextCursor && { nextCursor }) };
      }),
    ],
    [
      'tools/call',
      method<{
        name: string;
        arguments?: Record<string, unknown>;
        _meta?: { progressToken?: string | number };
      }>(CallToolRequestSchema, async (params, call) => {
        const { context, session, signal, send } = call;
        const progressToken = params._meta?.progressToken;
        return gateway.callTool(
          context.access,
          params.name,
          params.arguments ?? {},
          callFacts(context),
          {
            signal,
            onProgress:
              progressToken === undefined
                ? undefined
                : (progress) =>
                    send({
                      jsonrpc: '2.0',
                      method: 'notifications/progress',
                      params: { progressToken, ...progress },
                    }),
            onLog: (log) => {
              if (session.wantsLog(log.level))
                send({ jsonrpc: '2.0', method: 'notifications/message', params: log });
            },
            // Relayed on this call's own stream, so it reaches this session and no other.
            onServerRequest: (request) => relay(request, call),
          },
          context.view,
        );
      }),
    ],
    [
      'prompts/list',
      method<{ cursor?: string }>(ListPromptsRequestSchema, async (params, { context, session }) => {
        const prompts = await gateway.visiblePrompts(context.access, context.view);
        session.promptsFingerprint = promptsFingerprint(prompts);
        const { items, nextCursor } = page(prompts, params?.cursor);
        return {
          prompts: items.map((prompt) => ({ ...prompt.definition, name: prompt.name }) as Prompt),
          ...(nextCursor && { nextCursor }),
        };
      }),
    ],
    [
      'prompts/get',
      method<{ name: string; arguments?: Record<string, string> }>(
        GetPromptRequestSchema,
        async (params, { context, signal }) =>
          gateway.getPrompt(
            context.access,
            params.name,
            params.arguments,
            callFacts(context),
            { signal },
            context.view,
          ),
      ),
    ],
    [
      'resources/list',
      method<{ cursor?: string }>(ListResourcesRequestSchema, async (params, { context, signal }) => {
        const resources = await gateway.listResources(context.access, { signal }, context.view);
        const { items, nextCursor } = page(resources, params?.cursor);
        return { resources: items, ...(nextCursor && { nextCursor }) };
      }),
    ],
    [
      'resources/templates/list',
      method<{ cursor?: string }>(ListResourceTemplatesRequestSchema, async (params, { context, signal }) => {
        const templates = await gateway.listResourceTemplates(context.access, { signal }, context.view);
        const { items, nextCursor } = page(templates, params?.cursor);
        return { resourceTemplates: items, ...(nextCursor && { nextCursor }) };
      }),
    ],
    [
      'resources/read',
      method<{ uri: string }>(ReadResourceRequestSchema, async (params, { context, signal }) =>
        gateway.readResource(context.access, params.uri, callFacts(context), { signal }, context.view),
      ),
    ],
    [
      'resources/subscribe',
      method<{ uri: string }>(SubscribeRequestSchema, async (params, { context, session, signal }) => {
        const uri = params.uri;
        // Bounded as the session row stores it, before anything downstream is touched.
        try {
          boundedString('uri', uri, SESSION_LIMITS.subscriptionUriLength);
        } catch (error) {
          throw new McpError(ErrorCode.InvalidParams, `Invalid params: ${(error as Error).message}`);
        }
        const target = await gateway.resourceTarget(context.access, uri, context.view);
        if (!target) throw new McpError(-32002, `Resource not found: ${uri}`);
        if (session.subscriptions.has(uri)) return {};
        if (session.subscriptions.size >= MAX_SUBSCRIPTIONS_PER_SESSION) {
          throw new McpError(
            ErrorCode.InvalidRequest,
            `At most ${MAX_SUBSCRIPTIONS_PER_SESSION} subscriptions per session`,
          );
        }
        // Updates go to this session only, on its GET stream.
        const listener = () =>
          session.notify({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } });
        // Reserved before any await, so parallel subscribes of the session see it (and the cap holds).
        const entry = { ...target, listener };
        session.subscriptions.set(uri, entry);
        const release = async () => {
          if (session.subscriptions.get(uri) === entry) session.subscriptions.delete(uri);
          await target.instance.unsubscribeResource(target.uri, session.id, listener).catch(() => undefined);
        };
        try {
          await gateway.forward(() =>
            target.instance.subscribeResource(target.uri, session.id, listener, { signal }),
          );
        } catch (error) {
          await release();
          throw error;
        }
        // Unsubscribed or closed meanwhile: the downstream subscription goes too.
        if (session.subscriptions.get(uri) !== entry) {
          await release();
          return {};
        }
        try {
          await session.saveSubscriptions();
        } catch (error) {
          await release();
          if (error instanceof SessionBoundsError)
            throw new McpError(ErrorCode.InvalidParams, `Invalid params: ${error.message}`);
          throw error;
        }
        return {};
      }),
    ],
    [
      'resources/unsubscribe',
      method<{ uri: string }>(UnsubscribeRequestSchema, async (params, { session }) => {
        const subscription = session.subscriptions.get(params.uri);
        if (subscription) {
          session.subscriptions.delete(params.uri);
          await subscription.instance
            .unsubscribeResource(subscription.uri, session.id, subscription.listener)
            .catch(() => undefined);
          await session.saveSubscriptions();
        }
        return {};
      }),
    ],
    [
      'logging/setLevel',
      method<{ level: McpSession['logLevel'] }>(SetLevelRequestSchema, async (params, { session }) => {
        session.logLevel = params.level;
        await session.persist({ logLevel: params.level });
        return {};
      }),
    ],
    [
      'completion/complete',
      method<Parameters<ToolGateway['complete']>[1]>(
        CompleteRequestSchema,
        async (params, { context, signal }) =>
          gateway.complete(context.access, params, { signal }, context.view),
      ),
    ],
  ]);
}

/** A downstream's sampling or elicitation request, asked of the client that made the call, if it can answer. */
async function relay(request: ServerToClientRequest, call: MethodCall): Promise<Record<string, unknown>> {
  const capabilities = call.session.clientCapabilities;
  const elicitation = request.method === 'elicitation/create';
  if (elicitation ? !capabilities.elicitation : !capabilities.sampling) {
    throw new McpError(ErrorCode.InvalidRequest, `The client does not support ${request.method}`);
  }
  const result = await call.session.request(
    request as { method: string; params?: Record<string, unknown> },
    call.send,
    call.signal,
  );
  const parsed = (elicitation ? ElicitResultSchema : CreateMessageResultSchema).safeParse(result);
  if (!parsed.success)
    throw new McpError(ErrorCode.InvalidParams, 'The client answered with an invalid result');
  return parsed.data as Record<string, unknown>;
}
