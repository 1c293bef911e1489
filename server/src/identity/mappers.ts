import type { ApiToken, User } from '@gatehouse/schema';
import type { ApiTokenRow, UserRow } from './entities.js';

const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null);

/** Explicit field lists: a row never reaches a response wholesale (its password hash stays behind). */
export const toUser = (row: UserRow): User => ({
  id: row.id,
  username: row.username,
  displayName: row.displayName,
  email: row.email,
  role: row.role,
  status: row.status,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
  lastLoginAt: iso(row.lastLoginAt),
  ssoProviderId: row.ssoProvider?.id ?? null,
});

export const toApiToken = (row: ApiTokenRow): ApiToken => ({
  id: row.id,
  name: row.name,
  displayPrefix: row.displayPrefix,
  role: row.role,
  createdBy: row.createdBy.id,
  createdAt: row.createdAt.toISOString(),
  expiresAt: iso(row.expiresAt),
  lastUsedAt: iso(row.lastUsedAt),
  revokedAt: iso(row.revokedAt),
});
