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
import { canonicalJson, hmacSha256Hex } from '../crypto/index.js';
import type { KillSwitchBoard } from '../kill-switches/kill-switch-board.js';
import type { DownstreamOAuth } from '../oauth/oauth.service.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import type { Actor } from '../platform/context.js';
import { DomainError } from '../platform/errors.js';
import type { CallOptions, McpInstance } from '../runtime/instance.js';
import type { RuntimeManager } from '../runtime/runtime-manager.js';
import type { ClientAccess } from './access.js';
import { authorize, type Denial, permittedMcps, permittedTools, type ToolPermit } from './authorize.js';
import { type Snapshot, SnapshotSource } from './snapshot.js';
import { AGGREGATE_VIEW, slugOfName, type View } from './view.js';

export {
  AGGREGATE_VIEW,
  exposedToolName,
  gatewayUri,
  parseGatewayUri,
  passthroughView,
  type View,
} from './view.js';

/** A tool this client may call, as {@link authorize} permitted it. */
export type ExposedTool = ToolPermit;

export interface CallContext {
  readonly requestId: string;
  readonly ip: string;
  readonly sessionId: string;
}

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
  ) {
    this.snapshots = new SnapshotSource(deps);
  }

  private readonly snapshots: SnapshotSource;

  /** The current authorization snapshot (cached; rebuilt only after a catalog or kill-switch change). */
  snapshot(): Promise<Snapshot> {
    return this.snapshots.current();
  }

  /** Whether a known client may connect now: null, or the reason the audit trail records. */
  async admission(access: ClientAccess): Promise<string | null> {
    const decision = authorize(access, await this.snapshot(), { kind: 'connect' });
    return decision.ok ? null : decision.detail;
  }

  /** The tools this client may call right now, in a stable order. */
  async visibleTools(access: ClientAccess, view: View = AGGREGATE_VIEW): Promise<ExposedTool[]> {
    return permittedTools(access, await this.snapshot(), view);
  }

  /** The MCP-facing definition: the approved copy, renamed. */
  static describe(exposed: ExposedTool): Tool {
    return { ...(exposed.definition as Omit<Tool, 'name'>), name: exposed.name } as Tool;
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

  /**
   * One tool call, in four steps: authorize → route → forward → audit. A denial is audited and answered
   * without contacting any downstream; a call that cannot be audited fails closed.
   */
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
    // 1. Authorize.
    const permit = authorize(access, await this.snapshot(), { kind: 'tool', view, name });
    if (!permit.ok) return this.refuseCall(access, call, name, permit, argsFacts);
    const started = performance.now();
    let result: CallToolResult;
    let resultBytes: number;
    let status: 'ok' | 'tool_error' | 'failed';
    let failure: string | undefined;
    try {
      // 2. Route (re-authorizing when the instance had to start), 3. forward.
      const routed = await this.route(access, permit, view);
      if (!routed.ok) return await this.refuseCall(access, call, name, routed, argsFacts);
      ({ result, bytes: resultBytes } = await routed.instance.callToolSized(permit.tool, args, {
        ...options,
        caller: access.userId,
      }));
      status = result.isError ? 'tool_error' : 'ok';
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      // The code, not the text: a downstream's error message may echo the (unrecorded) arguments.
      failure = error.code;
      status = 'failed';
      result = { content: [{ type: 'text', text: `Gatehouse: ${error.message}` }], isError: true };
      resultBytes = Buffer.byteLength(JSON.stringify(result));
    }
    // 4. Audit, durably, before the answer leaves.
    const durationMs = Math.round((performance.now() - started) * 100) / 100;
    await this.audit(access, call, {
      action: 'tool.call',
      outcome: status === 'failed' ? 'failure' : 'success',
      mcp: permit.mcp,
      reason: failure,
      details: {
        tool: permit.tool,
        status,
        durationMs,
        resultBytes,
        definitionHash: permit.definitionHash,
        ...argsFacts,
      },
    });
    return result;
  }

  /**
   * The instance that serves this permit. An instance that was not running is started first, and its start
   * re-lists and reconciles pins: the call is then judged again, by what the new process reported.
   */
  private async route(
    access: ClientAccess,
    permit: ToolPermit,
    view: View,
  ): Promise<{ ok: true; instance: McpInstance } | Denial> {
    const userId = this.userFor(access, permit.mcp);
    await this.freshCredentials(permit.mcp, userId);
    const instance = this.deps.runtime.instanceFor(permit.mcp, userId);
    if (instance.isReady) return { ok: true, instance };
    await instance.ensureStarted();
    const again = authorize(access, await this.snapshot(), { kind: 'tool', view, name: permit.name });
    return again.ok ? { ok: true, instance } : again;
  }

  /** A refused call: audited with the precise reason, answered with only what the client may know. */
  private async refuseCall(
    access: ClientAccess,
    call: CallContext,
    name: string,
    denial: Denial,
    argsFacts: Record<string, unknown>,
  ): Promise<never> {
    await this.audit(access, call, {
      action: 'tool.denied',
      outcome: 'denied',
      mcp: denial.mcp ?? undefined,
      reason: denial.detail,
      // The downstream tool's name when it resolved (so usage counts it with its calls), else as requested.
      details: { tool: denial.tool ?? name, ...(denial.tool && { requested: name }), ...argsFacts },
    });
    throw new McpError(denial.entitled ? ErrorCode.InvalidRequest : ErrorCode.InvalidParams, denial.message);
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
    return permittedMcps(access, await this.snapshot(), view);
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

  /** The MCP this client may reach under a slug of the view, or null (one {@link authorize} decision). */
  private async reachable(access: ClientAccess, slug: string, view: View): Promise<LiveMcp | null> {
    const decision = authorize(access, await this.snapshot(), { kind: 'mcp', view, slug });
    return decision.ok ? decision.mcp : null;
  }

  /** A visible prompt by its client-facing name: its MCP authorized once, then its approved pin. */
  private async promptOf(access: ClientAccess, name: string, view: View) {
    const live = await this.reachable(access, slugOfName(view, name), view);
    if (!live) return undefined;
    for (const [key, pin] of live.pins) {
      if (!key.startsWith('prompt:') || pin.state !== 'approved' || !pin.approvedDefinition) continue;
      const prompt = key.slice('prompt:'.length);
      if (view.name(live.slug, prompt) === name) return { mcp: live, prompt };
    }
    return undefined;
  }

  /** The MCP behind a client-facing resource URI, when this client may reach it. */
  private async resourceOwner(access: ClientAccess, uri: string, view: View) {
    const parsed = view.parseUri(uri);
    const live = parsed && (await this.reachable(access, parsed.slug, view));
    return parsed && live ? { live, uri: parsed.uri } : null;
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
    const found = await this.promptOf(access, name, view);
    if (!found) {
      await this.audit(access, call, {
        action: 'prompt.denied',
        outcome: 'denied',
        reason: 'not visible',
        details: { prompt: name },
      });
      throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
    }
    const result = await this.audited(
      access,
      call,
      { action: 'prompt.get', mcp: found.mcp, details: { prompt: found.prompt } },
      async () =>
        (await this.instanceOf(access, found.mcp)).request(
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
    const owner = await this.resourceOwner(access, uri, view);
    if (!owner) {
      await this.audit(access, call, {
        action: 'resource.denied',
        outcome: 'denied',
        reason: 'not visible',
        details: { uri },
      });
      throw new McpError(-32002, `Resource not found: ${uri}`);
    }
    const { live } = owner;
    const result = await this.audited(
      access,
      call,
      { action: 'resource.read', mcp: live, details: { uri: owner.uri } },
      async () =>
        (await this.instanceOf(access, live)).request(
          (client, requestOptions) => client.readResource({ uri: owner.uri }, requestOptions),
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

  /**
   * Runtime failures become JSON-RPC errors for prompts, resources and completions (tools report them as tool
   * errors): what the caller can act on (not connected, not allowed, bad value) is an invalid request or
   * params; a downstream that failed stays an internal error of Gatehouse's, with its one-line reason.
   */
  async forward<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof DomainError)
        throw new McpError(jsonRpcCodeOf(error), `Gatehouse: ${error.message}`);
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
      const found = await this.promptOf(access, params.ref.name, view);
      live = found?.mcp;
      ref = found && { type: 'ref/prompt', name: found.prompt };
    } else {
      const owner = await this.resourceOwner(access, params.ref.uri, view);
      live = owner?.live;
      ref = owner ? { type: 'ref/resource', uri: owner.uri } : undefined;
    }
    if (!live || !ref) throw new McpError(ErrorCode.InvalidParams, 'Unknown prompt or resource template');
    const target = live;
    const downstreamRef = ref;
    // Only the request's own fields: the client's `_meta` (a progress token) must not reach a shared instance.
    const forwarded = {
      ref: downstreamRef,
      argument: params.argument,
      ...(params.context !== undefined && { context: params.context }),
    };
    return this.forward(async () =>
      (await this.instanceOf(access, target)).request(
        (client, requestOptions) => client.complete(forwarded, requestOptions),
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
    const owner = await this.resourceOwner(access, uri, view);
    if (!owner) return null;
    return { instance: await this.forward(() => this.instanceOf(access, owner.live)), uri: owner.uri };
  }
}

/** The JSON-RPC code of a runtime failure: the caller's own problem, or Gatehouse's (see `forward`). */
function jsonRpcCodeOf(error: DomainError): number {
  if (error.code === 'VALIDATION_FAILED') return ErrorCode.InvalidParams;
  if (['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', 'PRECONDITION_FAILED'].includes(error.code))
    return ErrorCode.InvalidRequest;
  return ErrorCode.InternalError;
}
