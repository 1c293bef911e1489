import type { ConsentClient, ConsentInput, InteractionDetails } from '@gatehouse/schema';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { emitAudit, emitStandaloneAudit } from '../audit/emit.js';
import { McpServerEntity } from '../catalog/entities.js';
import type { LiveCatalog } from '../catalog/live-catalog.js';
import { listMarketplace } from '../catalog/marketplace.service.js';
import { assertSubscribableFor } from '../clients/clients.service.js';
import { ClientEntity, type ClientRow, SubscriptionEntity } from '../clients/entities.js';
import { requireAuthenticated, type ServiceContext, withTransaction } from '../platform/context.js';
import { conflict, validationFailed } from '../platform/errors.js';
import { newId } from '../platform/ids.js';

/** What the consent step knows of the authorization request, from oidc-provider's interaction. */
export interface PendingAuthorization {
  readonly uid: string;
  readonly client: ConsentClient;
  /** The one resource the token will be bound to, and the MCP it names (null: the aggregate `/mcp`). */
  readonly resource: string;
  readonly slug: string | null;
}

/** The person's current Gatehouse client for this OAuth client (a revoked one is history, not reused). */
const currentClient = (ctx: ServiceContext, userId: string, oauthClientId: string) =>
  ctx.em.findOne(ClientEntity, { user: userId, oauthClientId, status: { $ne: 'revoked' } });

/**
 * What the consent screen shows: the client asking, and the MCPs this person may subscribe to (the same rules
 * as "subscribe" in My clients), with the current selection when they already granted this client.
 */
export async function consentDetails(
  ctx: ServiceContext,
  pending: PendingAuthorization,
): Promise<InteractionDetails> {
  const actor = requireAuthenticated(ctx);
  const existing = await currentClient(ctx, actor.userId, pending.client.clientId);
  const selection = new Map<string, string[] | null>();
  if (existing) {
    for (const sub of await ctx.em.find(SubscriptionEntity, { client: existing.id })) {
      selection.set(sub.mcp.id, sub.tools ?? null);
    }
  }
  const { items } = await listMarketplace(ctx);
  return {
    uid: pending.uid,
    client: pending.client,
    resource: pending.resource,
    existingClient: existing ? { id: existing.id, name: existing.name } : null,
    mcps: items
      .filter((mcp) => pending.slug === null || mcp.slug === pending.slug)
      .map((mcp) => ({
        id: mcp.id,
        slug: mcp.slug,
        name: mcp.name,
        tools: mcp.tools.map((tool) => ({
          name: tool.name,
          ...(tool.description !== undefined && { description: tool.description }),
        })),
        subscribed: selection.has(mcp.id),
        selectedTools: selection.get(mcp.id) ?? null,
      })),
  };
}

/**
 * The person consents: every chosen MCP and tool is checked against what they may subscribe to, then their
 * Gatehouse client for this OAuth client is created (or reused) with exactly these subscriptions, audited, in
 * one transaction. The caller then records the grant with oidc-provider and finishes the interaction.
 */
export async function grantConsent(
  ctx: ServiceContext,
  liveCatalog: LiveCatalog,
  pending: PendingAuthorization,
  input: ConsentInput,
): Promise<{ clientId: string }> {
  const actor = requireAuthenticated(ctx);
  const ids = input.subscriptions.map((sub) => sub.mcpId);
  if (new Set(ids).size !== ids.length) throw validationFailed({ subscriptions: ['An MCP is chosen twice'] });
  const chosen: { mcpId: string; slug: string; tools: string[] | null }[] = [];
  for (const sub of input.subscriptions) {
    const slug = await assertSubscribableFor(ctx, liveCatalog, actor.userId, sub.mcpId, sub.tools);
    if (pending.slug !== null && slug !== pending.slug) {
      throw validationFailed({ subscriptions: [`This client asked for ${pending.slug} only`] });
    }
    chosen.push({ mcpId: sub.mcpId, slug, tools: sub.tools ? [...new Set(sub.tools)] : null });
  }
  const { client } = pending;
  try {
    return await withTransaction(
      ctx,
      async (tx) => {
        let row: ClientRow | null = await currentClient(tx, actor.userId, client.clientId);
        const created = !row;
        if (!row) {
          row = tx.em.create(ClientEntity, {
            id: newId('client'),
            user: actor.userId,
            name: client.name.slice(0, 128),
            kind: 'other',
            status: 'active',
            keyHash: null,
            keyPrefix: null,
            oauthClientId: client.clientId,
            oauthRegistration: client.registration,
            oauthDomain: client.domain,
            createdAt: ctx.clock.now(),
            lastSeenAt: null,
            lastSeenIp: null,
            suspendedBy: null,
          });
        } else {
          tx.em.assign(row, { name: client.name.slice(0, 128), oauthDomain: client.domain });
        }
        await tx.em.flush();
        // Consent to one MCP replaces that MCP's subscription only; consent to `/mcp` replaces them all.
        const only =
          pending.slug === null ? null : await tx.em.findOne(McpServerEntity, { slug: pending.slug });
        if (pending.slug === null || only) {
          await tx.em.nativeDelete(SubscriptionEntity, { client: row.id, ...(only && { mcp: only.id }) });
        }
        const now = ctx.clock.now();
        for (const sub of chosen) {
          tx.em.create(SubscriptionEntity, {
            id: newId('subscription'),
            client: row.id,
            mcp: sub.mcpId,
            tools: sub.tools,
            createdAt: now,
            updatedAt: now,
          });
        }
        await tx.em.flush();
        await emitAudit(tx, {
          action: 'oauth.consent_granted',
          target: { type: 'client', id: row.id, label: row.name },
          details: {
            oauthClientId: client.clientId,
            registration: client.registration,
            domain: client.domain,
            resource: pending.resource,
            created,
            subscriptions: chosen.map((sub) => ({
              mcpId: sub.mcpId,
              mcp: sub.slug,
              tools: sub.tools ?? 'all',
            })),
          },
        });
        return { clientId: row.id };
      },
      { kind: 'clients' },
    );
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) {
      throw conflict('This client is being granted already; try again');
    }
    throw error;
  }
}

/** The person declines: audited; nothing else changes. */
export async function denyConsent(ctx: ServiceContext, pending: PendingAuthorization): Promise<void> {
  requireAuthenticated(ctx);
  await emitStandaloneAudit(ctx, {
    action: 'oauth.consent_denied',
    outcome: 'denied',
    details: { oauthClientId: pending.client.clientId, resource: pending.resource },
  });
}
