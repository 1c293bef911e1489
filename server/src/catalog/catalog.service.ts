import {
  type CreateMcpInput,
  type DiscoverMcpInput,
  type Discovery,
  McpConfig,
  type McpDetail,
  type McpStatus,
  type McpSummary,
  type McpVersion,
  type Pin,
  type PinDecisionInput,
  type SetMcpGroupsInput,
  type UpdateMcpInput,
  type ValidationProblem,
} from '@gatehouse/schema';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { emitAudit, emitStandaloneAudit } from '../audit/emit.js';
import { canonicalJson } from '../crypto/index.js';
import { GroupEntity } from '../identity/entities.js';
import { requireRole, type ServiceContext, withTransaction } from '../platform/context.js';
import {
  conflict,
  DomainError,
  fieldErrorsOf,
  notFound,
  preconditionFailed,
  validationFailed,
} from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { listEverything, openDownstream } from '../runtime/downstream.js';
import { assertLaunchEnvAllowed } from '../runtime/env-policy.js';
import type { RuntimeManager } from '../runtime/runtime-manager.js';
import { redactSecrets } from '../runtime/stderr-ring.js';
import { resolveLaunch } from '../runtime/templating.js';
import {
  McpGrantEntity,
  McpPinEntity,
  type McpPinRow,
  McpServerEntity,
  type McpServerRow,
  McpVersionEntity,
  type McpVersionRow,
} from './entities.js';
import type { LiveCatalog } from './live-catalog.js';
import { definitionHash, diffDefinitions, listingProblem, pinnedDefinition } from './pinning.js';
import { parseRegistryDocument, toRegistryDocument } from './registry-format.js';
import { secretPlacementProblems, validateConfig } from './validation.js';

/** The long-lived pieces catalog changes must reach: the hot-path cache and the running instances. */
export interface CatalogDeps {
  readonly liveCatalog: LiveCatalog;
  readonly runtime: RuntimeManager;
}

const mcpTarget = (mcp: McpServerRow) => ({ type: 'mcp', id: mcp.id, label: mcp.slug });

function toVersion(row: McpVersionRow): McpVersion {
  return {
    id: row.id,
    version: row.version,
    config: row.config,
    validationStatus: row.validationStatus,
    validationErrors: row.validationErrors,
    discovery: row.discovery ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

async function loadMcp(ctx: ServiceContext, id: string, lock = false): Promise<McpServerRow> {
  const mcp = await ctx.em.findOne(
    McpServerEntity,
    { id },
    lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {},
  );
  if (!mcp) throw notFound('MCP', id);
  return mcp;
}

async function loadVersion(
  ctx: ServiceContext,
  id: string | null | undefined,
): Promise<McpVersionRow | null> {
  return id ? ctx.em.findOneOrFail(McpVersionEntity, { id }) : null;
}

/** Validate, discover and publish act on the candidate if there is one, else on the live version. */
async function workingVersion(ctx: ServiceContext, mcp: McpServerRow): Promise<McpVersionRow> {
  const version = await loadVersion(ctx, mcp.candidateVersionId ?? mcp.liveVersionId);
  if (!version) throw preconditionFailed(`MCP "${mcp.slug}" has no configuration`);
  return version;
}

async function summaries(ctx: ServiceContext, rows: McpServerRow[]): Promise<McpSummary[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((row) => row.id);
  const versionIds = rows
    .flatMap((row) => [row.liveVersionId, row.candidateVersionId])
    .filter((v): v is string => typeof v === 'string');
  // Sequential on purpose: inside a transaction all queries share one connection.
  const versions = await ctx.em.find(McpVersionEntity, { id: { $in: versionIds } });
  const grants = await ctx.em.find(McpGrantEntity, { mcp: { $in: ids } }, { orderBy: { group: 'asc' } });
  const pending = await ctx.em.find(McpPinEntity, { mcp: { $in: ids }, state: { $in: ['changed', 'new'] } });
  const versionById = new Map(versions.map((v) => [v.id, v]));
  return rows.map((row) => {
    const shown = versionById.get(row.liveVersionId ?? row.candidateVersionId ?? '');
    const config = shown?.config;
    return {
      id: row.id,
      slug: row.slug,
      name: row.name,
      description: row.description,
      iconUrl: row.iconUrl ?? null,
      status: row.status,
      transport: config?.connection.transport ?? 'stdio',
      isolation: config?.isolation ?? 'shared',
      liveVersion: row.liveVersionId ? (versionById.get(row.liveVersionId)?.version ?? null) : null,
      candidateVersion: row.candidateVersionId
        ? (versionById.get(row.candidateVersionId)?.version ?? null)
        : null,
      pendingReviews: pending.filter((pin) => pin.mcp.id === row.id).length,
      groupIds: grants.filter((grant) => grant.mcp.id === row.id).map((grant) => grant.group.id),
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    };
  });
}

export async function listMcps(
  ctx: ServiceContext,
  input: { status?: McpStatus },
): Promise<{ items: McpSummary[] }> {
  requireRole(ctx, 'admin', 'auditor');
  const rows = await ctx.em.find(McpServerEntity, input.status ? { status: input.status } : {}, {
    orderBy: { slug: 'asc' },
    limit: 1000,
  });
  return { items: await summaries(ctx, rows) };
}

async function detail(ctx: ServiceContext, mcp: McpServerRow): Promise<McpDetail> {
  const [summary] = await summaries(ctx, [mcp]);
  const live = await loadVersion(ctx, mcp.liveVersionId);
  const candidate = await loadVersion(ctx, mcp.candidateVersionId);
  return {
    ...(summary as McpSummary),
    live: live ? toVersion(live) : null,
    candidate: candidate ? toVersion(candidate) : null,
  };
}

export async function getMcp(ctx: ServiceContext, id: string): Promise<McpDetail> {
  requireRole(ctx, 'admin', 'auditor');
  return detail(ctx, await loadMcp(ctx, id));
}

async function assertGroupsExist(ctx: ServiceContext, groupIds: readonly string[]): Promise<void> {
  if (groupIds.length === 0) return;
  const found = await ctx.em.find(GroupEntity, { id: { $in: [...groupIds] } });
  const known = new Set(found.map((group) => group.id));
  const problems: Record<string, string[]> = {};
  groupIds.forEach((id, index) => {
    if (!known.has(id)) problems[`groupIds.${index}`] = [`group "${id}" does not exist`];
  });
  if (Object.keys(problems).length > 0) throw validationFailed(problems);
}

/** A config that puts a secret where it leaks is refused before it is ever stored. */
function assertSecretsPlacedSafely(config: McpConfig): void {
  const problems = secretPlacementProblems(config);
  if (problems.length === 0) return;
  const fields: Record<string, string[]> = {};
  for (const { path, message } of problems)
    fields[`config.${path}`] = [...(fields[`config.${path}`] ?? []), message];
  throw validationFailed(fields, 'The configuration would expose a secret or change how the downstream runs');
}

const slugTaken = (slug: string) =>
  conflict(`An MCP with slug "${slug}" already exists`, { slug: ['is already taken'] });

function addVersion(ctx: ServiceContext, mcp: McpServerRow, config: McpConfig): McpVersionRow {
  const version = ctx.em.create(McpVersionEntity, {
    id: newId('mcpVersion'),
    mcp,
    version: mcp.nextVersion,
    config,
    validationStatus: 'pending',
    validationErrors: [],
    discovery: null,
    createdAt: new Date(),
    createdBy: ctx.actor.type === 'user' || ctx.actor.type === 'api_token' ? ctx.actor.userId : null,
  });
  mcp.nextVersion += 1;
  mcp.candidateVersionId = version.id;
  return version;
}

async function insertMcp(
  ctx: ServiceContext,
  input: CreateMcpInput,
  audit: { action: 'mcp.create' | 'mcp.import'; details?: Record<string, unknown> },
): Promise<McpDetail> {
  requireRole(ctx, 'admin');
  assertSecretsPlacedSafely(input.config);
  await assertGroupsExist(ctx, input.groupIds);
  if (await ctx.em.count(McpServerEntity, { slug: input.slug })) throw slugTaken(input.slug);
  try {
    return await withTransaction(ctx, async (tx) => {
      const now = new Date();
      const mcp = tx.em.create(McpServerEntity, {
        id: newId('mcp'),
        slug: input.slug,
        name: input.name,
        description: input.description,
        iconUrl: input.iconUrl,
        status: 'draft',
        liveVersionId: null,
        candidateVersionId: null,
        nextVersion: 1,
        createdAt: now,
        updatedAt: now,
      });
      addVersion(tx, mcp, input.config);
      for (const groupId of new Set(input.groupIds)) {
        tx.em.create(McpGrantEntity, { mcp, group: groupId, createdAt: now });
      }
      await tx.em.flush();
      await emitAudit(tx, {
        action: audit.action,
        target: mcpTarget(mcp),
        details: {
          transport: input.config.connection.transport,
          isolation: input.config.isolation,
          groupIds: [...new Set(input.groupIds)],
          ...audit.details,
        },
      });
      return detail(tx, mcp);
    });
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) throw slugTaken(input.slug);
    throw error;
  }
}

export const createMcp = (ctx: ServiceContext, input: CreateMcpInput) =>
  insertMcp(ctx, input, { action: 'mcp.create' });

/** Metadata changes apply at once; a config change becomes a new candidate version while the live one serves. */
export async function updateMcp(ctx: ServiceContext, input: UpdateMcpInput): Promise<McpDetail> {
  requireRole(ctx, 'admin');
  if (input.config) assertSecretsPlacedSafely(input.config);
  const result = await withTransaction(ctx, async (tx) => {
    const mcp = await loadMcp(tx, input.id, true);
    const changed = (['name', 'description', 'iconUrl'] as const).filter(
      (field) => input[field] !== undefined && input[field] !== mcp[field],
    );
    if (changed.length > 0)
      tx.em.assign(mcp, Object.fromEntries(changed.map((field) => [field, input[field]])));
    let newVersion: number | undefined;
    if (input.config) {
      if (mcp.status === 'archived') throw preconditionFailed(`MCP "${mcp.slug}" is archived`);
      newVersion = addVersion(tx, mcp, input.config).version;
    }
    if (changed.length === 0 && newVersion === undefined) return detail(tx, mcp);
    mcp.updatedAt = new Date();
    await tx.em.flush();
    await emitAudit(tx, {
      action: 'mcp.update',
      target: mcpTarget(mcp),
      details: { changed: newVersion === undefined ? changed : [...changed, 'config'], newVersion },
    });
    return detail(tx, mcp);
  });
  ctx.changes.publish({ kind: 'catalog', mcpId: input.id });
  return result;
}

export async function setMcpGroups(ctx: ServiceContext, input: SetMcpGroupsInput): Promise<McpDetail> {
  requireRole(ctx, 'admin');
  const groupIds = [...new Set(input.groupIds)];
  await assertGroupsExist(ctx, groupIds);
  const result = await withTransaction(ctx, async (tx) => {
    const mcp = await loadMcp(tx, input.id, true);
    const before = (await tx.em.find(McpGrantEntity, { mcp: mcp.id })).map((grant) => grant.group.id);
    // Only the difference: re-creating a grant the identity map already holds would not insert it again.
    const removed = before.filter((id) => !groupIds.includes(id));
    if (removed.length > 0)
      await tx.em.nativeDelete(McpGrantEntity, { mcp: mcp.id, group: { $in: removed } });
    const now = new Date();
    for (const groupId of groupIds.filter((id) => !before.includes(id))) {
      tx.em.create(McpGrantEntity, { mcp, group: groupId, createdAt: now });
    }
    mcp.updatedAt = now;
    await tx.em.flush();
    await emitAudit(tx, {
      action: 'mcp.set_groups',
      target: mcpTarget(mcp),
      details: {
        added: groupIds.filter((id) => !before.includes(id)),
        removed,
      },
    });
    return detail(tx, mcp);
  });
  ctx.changes.publish({ kind: 'catalog', mcpId: input.id });
  return result;
}

export async function validateMcp(
  ctx: ServiceContext,
  id: string,
): Promise<{ status: 'valid' | 'invalid'; problems: ValidationProblem[] }> {
  requireRole(ctx, 'admin');
  return withTransaction(ctx, async (tx) => {
    const mcp = await loadMcp(tx, id, true);
    const version = await workingVersion(tx, mcp);
    const problems = await validateConfig(McpConfig.parse(version.config));
    const status = problems.length === 0 ? 'valid' : 'invalid';
    tx.em.assign(version, { validationStatus: status, validationErrors: problems });
    await tx.em.flush();
    await emitAudit(tx, {
      action: 'mcp.validate',
      target: mcpTarget(mcp),
      outcome: status === 'valid' ? 'success' : 'failure',
      details: { version: version.version, status, problems: problems.map((p) => p.path) },
    });
    return { status, problems };
  });
}

const toolSummary = (discovery: Discovery) => ({
  tools: discovery.tools.length,
  prompts: discovery.prompts.length,
  resources: discovery.resources.length,
  resourceTemplates: discovery.resourceTemplates.length,
});

/**
 * Connects to the working version for real with the given temporary credentials (held only in memory for
 * this call), lists everything it offers and records it with each tool's and prompt's definition hash.
 */
export async function discoverMcp(
  ctx: ServiceContext,
  input: DiscoverMcpInput,
  settings: { maxResponseBytes: number; stopGraceMs: number },
): Promise<McpDetail> {
  requireRole(ctx, 'admin');
  const mcp = await loadMcp(ctx, input.id);
  const version = await workingVersion(ctx, mcp);
  if (version.validationStatus !== 'valid') {
    throw preconditionFailed(
      `Version ${version.version} of "${mcp.slug}" must pass validation before discovery`,
    );
  }
  const config = McpConfig.parse(version.config);
  const credentials = input.temporaryCredentials;
  const missing = config.credentials.filter((field) => field.required && !credentials[field.name]);
  if (missing.length > 0) {
    throw validationFailed(
      Object.fromEntries(missing.map((field) => [`temporaryCredentials.${field.name}`, ['is required']])),
      'Discovery needs a value for every required credential',
    );
  }
  assertLaunchEnvAllowed(mcp.slug, config);
  const secrets = Object.values(credentials);
  let discovery: Discovery;
  try {
    const downstream = await openDownstream({
      connection: config.connection,
      launch: resolveLaunch(config, credentials),
      connectTimeoutMs: config.timeouts.connectMs,
      maxMessageBytes: settings.maxResponseBytes * 2 + 65_536,
      stopGraceMs: settings.stopGraceMs,
      onStderr: () => undefined,
      onClose: () => undefined,
    });
    try {
      const listing = await listEverything(downstream, config.timeouts.connectMs);
      discovery = {
        discoveredAt: new Date().toISOString(),
        protocolVersion: downstream.protocolVersion,
        serverInfo: downstream.serverInfo,
        instructions: downstream.instructions,
        capabilities: downstream.capabilities,
        tools: listing.tools.map((tool) => {
          const definition = pinnedDefinition('tool', tool);
          return {
            ...(definition as Omit<Discovery['tools'][number], 'hash'>),
            hash: definitionHash(definition),
          };
        }),
        prompts: listing.prompts.map((prompt) => {
          const definition = pinnedDefinition('prompt', prompt);
          return {
            ...(definition as Omit<Discovery['prompts'][number], 'hash'>),
            hash: definitionHash(definition),
          };
        }),
        resources: listing.resources.map(({ uri, name, mimeType, description }) => ({
          uri,
          name,
          mimeType,
          description,
        })),
        resourceTemplates: listing.resourceTemplates.map(({ uriTemplate, name, mimeType, description }) => ({
          uriTemplate,
          name,
          mimeType,
          description,
        })),
      };
      const problem =
        listingProblem([
          ...discovery.tools.map((tool) => ({ kind: 'tool' as const, name: tool.name, definition: tool })),
          ...discovery.prompts.map((prompt) => ({
            kind: 'prompt' as const,
            name: prompt.name,
            definition: prompt,
          })),
        ]) ?? (canonicalJson(discovery).includes('\\u0000') ? 'its answers contain NUL characters' : null);
      if (problem) throw new Error(`the server cannot be catalogued: ${problem}`);
    } finally {
      await downstream.close().catch(() => undefined);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = redactSecrets(
      code === 'ENOENT'
        ? 'the command was not found'
        : error instanceof Error
          ? error.message
          : String(error),
      secrets,
    );
    await emitStandaloneAudit(ctx, {
      action: 'mcp.discover',
      outcome: 'failure',
      target: mcpTarget(mcp),
      reason,
      details: { version: version.version },
    });
    throw new DomainError('DOWNSTREAM_FAILED', `Discovery of "${mcp.slug}" failed: ${reason}`);
  }
  return withTransaction(ctx, async (tx) => {
    const locked = await loadMcp(tx, mcp.id, true);
    const current = await workingVersion(tx, locked);
    if (current.id !== version.id) {
      throw conflict(`The configuration of "${mcp.slug}" changed during discovery; run it again`);
    }
    current.discovery = discovery;
    await tx.em.flush();
    await emitAudit(tx, {
      action: 'mcp.discover',
      target: mcpTarget(locked),
      details: {
        version: current.version,
        ...toolSummary(discovery),
        protocolVersion: discovery.protocolVersion,
      },
    });
    return detail(tx, locked);
  });
}

/**
 * Makes the working version live and approves exactly the tools and prompts discovery recorded. Takes effect
 * at once: old-version instances drain and stop, and eager shared MCPs start.
 */
export async function publishMcp(ctx: ServiceContext, deps: CatalogDeps, id: string): Promise<McpDetail> {
  requireRole(ctx, 'admin');
  const result = await withTransaction(ctx, async (tx) => {
    const mcp = await loadMcp(tx, id, true);
    if (mcp.status === 'published' && !mcp.candidateVersionId) {
      throw preconditionFailed(`"${mcp.slug}" is already published and has no new version to publish`);
    }
    const version = await workingVersion(tx, mcp);
    if (version.validationStatus !== 'valid') {
      throw preconditionFailed(`Version ${version.version} of "${mcp.slug}" has not passed validation`);
    }
    if (!version.discovery) {
      throw preconditionFailed(`Version ${version.version} of "${mcp.slug}" has not been discovered yet`);
    }
    const previous = mcp.liveVersionId ? await loadVersion(tx, mcp.liveVersionId) : null;
    const now = new Date();
    await tx.em.nativeDelete(McpPinEntity, { mcp: mcp.id });
    const approved = [
      ...version.discovery.tools.map((tool) => ({ kind: 'tool' as const, item: tool })),
      ...version.discovery.prompts.map((prompt) => ({ kind: 'prompt' as const, item: prompt })),
    ];
    for (const { kind, item } of approved) {
      tx.em.create(McpPinEntity, {
        mcp,
        kind,
        name: item.name,
        state: 'approved',
        approvedDefinition: pinnedDefinition(kind, item),
        approvedHash: item.hash,
        observedDefinition: null,
        observedHash: null,
        changedAt: null,
        decidedAt: now,
        decidedBy: ctx.actor.type === 'user' || ctx.actor.type === 'api_token' ? ctx.actor.userId : null,
      });
    }
    tx.em.assign(mcp, {
      status: 'published',
      liveVersionId: version.id,
      candidateVersionId: null,
      updatedAt: now,
    });
    await tx.em.flush();
    await emitAudit(tx, {
      action: 'mcp.publish',
      target: mcpTarget(mcp),
      details: {
        version: version.version,
        previousVersion: previous?.version ?? null,
        ...toolSummary(version.discovery),
      },
    });
    return detail(tx, mcp);
  });
  ctx.changes.publish({ kind: 'catalog', mcpId: id });
  const live = await deps.liveCatalog.get(id);
  if (live) {
    void deps.runtime.retireOldVersions(id, live.versionId);
    if (isEagerShared(live)) deps.runtime.warm(live);
  }
  return result;
}

const isEagerShared = (live: { config: McpConfig }) =>
  live.config.isolation === 'shared' && live.config.startMode === 'eager';

/** At start-up, shared MCPs published with `startMode: eager` start at once, as they did when published. */
export async function warmEagerMcps(em: EntityManager, deps: CatalogDeps): Promise<void> {
  const published = await em.find(McpServerEntity, { status: 'published' }, { fields: ['id'] });
  for (const { id } of published) {
    const live = await deps.liveCatalog.get(id);
    if (live && isEagerShared(live)) deps.runtime.warm(live);
  }
}

/** Hidden from the marketplace, refused at call time, every instance stopped; versions and pins are kept. */
export async function archiveMcp(
  ctx: ServiceContext,
  deps: CatalogDeps,
  input: { id: string; reason?: string | undefined },
): Promise<McpDetail> {
  requireRole(ctx, 'admin');
  const result = await withTransaction(ctx, async (tx) => {
    const mcp = await loadMcp(tx, input.id, true);
    if (mcp.status === 'archived') throw preconditionFailed(`"${mcp.slug}" is already archived`);
    tx.em.assign(mcp, { status: 'archived', updatedAt: new Date() });
    await tx.em.flush();
    await emitAudit(tx, { action: 'mcp.archive', target: mcpTarget(mcp), reason: input.reason });
    return detail(tx, mcp);
  });
  ctx.changes.publish({ kind: 'catalog', mcpId: input.id });
  await deps.runtime.stopMcp(input.id, 'the MCP was archived');
  return result;
}

function toPin(row: McpPinRow): Pin {
  return {
    kind: row.kind,
    name: row.name,
    state: row.state,
    approvedHash: row.approvedHash ?? null,
    observedHash: row.observedHash ?? null,
    diff:
      row.state === 'approved' || row.state === 'removed'
        ? []
        : diffDefinitions(row.kind, row.approvedDefinition ?? null, row.observedDefinition ?? null),
    changedAt: row.changedAt?.toISOString() ?? null,
    decidedAt: row.decidedAt?.toISOString() ?? null,
  };
}

export async function listPins(ctx: ServiceContext, id: string): Promise<{ items: Pin[] }> {
  requireRole(ctx, 'admin', 'auditor');
  await loadMcp(ctx, id);
  const rows = await ctx.em.find(McpPinEntity, { mcp: id }, { orderBy: { kind: 'asc', name: 'asc' } });
  return { items: rows.map(toPin) };
}

/** Approve adopts what the downstream reports now; reject keeps it out until the downstream changes again. */
export async function decidePin(
  ctx: ServiceContext,
  input: PinDecisionInput,
  decision: 'approve' | 'reject',
): Promise<Pin> {
  const actor = requireRole(ctx, 'admin');
  const result = await withTransaction(ctx, async (tx) => {
    const mcp = await loadMcp(tx, input.id, true);
    const pin = await tx.em.findOne(McpPinEntity, { mcp: mcp.id, kind: input.kind, name: input.name });
    if (!pin) throw notFound(input.kind === 'tool' ? 'Tool' : 'Prompt', input.name);
    if (
      !pin.observedDefinition ||
      !pin.observedHash ||
      (pin.state !== 'changed' && pin.state !== 'new' && pin.state !== 'rejected')
    ) {
      throw preconditionFailed(`${input.kind} "${input.name}" has no pending change to ${decision}`);
    }
    if (pin.observedHash !== input.observedHash) {
      throw conflict(
        `${input.kind} "${input.name}" changed again since you reviewed it; review the current definition`,
      );
    }
    if (decision === 'reject' && pin.state === 'rejected') {
      throw preconditionFailed(`${input.kind} "${input.name}" is already rejected`);
    }
    const fields = diffDefinitions(pin.kind, pin.approvedDefinition ?? null, pin.observedDefinition).map(
      (d) => d.field,
    );
    const now = new Date();
    const details = {
      kind: pin.kind,
      name: pin.name,
      fields,
      approvedHash: pin.approvedHash,
      observedHash: pin.observedHash,
    };
    if (decision === 'approve') {
      tx.em.assign(pin, {
        state: 'approved',
        approvedDefinition: pin.observedDefinition,
        approvedHash: pin.observedHash,
        observedDefinition: null,
        observedHash: null,
        decidedAt: now,
        decidedBy: actor.userId,
      });
    } else {
      tx.em.assign(pin, { state: 'rejected', decidedAt: now, decidedBy: actor.userId });
    }
    await tx.em.flush();
    await emitAudit(tx, {
      action: decision === 'approve' ? 'mcp.pin_approve' : 'mcp.pin_reject',
      target: mcpTarget(mcp),
      reason: input.reason,
      details,
    });
    return toPin(pin);
  });
  ctx.changes.publish({ kind: 'catalog', mcpId: input.id });
  return result;
}

export async function importMcp(
  ctx: ServiceContext,
  input: { document: string; slug?: string | undefined },
): Promise<McpDetail> {
  requireRole(ctx, 'admin');
  const imported = parseRegistryDocument(input.document);
  const parsedConfig = McpConfig.safeParse(imported.config);
  if (!parsedConfig.success) {
    throw validationFailed(
      fieldErrorsOf(parsedConfig.error.issues, ['config']),
      'The imported configuration is invalid',
    );
  }
  return insertMcp(
    ctx,
    {
      slug: input.slug ?? imported.suggestedSlug,
      name: imported.name,
      description: imported.description,
      iconUrl: null,
      config: parsedConfig.data,
      groupIds: [],
    },
    { action: 'mcp.import', details: { credentialFields: parsedConfig.data.credentials.map((f) => f.name) } },
  );
}

/** Exports the working configuration; credential values are never part of a config, only their placeholders. */
export async function exportMcp(
  ctx: ServiceContext,
  id: string,
): Promise<{ slug: string; document: string; format: 'json' }> {
  requireRole(ctx, 'admin');
  const mcp = await loadMcp(ctx, id);
  const version = await workingVersion(ctx, mcp);
  await emitStandaloneAudit(ctx, {
    action: 'mcp.export',
    target: mcpTarget(mcp),
    details: { version: version.version },
  });
  return {
    slug: mcp.slug,
    format: 'json',
    document: toRegistryDocument({
      slug: mcp.slug,
      name: mcp.name,
      description: mcp.description,
      config: McpConfig.parse(version.config),
    }),
  };
}
