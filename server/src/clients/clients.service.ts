import type {
  Client,
  ClientWithKey,
  CreateClientInput,
  SubscribeInput,
  Subscription,
  UpdateSubscriptionInput,
} from '@gatehouse/schema';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { emitAudit } from '../audit/emit.js';
import type { LiveCatalog } from '../catalog/live-catalog.js';
import { pinKey } from '../catalog/live-catalog.js';
import { groupIdsOf } from '../catalog/marketplace.service.js';
import { randomBase62, sha256Hex } from '../crypto/index.js';
import type { UserRow } from '../identity/entities.js';
import { revokeOAuthGrants } from '../oauth-server/adapter.js';
import type { Change } from '../platform/change-bus.js';
import {
  type AuthenticatedActor,
  requireAuthenticated,
  requireRole,
  type ServiceContext,
  withTransaction,
} from '../platform/context.js';
import { conflict, forbidden, notFound, preconditionFailed, validationFailed } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { ClientEntity, type ClientRow, SubscriptionEntity, type SubscriptionRow } from './entities.js';

export const CLIENT_KEY_PREFIX = 'gh_ck_';
const CLIENTS_CHANGE: Change = { kind: 'clients' };

const newClientKey = () => `${CLIENT_KEY_PREFIX}${randomBase62(32)}`;
const keyFields = (key: string) => ({
  keyHash: sha256Hex(key),
  keyPrefix: key.slice(0, CLIENT_KEY_PREFIX.length + 4),
});

export function toClient(row: ClientRow): Client {
  const user = row.user as UserRow;
  return {
    id: row.id,
    userId: user.id,
    username: user.username,
    name: row.name,
    kind: row.kind,
    status: row.status,
    keyPrefix: row.keyPrefix ?? null,
    oauthClientId: row.oauthClientId ?? null,
    registration: row.oauthRegistration ?? null,
    domain: row.oauthDomain ?? null,
    lastSeenAt: row.lastSeenAt?.toISOString() ?? null,
    lastSeenIp: row.lastSeenIp ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

const clientTarget = (row: ClientRow) => ({ type: 'client', id: row.id, label: row.name });

/** A client its owner (or an admin) may manage; anyone else is told it does not exist. */
async function manageableClient(
  ctx: ServiceContext,
  actor: AuthenticatedActor,
  id: string,
): Promise<ClientRow> {
  const row = await ctx.em.findOne(ClientEntity, { id }, { populate: ['user'] });
  if (!row || (row.user.id !== actor.userId && actor.role !== 'admin')) throw notFound('Client', id);
  return row;
}

export async function createClient(ctx: ServiceContext, input: CreateClientInput): Promise<ClientWithKey> {
  const actor = requireAuthenticated(ctx);
  const key = newClientKey();
  return withTransaction(
    ctx,
    async (tx) => {
      const row = tx.em.create(ClientEntity, {
        id: newId('client'),
        user: actor.userId,
        name: input.name,
        kind: input.kind,
        status: 'active',
        ...keyFields(key),
        oauthClientId: null,
        oauthRegistration: null,
        oauthDomain: null,
        createdAt: new Date(),
        lastSeenAt: null,
        lastSeenIp: null,
        suspendedBy: null,
      });
      await tx.em.flush();
      await tx.em.populate(row, ['user']);
      await emitAudit(tx, {
        action: 'client.create',
        target: clientTarget(row),
        details: { kind: row.kind, keyPrefix: row.keyPrefix },
      });
      return { client: toClient(row), key };
    },
    CLIENTS_CHANGE,
  );
}

export async function listClients(
  ctx: ServiceContext,
  input: { all: boolean },
): Promise<{ items: Client[] }> {
  const actor = input.all ? requireRole(ctx, 'admin', 'auditor') : requireAuthenticated(ctx);
  const rows = await ctx.em.find(ClientEntity, input.all ? {} : { user: actor.userId }, {
    populate: ['user'],
    orderBy: { createdAt: 'desc' },
    limit: 1000,
  });
  return { items: rows.map(toClient) };
}

/** The old key stops working with the commit; the new one is shown once. */
export async function rotateClientKey(ctx: ServiceContext, id: string): Promise<ClientWithKey> {
  const actor = requireAuthenticated(ctx);
  const key = newClientKey();
  return withTransaction(
    ctx,
    async (tx) => {
      const row = await manageableClient(tx, actor, id);
      if (row.status === 'revoked') throw preconditionFailed('A revoked client cannot get a new key');
      if (row.oauthClientId) throw preconditionFailed('An OAuth client has no key: it signs in with OAuth');
      const previousPrefix = row.keyPrefix;
      tx.em.assign(row, keyFields(key));
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'client.rotate_key',
        target: clientTarget(row),
        details: { previousKeyPrefix: previousPrefix, keyPrefix: row.keyPrefix },
      });
      return { client: toClient(row), key };
    },
    CLIENTS_CHANGE,
  );
}

const transitions = {
  suspend: { from: ['active'], to: 'suspended', action: 'client.suspend' },
  reactivate: { from: ['suspended'], to: 'active', action: 'client.reactivate' },
  revoke: { from: ['active', 'suspended'], to: 'revoked', action: 'client.revoke' },
} as const;

/** Suspend (reversible), reactivate, or revoke (final). Takes effect on the client's very next request. */
export async function changeClientStatus(
  ctx: ServiceContext,
  input: { id: string; reason?: string | undefined },
  change: keyof typeof transitions,
): Promise<Client> {
  const actor = requireAuthenticated(ctx);
  const rule = transitions[change];
  return withTransaction(
    ctx,
    async (tx) => {
      const row = await manageableClient(tx, actor, input.id);
      if (!(rule.from as readonly string[]).includes(row.status)) {
        throw preconditionFailed(
          `Client "${row.name}" is ${row.status} and cannot be ${rule.to === 'active' ? 'reactivated' : rule.to}`,
        );
      }
      if (
        change === 'reactivate' &&
        row.suspendedBy &&
        row.suspendedBy !== row.user.id &&
        actor.role !== 'admin'
      ) {
        throw forbidden(`Client "${row.name}" was suspended by an admin; only an admin can reactivate it`);
      }
      row.status = rule.to;
      row.suspendedBy = change === 'suspend' ? actor.userId : null;
      await tx.em.flush();
      await emitAudit(tx, { action: rule.action, target: clientTarget(row), reason: input.reason });
      // An OAuth client's grant, and every token of it, ends with the client, in the same transaction.
      if (change === 'revoke' && row.oauthClientId) {
        const grantsRevoked = await revokeOAuthGrants(tx.em, {
          userId: row.user.id,
          oauthClientId: row.oauthClientId,
        });
        await emitAudit(tx, {
          action: 'oauth.consent_revoked',
          target: clientTarget(row),
          reason: input.reason,
          details: { oauthClientId: row.oauthClientId, grantsRevoked },
        });
      }
      return toClient(row);
    },
    CLIENTS_CHANGE,
  );
}

function toSubscription(row: SubscriptionRow, slug: string): Subscription {
  return {
    id: row.id,
    clientId: row.client.id,
    mcpId: row.mcp.id,
    mcpSlug: slug,
    tools: row.tools ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/**
 * The MCP must be published and granted to one of the client owner's groups (otherwise it does not exist as
 * far as they are concerned), and a tool selection may only name tools it currently offers.
 */
async function assertSubscribable(
  ctx: ServiceContext,
  liveCatalog: LiveCatalog,
  client: ClientRow,
  mcpId: string,
  tools: readonly string[] | null,
): Promise<string> {
  return assertSubscribableFor(ctx, liveCatalog, client.user.id, mcpId, tools);
}

/** {@link assertSubscribable} for a client of `userId` that may not exist yet (OAuth consent); the MCP's slug. */
export async function assertSubscribableFor(
  ctx: ServiceContext,
  liveCatalog: LiveCatalog,
  userId: string,
  mcpId: string,
  tools: readonly string[] | null,
): Promise<string> {
  const live = await liveCatalog.get(mcpId);
  const groups = new Set(await groupIdsOf(ctx, userId));
  if (live?.status !== 'published' || ![...live.groupIds].some((g) => groups.has(g))) {
    throw notFound('MCP', mcpId);
  }
  const unknown = (tools ?? []).filter((tool) => live.pins.get(pinKey('tool', tool))?.state !== 'approved');
  if (unknown.length > 0) {
    throw validationFailed(
      { tools: unknown.map((tool) => `"${tool}" is not a tool of ${live.slug}`) },
      'Some selected tools do not exist',
    );
  }
  return live.slug;
}

export async function subscribe(
  ctx: ServiceContext,
  liveCatalog: LiveCatalog,
  input: SubscribeInput,
): Promise<Subscription> {
  const actor = requireAuthenticated(ctx);
  const client = await manageableClient(ctx, actor, input.clientId);
  if (client.status === 'revoked') throw preconditionFailed('A revoked client cannot subscribe');
  const slug = await assertSubscribable(ctx, liveCatalog, client, input.mcpId, input.tools);
  try {
    return await withTransaction(
      ctx,
      async (tx) => {
        const now = new Date();
        const row = tx.em.create(SubscriptionEntity, {
          id: newId('subscription'),
          client: client.id,
          mcp: input.mcpId,
          tools: input.tools ? [...new Set(input.tools)] : null,
          createdAt: now,
          updatedAt: now,
        });
        await tx.em.flush();
        await emitAudit(tx, {
          action: 'subscription.create',
          target: { type: 'client', id: client.id, label: client.name },
          details: { mcpId: input.mcpId, mcp: slug, tools: row.tools ?? 'all' },
        });
        return toSubscription(row, slug);
      },
      CLIENTS_CHANGE,
    );
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) {
      throw conflict(`Client "${client.name}" is already subscribed to ${slug}`);
    }
    throw error;
  }
}

async function manageableSubscription(ctx: ServiceContext, actor: AuthenticatedActor, id: string) {
  const row = await ctx.em.findOne(SubscriptionEntity, { id }, { populate: ['client.user', 'mcp'] });
  if (!row || (row.client.user.id !== actor.userId && actor.role !== 'admin'))
    throw notFound('Subscription', id);
  return row;
}

export async function listSubscriptions(
  ctx: ServiceContext,
  clientId: string,
): Promise<{ items: Subscription[] }> {
  const actor = requireAuthenticated(ctx);
  const client = await ctx.em.findOne(ClientEntity, { id: clientId }, { populate: ['user'] });
  const mayRead =
    client && (client.user.id === actor.userId || actor.role === 'admin' || actor.role === 'auditor');
  if (!mayRead) throw notFound('Client', clientId);
  const rows = await ctx.em.find(
    SubscriptionEntity,
    { client: clientId },
    { populate: ['mcp'], orderBy: { createdAt: 'asc' } },
  );
  return { items: rows.map((row) => toSubscription(row, row.mcp.slug)) };
}

export async function updateSubscription(
  ctx: ServiceContext,
  liveCatalog: LiveCatalog,
  input: UpdateSubscriptionInput,
): Promise<Subscription> {
  const actor = requireAuthenticated(ctx);
  const existing = await manageableSubscription(ctx, actor, input.id);
  await assertSubscribable(ctx, liveCatalog, existing.client as ClientRow, existing.mcp.id, input.tools);
  return withTransaction(
    ctx,
    async (tx) => {
      const row = await manageableSubscription(tx, actor, input.id);
      const before = row.tools ?? 'all';
      tx.em.assign(row, { tools: input.tools ? [...new Set(input.tools)] : null, updatedAt: new Date() });
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'subscription.update',
        target: { type: 'client', id: row.client.id, label: row.client.name },
        details: { mcpId: row.mcp.id, mcp: row.mcp.slug, before, after: row.tools ?? 'all' },
      });
      return toSubscription(row, row.mcp.slug);
    },
    CLIENTS_CHANGE,
  );
}

export async function unsubscribe(ctx: ServiceContext, id: string): Promise<void> {
  const actor = requireAuthenticated(ctx);
  await withTransaction(
    ctx,
    async (tx) => {
      const row = await manageableSubscription(tx, actor, id);
      if (row.client.user.id !== actor.userId && actor.role !== 'admin') throw forbidden();
      tx.em.remove(row);
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'subscription.delete',
        target: { type: 'client', id: row.client.id, label: row.client.name },
        details: { mcpId: row.mcp.id, mcp: row.mcp.slug },
      });
    },
    CLIENTS_CHANGE,
  );
}
