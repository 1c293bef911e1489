import type { ApiToken, CreateApiTokenInput, CreatedApiToken } from '@gatehouse/schema';
import { emitAudit } from '../audit/emit.js';
import { randomBase62, sha256Hex } from '../crypto/index.js';
import { requireRole, type ServiceContext, withTransaction } from '../platform/context.js';
import { notFound } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { ApiTokenEntity, UserEntity } from './entities.js';
import { toApiToken } from './mappers.js';
import { API_TOKEN_PREFIX } from './sessions.service.js';

/** Admins and auditors mint tokens for automation; a token carries its creator's role at creation. */
export async function createApiToken(
  ctx: ServiceContext,
  input: CreateApiTokenInput,
): Promise<CreatedApiToken> {
  const actor = requireRole(ctx, 'admin', 'auditor');
  const token = `${API_TOKEN_PREFIX}${randomBase62(32)}`;
  return withTransaction(ctx, async (tx) => {
    const creator = await tx.em.findOneOrFail(UserEntity, { id: actor.userId });
    const now = new Date();
    const row = tx.em.create(ApiTokenEntity, {
      id: newId('apiToken'),
      name: input.name,
      tokenHash: sha256Hex(token),
      displayPrefix: token.slice(0, API_TOKEN_PREFIX.length + 4),
      role: actor.role,
      createdBy: creator,
      createdAt: now,
      expiresAt: input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 86_400_000) : null,
      lastUsedAt: null,
      revokedAt: null,
    });
    await tx.em.flush();
    await emitAudit(tx, {
      action: 'api_token.create',
      target: { type: 'api_token', id: row.id, label: row.name },
      details: {
        role: row.role,
        displayPrefix: row.displayPrefix,
        expiresAt: row.expiresAt?.toISOString() ?? null,
      },
    });
    return { token, apiToken: toApiToken(row) };
  });
}

/** Admins see every token; auditors see their own. */
export async function listApiTokens(ctx: ServiceContext): Promise<{ items: ApiToken[] }> {
  const actor = requireRole(ctx, 'admin', 'auditor');
  const rows = await ctx.em.find(ApiTokenEntity, actor.role === 'admin' ? {} : { createdBy: actor.userId }, {
    orderBy: { createdAt: 'desc' },
    limit: 1000,
  });
  return { items: rows.map(toApiToken) };
}

export async function revokeApiToken(ctx: ServiceContext, id: string): Promise<ApiToken> {
  const actor = requireRole(ctx, 'admin', 'auditor');
  return withTransaction(ctx, async (tx) => {
    const row = await tx.em.findOne(ApiTokenEntity, {
      id,
      ...(actor.role !== 'admin' && { createdBy: actor.userId }),
    });
    if (!row) throw notFound('API token', id);
    if (!row.revokedAt) {
      row.revokedAt = new Date();
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'api_token.revoke',
        target: { type: 'api_token', id: row.id, label: row.name },
      });
    }
    return toApiToken(row);
  });
}
