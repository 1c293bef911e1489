import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/** An OpenID Connect provider people sign in to the portal with (ADR 0032). The client secret is sealed. */
export const SsoProviderEntity = defineEntity({
  name: 'SsoProvider',
  tableName: 'sso_provider',
  properties: {
    id: p.string().primary().length(48),
    slug: p.string().length(32).unique(),
    displayName: p.string().length(64),
    issuer: p.string().length(2048),
    clientId: p.string().length(255),
    /** Vault format, slot (provider id, `sso`, `sso:client_secret`); never returned. */
    clientSecretSealed: p.text().nullable(),
    scopes: p.json<string[]>(),
    groupsClaim: p.string().length(128),
    groupMappings: p.json<{ claim: string; groupId: string }[]>(),
    roleMappings: p.json<{ claim: string; role: 'admin' | 'auditor' | 'user' }[]>(),
    allowedDomains: p.json<string[]>(),
    /** The explicit choice to take any email domain; otherwise an enabled provider lists its domains. */
    allowAnyDomain: p.boolean(),
    enabled: p.boolean(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});
export type SsoProviderRow = InferEntity<typeof SsoProviderEntity>;

/**
 * One sign-in in flight: single use, 10 minutes, bound to the browser that started it (the SHA-256 of a
 * random value in an HttpOnly cookie). Stored by the SHA-256 of `state`; the PKCE verifier is sealed.
 */
export const SsoLoginStateEntity = defineEntity({
  name: 'SsoLoginState',
  tableName: 'sso_login_state',
  properties: {
    id: p.string().primary().length(64),
    provider: () => p.manyToOne(SsoProviderEntity).deleteRule('cascade'),
    nonce: p.string().length(128),
    verifierSealed: p.text(),
    browserHash: p.string().length(64),
    returnTo: p.string().length(256),
    createdAt: p.datetime(),
    expiresAt: p.datetime().index(),
    usedAt: p.datetime().nullable(),
  },
});

/** A single row (id 1): installation-wide portal settings. */
export const PortalSettingEntity = defineEntity({
  name: 'PortalSetting',
  tableName: 'portal_setting',
  properties: {
    id: p.integer().primary().autoincrement(false),
    localPasswords: p.enum(['everyone', 'admins_only'] as const),
    updatedAt: p.datetime(),
  },
});
