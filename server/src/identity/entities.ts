import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { SsoProviderEntity } from '../sso/entities.js';

const roles = () => ({ admin: 'admin', auditor: 'auditor', user: 'user' }) as const;

export const UserEntity = defineEntity({
  name: 'User',
  tableName: 'app_user',
  uniques: [{ properties: ['ssoProvider', 'ssoSubject'] }],
  properties: {
    id: p.string().primary().length(48),
    username: p.string().length(64).unique(),
    displayName: p.string().length(128),
    email: p.string().length(254),
    role: p.enum(roles),
    status: p.enum(['active', 'suspended']),
    /** Null for users provisioned by single sign-on: they have no usable password. */
    passwordHash: p.string().length(255).nullable().lazy(true, false),
    /** The SSO provider and subject (`sub`) this user is linked to; both null for local users. */
    ssoProvider: () => p.manyToOne(SsoProviderEntity).nullable().deleteRule('set null'),
    ssoSubject: p.string().length(255).nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    lastLoginAt: p.datetime().nullable(),
  },
});
export type UserRow = InferEntity<typeof UserEntity>;

export const GroupEntity = defineEntity({
  name: 'Group',
  tableName: 'user_group',
  properties: {
    id: p.string().primary().length(48),
    name: p.string().length(64).unique(),
    description: p.string().length(1000),
    builtIn: p.boolean(),
    createdAt: p.datetime(),
  },
});
export type GroupRow = InferEntity<typeof GroupEntity>;

export const GroupMembershipEntity = defineEntity({
  name: 'GroupMembership',
  tableName: 'group_membership',
  properties: {
    group: () => p.manyToOne(GroupEntity).primary().deleteRule('cascade'),
    user: () => p.manyToOne(UserEntity).primary().deleteRule('cascade').index(),
    /** The SSO provider whose claims manage this membership (not editable by hand); null when set by hand. */
    sourceProvider: () => p.manyToOne(SsoProviderEntity).nullable().deleteRule('cascade').index(),
    createdAt: p.datetime(),
  },
});

export const PortalSessionEntity = defineEntity({
  name: 'PortalSession',
  tableName: 'portal_session',
  properties: {
    id: p.string().primary().length(48),
    tokenHash: p.string().length(64).unique(),
    user: () => p.manyToOne(UserEntity).deleteRule('cascade').index(),
    createdAt: p.datetime(),
    lastSeenAt: p.datetime(),
    expiresAt: p.datetime(),
    ip: p.string().length(64),
    userAgent: p.string().length(256),
  },
});
export type PortalSessionRow = InferEntity<typeof PortalSessionEntity>;

export const ApiTokenEntity = defineEntity({
  name: 'ApiToken',
  tableName: 'api_token',
  properties: {
    id: p.string().primary().length(48),
    name: p.string().length(128),
    tokenHash: p.string().length(64).unique(),
    displayPrefix: p.string().length(16),
    role: p.enum(roles),
    createdBy: () => p.manyToOne(UserEntity).deleteRule('cascade').index(),
    createdAt: p.datetime(),
    expiresAt: p.datetime().nullable(),
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});
export type ApiTokenRow = InferEntity<typeof ApiTokenEntity>;

/** A single row (id 1) recording that first-run setup happened; it never reopens. */
export const InstallationEntity = defineEntity({
  name: 'Installation',
  tableName: 'installation',
  properties: {
    id: p.integer().primary().autoincrement(false),
    setupCompletedAt: p.datetime().nullable(),
  },
});
