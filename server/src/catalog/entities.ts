import type { Discovery, McpConfig, PinKind, PinState, ValidationProblem } from '@gatehouse/schema';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { GroupEntity } from '../identity/entities.js';

/** A downstream MCP in the catalog. Its runtime config lives in versions: `live` serves, `candidate` is being prepared. */
export const McpServerEntity = defineEntity({
  name: 'McpServer',
  tableName: 'mcp_server',
  properties: {
    id: p.string().primary().length(48),
    slug: p.string().length(24).unique(),
    name: p.string().length(128),
    description: p.string().length(1000),
    iconUrl: p.string().length(2048).nullable(),
    status: p.enum(['draft', 'published', 'archived']),
    liveVersionId: p.string().length(48).nullable(),
    candidateVersionId: p.string().length(48).nullable(),
    nextVersion: p.integer(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});
export type McpServerRow = InferEntity<typeof McpServerEntity>;

/** An immutable runtime configuration; validation and discovery results are recorded on it. */
export const McpVersionEntity = defineEntity({
  name: 'McpVersion',
  tableName: 'mcp_version',
  uniques: [{ properties: ['mcp', 'version'] }],
  properties: {
    id: p.string().primary().length(48),
    mcp: () => p.manyToOne(McpServerEntity).deleteRule('cascade'),
    version: p.integer(),
    config: p.json<McpConfig>(),
    validationStatus: p.enum(['pending', 'valid', 'invalid']),
    validationErrors: p.json<ValidationProblem[]>(),
    discovery: p.json<Discovery>().nullable(),
    createdAt: p.datetime(),
    createdBy: p.string().length(48).nullable(),
  },
});
export type McpVersionRow = InferEntity<typeof McpVersionEntity>;

/** Which groups may see (and subscribe to) an MCP. No row, no access. */
export const McpGrantEntity = defineEntity({
  name: 'McpGrant',
  tableName: 'mcp_grant',
  properties: {
    mcp: () => p.manyToOne(McpServerEntity).primary().deleteRule('cascade'),
    group: () => p.manyToOne(GroupEntity).primary().deleteRule('cascade').index(),
    createdAt: p.datetime(),
  },
});

/**
 * A pinned tool or prompt definition: what an admin approved (by publishing or per-item approval) and, when the
 * downstream now reports something else, what it reports instead.
 */
export const McpPinEntity = defineEntity({
  name: 'McpPin',
  tableName: 'mcp_pin',
  properties: {
    mcp: () => p.manyToOne(McpServerEntity).primary().deleteRule('cascade'),
    kind: p.enum(['tool', 'prompt'] satisfies PinKind[]).primary(),
    name: p.string().length(256).primary(),
    state: p.enum(['approved', 'changed', 'new', 'removed', 'rejected'] satisfies PinState[]),
    approvedDefinition: p.json<Record<string, unknown>>().nullable(),
    approvedHash: p.string().length(64).nullable(),
    observedDefinition: p.json<Record<string, unknown>>().nullable(),
    observedHash: p.string().length(64).nullable(),
    changedAt: p.datetime().nullable(),
    decidedAt: p.datetime().nullable(),
    decidedBy: p.string().length(48).nullable(),
  },
});
export type McpPinRow = InferEntity<typeof McpPinEntity>;
