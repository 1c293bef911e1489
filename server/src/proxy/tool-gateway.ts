import type { AuditAction, AuditOutcome } from '@gatehouse/schema';
import type {
  CallToolResult,
  CompleteRequest,
  CompleteResult,
  GetPromptResult,
  ReadResourceResult,
  Resource,
  ResourceTemplate,
  Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { toAuditRecord } from '../audit/emit.js';
import type { AuditBatcher } from '../audit/group-commit.js';
import type { LiveCatalog, LiveMcp } from '../catalog/live-catalog.js';
import { canonicalJson, hmacSha256Hex, sha256Hex } from '../crypto/index.js';
import type { KillSwitchBoard } from '../kill-switches/kill-switch-board.js';
import type { DownstreamOAuth } from '../oauth/oauth.service.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import type { Actor } from '../platform/context.js';
import { DomainError } from '../platform/errors.js';
import { type CallOptions, type McpInstance, responseBytes } from '../runtime/instance.js';
import { callApprovedTool, toolRefusal } from '../runtime/invoke.js';
import type { RuntimeManager } from '../runtime/runtime-manager.js';
import type { ClientAccess } from './access.js';

const URI_PREFIX = 'gatehouse://';

/** Resource URIs are namespaced so a read routes back to the MCP that listed it, and only there. */
export const gatewayUri = (slug: string, uri: string) => `${URI_PREFIX}${slug}/${uri}`;

export function parseGatewayUri(uri: string): { slug: string; uri: string } | null {
  if (!uri.startsWith(URI_PREFIX)) return null;
  const rest = uri.slice(URI_PREFIX.length);
  const slash = rest.indexOf('/');
  return slash > 0 ? { slug: rest.slice(0, slash), uri: rest.slice(slash + 1) } : null;
}

/** Client-facing tool names: `<slug>__<tool>`, at most 64 characters. */
const SEPARATOR = '__';
const MAX_NAME = 64;

export function exposedToolName(slug: string, tool: string): string {
  const full = `${slug}${SEPARATOR}${tool}`;
  if (full.length <= MAX_NAME) return full;
  // Stable and unique: a truncated name plus 8 hex characters of the original's hash.
  const room = MAX_NAME - slug.length - SEPARATOR.length - 9;
  return `${slug}${SEPARATOR}${tool.slice(0, room)}-${sha256Hex(tool).slice(0, 8)}`;
}

/**
 * How a session sees its MCPs. The aggregate view (`/mcp`) prefixes names with the slug and namespaces
 * resource URIs; a passthrough view (`/mcp/<slug>`) shows one MCP exactly as the downstream names things.
 */
export interface View {
  readonly only: string | null;
  includes(slug: string): boolean;
  name(slug: string, name: string): string;
  uri(slug: string, uri: string): string;
  parseUri(uri: string): { slug: string; uri: string } | null;
}

export const AGGREGATE_VIEW: View = {
  only: null,
  includes: () => true,
  name: exposedToolName,
  uri: gatewayUri,
  parseUri: parseGatewayUri,
};

export const passthroughView = (slug: string): View => ({
  only: slug,
  includes: (candidate) => candidate === slug,
  name: (_slug, name) => name,
  uri: (_slug, uri) => uri,
  parseUri: (uri) => ({ slug, uri }),
});

export interface ExposedTool {
  readonly name: string;
  readonly mcp: LiveMcp;
  readonly tool: string;
  readonly definitionHash: string;
  readonly definition: Record<string, unknown>;
}

export interface CallContext {
  readonly requestId: string;
  readonly ip: string;
  readonly sessionId: string;
}

/** Why a tool the client asked for is not visible to it; the audit trail records it, the client learns less. */
type Denial = { reason: string; entitled: boolean; mcp?: LiveMcp; tool?: string };

/**
 * The tool-call hot path, transport-agnostic: what a client may see, and authorize → route → call → audit for
 * one call. Default deny; everything is answered from in-memory caches; every call (and every denial) is
 * audited durably before the answer leaves, and a call whose audit cannot be written fails closed.
 */
export class ToolGateway {
  constructor(
    private readonly deps: {
      liveCatalog: LiveCatalog;
      runtime: RuntimeManager;
      audit: AuditBatcher;
      argsKey: Buffer;
      config: Config;
      changes: ChangeBus;
      kills: KillSwitchBoard;
      oauth: DownstreamOAuth;
      clock: Clock;
    },
  ) {}

  /** The tools this client may call right now, in a stable order. */
  async visibleTools(access: ClientAccess, view: View = AGGREGATE_VIEW): Promise<ExposedTool[]> {
    if (!access.clientActive || !access.userActive) return [];
    const visible: ExposedTool[] = [];
    for (const [mcpId, selection] of access.subscriptions) {
      const live = await this.deps.liveCatalog.get(mcpId);
      if (!live || !view.includes(live.slug) || !this.mayUse(access, live)) continue;
      if (await this.deps.kills.isKilled('mcp', mcpId)) continue;
      for (const [key, pin] of live.pins) {
        if (pin.state !== 'approved' || !key.startsWith('tool:') || !pin.approvedDefinition) continue;
        const tool = key.slice('tool:'.length);
        if (selection && !selection.has(tool)) continue;
        visible.push({
          name: view.name(live.slug, tool),
          mcp: live,
          tool,
          definitionHash: pin.approvedHash ?? '',
          definition: pin.approvedDefinition,
        });
      }
    }
    return visible.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private mayUse(access: ClientAccess, live: LiveMcp): boolean {
    return live.status === 'published' && [...live.groupIds].some((group) => access.groupIds.has(group));
  }

  /** The MCP-facing definition: the approved copy, renamed. */
  static describe(exposed: ExposedTool): Tool {
    return { ...(exposed.definition as Omit<Tool, 'name'>), name: exposed.name } as Tool;
  }

  private async deny(access: ClientAccess, name: string, view: View): Promise<Denial> {
    const separator = name.indexOf(SEPARATOR);
    const slug = view.only ?? (separator > 0 ? name.slice(0, separator) : '');
    for (const [mcpId, selection] of access.subscriptions) {
      const live = await this.deps.liveCatalog.get(mcpId);
      if (!live || live.slug !== slug) continue;
      if (await this.deps.kills.isKilled('mcp', mcpId)) {
        return { reason: 'mcp killed by an admin', entitled: true, mcp: live };
      }
      if (!this.mayUse(access, live)) {
        return {
          reason: live.status !== 'published' ? 'mcp archived' : 'mcp not granted to the user',
          entitled: false,
          mcp: live,
        };
      }
      for (const key of live.pins.keys()) {
        const tool = key.slice('tool:'.length);
        if (!key.startsWith('tool:') || view.name(slug, tool) !== name) continue;
        if (selection && !selection.has(tool))
          return { reason: 'tool not selected', entitled: false, mcp: live, tool };
        return { reason: toolRefusal(live, tool) ?? 'tool not callable', entitled: true, mcp: live, tool };
      }
      return { reason: 'no such tool', entitled: false, mcp: live };
    }
    return { reason: 'not subscribed', entitled: false };
  }

  private actorOf(access: ClientAccess): Actor {
    return {
      type: 'client',
      clientId: access.clientId,
      clientName: access.clientName,
      userId: access.userId,
      username: access.username,
    };
  }

  /** Durable before the caller sees anything; failure to write refuses the call. */
  private async audit(
    access: ClientAccess,
    call: CallContext,
    entry: {
      action: AuditAction;
      outcome: AuditOutcome;
      mcp?: LiveMcp;
      reason?: string;
      details: Record<string, unknown>;
    },
  ): Promise<void> {
    const record = toAuditRecord(
      { actor: this.actorOf(access), requestId: call.requestId, ip: call.ip, clock: this.deps.clock },
      {
        action: entry.action,
        outcome: entry.outcome,
        target: entry.mcp ? { type: 'mcp', id: entry.mcp.mcpId, label: entry.mcp.slug } : undefined,
        reason: entry.reason,
        details: { session: call.sessionId, ...entry.details },
      },
    );
    try {
      await this.deps.audit.append(record);
    } catch {
      throw new McpError(ErrorCode.InternalError, 'The call was refused because it could not be audited');
    }
  }

  async callTool(
    access: ClientAccess,
    name: string,
    args: Record<string, unknown>,
    call: CallContext,
    options: CallOptions = {},
    view: View = AGGREGATE_VIEW,
  ): Promise<CallToolResult> {
    const argsJson = canonicalJson(args);
    const argsFacts = {
      argsBytes: Buffer.byteLength(argsJson),
      argsDigest: hmacSha256Hex(this.deps.argsKey, argsJson),
    };
    const exposed = (await this.visibleTools(access, view)).find((tool) => tool.name === name);
    if (!exposed) {
      const denial = await this.deny(access, name, view);
      await this.audit(access, call, {
        action: 'tool.denied',
        outcome: 'denied',
        mcp: denial.mcp,
        reason: denial.reason,
        // The downstream tool's name when it resolved (so usage counts it with its calls), else as requested.
        details: { tool: denial.tool ?? name, ...(denial.tool && { requested: name }), ...argsFacts },
      });
      if (denial.entitled) {
        throw new McpError(ErrorCode.InvalidRequest, `Tool call refused: ${denial.reason}`);
      }
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
    const { mcp, tool } = exposed;
    const userId = mcp.config.isolation === 'per-user' ? access.userId : null;
    const started = performance.now();
    let result: CallToolResult;
    let status: 'ok' | 'tool_error' | 'failed';
    let failure: string | undefined;
    try {
      await this.freshCredentials(mcp, userId);
      result = await callApprovedTool(this.deps, mcp, userId, tool, args, {
        ...options,
        caller: access.userId,
      });
      status = result.isError ? 'tool_error' : 'ok';
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      // The code, not the text: a downstream's error message may echo the (unrecorded) arguments.
      failure = error.code;
      status = 'failed';
      result = { content: [{ type: 'text', text: `Gatehouse: ${error.message}` }], isError: true };
    }
    const durationMs = Math.round((performance.now() - started) * 100) / 100;
    await this.audit(access, call, {
      action: 'tool.call',
      outcome: status === 'failed' ? 'failure' : 'success',
      mcp,
      reason: failure,
      details: {
        tool,
        status,
        durationMs,
        resultBytes: responseBytes(result),
        definitionHash: exposed.definitionHash,
        ...argsFacts,
      },
    });
    return result;
  }

  /** A known client refused at authentication (suspended, revoked, killed). */
  recordRefusal(access: ClientAccess, reason: string, call: CallContext): Promise<void> {
    return this.audit(access, call, { action: 'client.auth_denied', outcome: 'denied', reason, details: {} });
  }

  /** Session start and end, in the same durable trail as the calls. */
  recordSession(
    access: ClientAccess,
    action: 'mcp_session.start' | 'mcp_session.end',
    call: CallContext,
    reason?: string,
  ): Promise<void> {
    return this.audit(access, call, {
      action,
      outcome: 'success',
      reason,
      details: {},
    });
  }

  /** The MCPs whose prompts and resources this client may reach: subscribed, granted, published, not killed. */
  async visibleMcps(access: ClientAccess, view: View = AGGREGATE_VIEW): Promise<LiveMcp[]> {
    if (!access.clientActive || !access.userActive) return [];
    const visible: LiveMcp[] = [];
    for (const mcpId of access.subscriptions.keys()) {
      const live = await this.deps.liveCatalog.get(mcpId);
      if (!live || !view.includes(live.slug) || !this.mayUse(access, live)) continue;
      if (!(await this.deps.kills.isKilled('mcp', mcpId))) visible.push(live);
    }
    return visible.sort((a, b) => (a.slug < b.slug ? -1 : 1));
  }

  async visiblePrompts(
    access: ClientAccess,
    view: View = AGGREGATE_VIEW,
  ): Promise<{ name: string; mcp: LiveMcp; prompt: string; definition: Record<string, unknown> }[]> {
    const prompts = [];
    for (const live of await this.visibleMcps(access, view)) {
      for (const [key, pin] of live.pins) {
        if (!key.startsWith('prompt:') || pin.state !== 'approved' || !pin.approvedDefinition) continue;
        const prompt = key.slice('prompt:'.length);
        prompts.push({
          name: view.name(live.slug, prompt),
          mcp: live,
          prompt,
          definition: pin.approvedDefinition,
        });
      }
    }
    return prompts;
  }

  private userFor(access: ClientAccess, live: LiveMcp): string | null {
    return live.config.isolation === 'per-user' ? access.userId : null;
  }

  /** The instance serving this client's user, with their OAuth token refreshed first when it is near expiry. */
  private async instanceOf(access: ClientAccess, live: LiveMcp): Promise<McpInstance> {
    const userId = this.userFor(access, live);
    await this.freshCredentials(live, userId);
    return this.deps.runtime.instanceFor(live, userId);
  }

  /** A user's OAuth token near expiry is refreshed before their instance is used. */
  private async freshCredentials(live: LiveMcp, userId: string | null): Promise<void> {
    if (live.config.oauth && userId) await this.deps.oauth.ensureFresh(live, userId);
  }

  async getPrompt(
    access: ClientAccess,
    name: string,
    args: Record<string, string> | undefined,
    call: CallContext,
    options: CallOptions = {},
    view: View = AGGREGATE_VIEW,
  ): Promise<GetPromptResult> {
    const found = (await this.visiblePrompts(access, view)).find((prompt) => prompt.name === name);
    if (!found) {
      await this.audit(access, call, {
        action: 'prompt.denied',
        outcome: 'denied',
        reason: 'not visible',
        details: { prompt: name },
      });
      throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
    }
    const instance = await this.instanceOf(access, found.mcp);
    const result = await this.audited(
      access,
      call,
      { action: 'prompt.get', mcp: found.mcp, details: { prompt: found.prompt } },
      () =>
        instance.request(
          (client, requestOptions) =>
            client.getPrompt({ name: found.prompt, arguments: args }, requestOptions),
          { ...options, caller: access.userId },
          `Prompt "${found.prompt}"`,
        ),
    );
    return result;
  }

  /** Every visible MCP's resources, with URIs rewritten to route back: `gatehouse://<slug>/<original URI>`. */
  async listResources(
    access: ClientAccess,
    options: CallOptions = {},
    view: View = AGGREGATE_VIEW,
  ): Promise<Resource[]> {
    const all: Resource[] = [];
    for (const live of await this.visibleMcps(access, view)) {
      // One MCP that cannot answer (not connected, down) leaves the others' resources listed.
      const listed = await this.instanceOf(access, live)
        .then((instance) =>
          instance.request(
            (client, requestOptions) => client.listResources({}, requestOptions),
            { ...options, caller: access.userId },
            'The resource list',
          ),
        )
        .catch(() => ({ resources: [] as Resource[] }));
      for (const resource of listed.resources)
        all.push({ ...resource, uri: view.uri(live.slug, resource.uri) });
    }
    return all;
  }

  async listResourceTemplates(
    access: ClientAccess,
    options: CallOptions = {},
    view: View = AGGREGATE_VIEW,
  ): Promise<ResourceTemplate[]> {
    const all: ResourceTemplate[] = [];
    for (const live of await this.visibleMcps(access, view)) {
      const listed = await this.instanceOf(access, live)
        .then((instance) =>
          instance.request(
            (client, requestOptions) => client.listResourceTemplates({}, requestOptions),
            { ...options, caller: access.userId },
            'The template list',
          ),
        )
        .catch(() => ({ resourceTemplates: [] as ResourceTemplate[] }));
      for (const template of listed.resourceTemplates) {
        all.push({ ...template, uriTemplate: view.uri(live.slug, template.uriTemplate) });
      }
    }
    return all;
  }

  /** Reads a resource only through an MCP this client may reach; anything else is "not found". */
  async readResource(
    access: ClientAccess,
    uri: string,
    call: CallContext,
    options: CallOptions = {},
    view: View = AGGREGATE_VIEW,
  ): Promise<ReadResourceResult> {
    const parsed = view.parseUri(uri);
    const live = parsed && (await this.visibleMcps(access, view)).find((mcp) => mcp.slug === parsed.slug);
    if (!parsed || !live) {
      await this.audit(access, call, {
        action: 'resource.denied',
        outcome: 'denied',
        reason: 'not visible',
        details: { uri },
      });
      throw new McpError(-32002, `Resource not found: ${uri}`);
    }
    const instance = await this.instanceOf(access, live);
    const result = await this.audited(
      access,
      call,
      { action: 'resource.read', mcp: live, details: { uri: parsed.uri } },
      () =>
        instance.request(
          (client, requestOptions) => client.readResource({ uri: parsed.uri }, requestOptions),
          { ...options, caller: access.userId },
          'The resource',
        ),
    );
    return {
      ...result,
      contents: result.contents.map((content) => ({ ...content, uri: view.uri(live.slug, content.uri) })),
    };
  }

  /** Runs a forwarded request and audits its outcome, success or failure, before the answer leaves. */
  private async audited<T>(
    access: ClientAccess,
    call: CallContext,
    entry: { action: 'prompt.get' | 'resource.read'; mcp: LiveMcp; details: Record<string, unknown> },
    work: () => Promise<T>,
  ): Promise<T> {
    try {
      const result = await this.forward(work);
      await this.audit(access, call, { ...entry, outcome: 'success' });
      return result;
    } catch (error) {
      const reason = error instanceof McpError ? `error ${error.code}` : 'failed';
      await this.audit(access, call, { ...entry, outcome: 'failure', reason });
      throw error;
    }
  }

  /** Runtime failures become JSON-RPC errors for prompts and resources (tools report them as tool errors). */
  private async forward<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof DomainError)
        throw new McpError(ErrorCode.InternalError, `Gatehouse: ${error.message}`);
      throw error;
    }
  }

  /** Routes `completion/complete` to the MCP that owns the prompt or resource template, by its visible name. */
  async complete(
    access: ClientAccess,
    params: CompleteRequest['params'],
    options: CallOptions = {},
    view: View = AGGREGATE_VIEW,
  ): Promise<CompleteResult> {
    let live: LiveMcp | undefined;
    let ref: CompleteRequest['params']['ref'] | undefined;
    if (params.ref.type === 'ref/prompt') {
      const name = params.ref.name;
      const found = (await this.visiblePrompts(access, view)).find((prompt) => prompt.name === name);
      live = found?.mcp;
      ref = found && { type: 'ref/prompt', name: found.prompt };
    } else {
      const parsed = view.parseUri(params.ref.uri);
      live = parsed
        ? (await this.visibleMcps(access, view)).find((mcp) => mcp.slug === parsed.slug)
        : undefined;
      ref = parsed ? { type: 'ref/resource', uri: parsed.uri } : undefined;
    }
    if (!live || !ref) throw new McpError(ErrorCode.InvalidParams, 'Unknown prompt or resource template');
    const target = live;
    const downstreamRef = ref;
    const instance = await this.instanceOf(access, target);
    return this.forward(() =>
      instance.request(
        (client, requestOptions) => client.complete({ ...params, ref: downstreamRef }, requestOptions),
        { ...options, caller: access.userId },
        'The completion',
      ),
    );
  }

  /** The instance that serves a gateway URI for this client, or null when the client may not reach it. */
  async resourceTarget(
    access: ClientAccess,
    uri: string,
    view: View = AGGREGATE_VIEW,
  ): Promise<{ instance: McpInstance; uri: string } | null> {
    const parsed = view.parseUri(uri);
    const live = parsed && (await this.visibleMcps(access, view)).find((mcp) => mcp.slug === parsed.slug);
    if (!parsed || !live) return null;
    return { instance: await this.instanceOf(access, live), uri: parsed.uri };
  }
}
