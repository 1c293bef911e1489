import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { McpServerEntity } from '../catalog/entities.js';
import { UserEntity } from '../identity/entities.js';

/**
 * One authorization request in flight: single use, 10 minutes, bound to the portal session that started
 * it. Stored by the SHA-256 of `state`; the PKCE verifier is sealed in the vault format.
 */
export const OAuthStateEntity = defineEntity({
  name: 'OAuthState',
  tableName: 'oauth_state',
  properties: {
    id: p.string().primary().length(64),
    user: () => p.manyToOne(UserEntity).deleteRule('cascade').index(),
    sessionId: p.string().length(48),
    mcp: () => p.manyToOne(McpServerEntity).deleteRule('cascade'),
    verifierSealed: p.text(),
    redirectUri: p.string().length(2048),
    createdAt: p.datetime(),
    expiresAt: p.datetime(),
    usedAt: p.datetime().nullable(),
  },
});

/** A user's connection to an MCP's OAuth provider. The tokens themselves are sealed vault rows. */
export const OAuthConnectionEntity = defineEntity({
  name: 'OAuthConnection',
  tableName: 'oauth_connection',
  uniques: [{ properties: ['user', 'mcp'] }],
  properties: {
    id: p.string().primary().length(48),
    user: () => p.manyToOne(UserEntity).deleteRule('cascade'),
    mcp: () => p.manyToOne(McpServerEntity).deleteRule('cascade').index(),
    status: p.enum(['connected', 'reconnect_needed'] as const),
    scopes: p.json<string[]>(),
    /** When the current access token expires (null: the provider did not say). */
    expiresAt: p.datetime().nullable(),
    hasRefreshToken: p.boolean(),
    connectedAt: p.datetime(),
    refreshedAt: p.datetime().nullable(),
  },
});
export type OAuthConnectionRow = InferEntity<typeof OAuthConnectionEntity>;
