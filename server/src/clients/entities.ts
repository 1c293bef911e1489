import type { ClientKind, ClientStatus } from '@gatehouse/schema';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { McpServerEntity } from '../catalog/entities.js';
import { UserEntity } from '../identity/entities.js';

const clientKinds: ClientKind[] = ['claude-code', 'claude-desktop', 'vscode', 'cursor', 'agent', 'other'];
const clientStatuses: ClientStatus[] = ['active', 'suspended', 'revoked'];

/**
 * An AI client of one user. Its key is stored only as SHA-256; the prefix helps people tell keys apart. A client
 * created by OAuth consent has no key: it is reached through its OAuth client id (ADR 0034).
 */
export const ClientEntity = defineEntity({
  name: 'Client',
  tableName: 'mcp_client',
  // One live client per person and OAuth client (migration 0014); exactly one of a key or an OAuth client.
  indexes: [
    {
      name: 'mcp_client_user_oauth_client_unique',
      expression:
        'create unique index "mcp_client_user_oauth_client_unique" on "mcp_client" ("user_id", "oauth_client_id") where "oauth_client_id" is not null and "status" <> \'revoked\'',
    },
  ],
  checks: [
    {
      name: 'mcp_client_key_or_oauth',
      expression: '("key_hash" is null) <> ("oauth_client_id" is null)',
    },
  ],
  properties: {
    id: p.string().primary().length(48),
    user: () => p.manyToOne(UserEntity).deleteRule('cascade').index(),
    name: p.string().length(128),
    kind: p.enum(clientKinds),
    status: p.enum(clientStatuses),
    /** Null for a client that authenticates with OAuth access tokens instead of a key. */
    keyHash: p.string().length(64).unique().nullable(),
    keyPrefix: p.string().length(16).nullable(),
    /** The OAuth client (a CIMD URL or a DCR id) this client stands for, for one person (ADR 0034). */
    oauthClientId: p.string().length(2048).nullable(),
    oauthRegistration: p.enum(['cimd', 'dcr'] as const).nullable(),
    /** The host the OAuth client's metadata came from (CIMD) or its redirect URI's host (DCR). */
    oauthDomain: p.string().length(255).nullable(),
    createdAt: p.datetime(),
    lastSeenAt: p.datetime().nullable(),
    lastSeenIp: p.string().length(64).nullable(),
    /** Who suspended it: a suspension by an admin can only be lifted by an admin. */
    suspendedBy: p.string().length(48).nullable(),
  },
});
export type ClientRow = InferEntity<typeof ClientEntity>;

/** A client's subscription to one MCP; `tools` null means every approved tool. */
export const SubscriptionEntity = defineEntity({
  name: 'Subscription',
  tableName: 'client_subscription',
  uniques: [{ properties: ['client', 'mcp'] }],
  properties: {
    id: p.string().primary().length(48),
    client: () => p.manyToOne(ClientEntity).deleteRule('cascade'),
    mcp: () => p.manyToOne(McpServerEntity).deleteRule('cascade').index(),
    tools: p.json<string[]>().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});
export type SubscriptionRow = InferEntity<typeof SubscriptionEntity>;
