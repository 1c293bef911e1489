import type {
  CreateSsoProviderInput,
  SignInOptions,
  SsoProvider,
  UpdateSsoProviderInput,
} from '@gatehouse/schema';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { emitAudit } from '../audit/emit.js';
import { GroupEntity, GroupMembershipEntity, PortalSessionEntity, UserEntity } from '../identity/entities.js';
import { IDENTITY_CHANGE } from '../identity/identity-change.js';
import { fenceUser, type UserInstances } from '../identity/user-fence.js';
import { requireRole, type ServiceContext, withTransaction } from '../platform/context.js';
import { conflict, notFound, preconditionFailed, validationFailed } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import type { Vault } from '../vault/vault.js';
import { SsoProviderEntity, type SsoProviderRow } from './entities.js';
import { localPasswordsPolicy } from './settings.service.js';

/** Where a provider's client secret is sealed. */
export const clientSecretSlot = (providerId: string) => ({
  owner: providerId,
  mcpId: 'sso',
  field: 'sso:client_secret',
});

async function toProvider(ctx: ServiceContext, row: SsoProviderRow): Promise<SsoProvider> {
  const ids = row.groupMappings.map((mapping) => mapping.groupId);
  const groups = ids.length > 0 ? await ctx.em.find(GroupEntity, { id: { $in: ids } }) : [];
  const names = new Map(groups.map((group) => [group.id, group.name]));
  return {
    id: row.id,
    slug: row.slug,
    displayName: row.displayName,
    issuer: row.issuer,
    clientId: row.clientId,
    clientSecret: row.clientSecretSealed ? 'set' : 'not set',
    scopes: row.scopes,
    groupsClaim: row.groupsClaim,
    groupMappings: row.groupMappings
      .filter((mapping) => names.has(mapping.groupId))
      .map((mapping) => ({ ...mapping, groupName: names.get(mapping.groupId) ?? '' })),
    roleMappings: row.roleMappings,
    allowedDomains: row.allowedDomains,
    allowAnyDomain: row.allowAnyDomain,
    enabled: row.enabled,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** http issuers only where outbound OAuth may use http (tests, labs); https everywhere else. */
function assertIssuerAllowed(ctx: ServiceContext, issuer: string) {
  if (new URL(issuer).protocol !== 'https:' && !ctx.config.oauth.allowHttp) {
    throw validationFailed({ issuer: ['must be an https URL'] });
  }
}

/**
 * Email domains are default deny (ADR 0032): an enabled provider lists the domains that may sign in, or takes
 * any domain as an explicit choice; never both, so a listed domain never looks like a restriction it is not.
 */
function assertDomainChoice(provider: {
  allowedDomains: string[];
  allowAnyDomain: boolean;
  enabled: boolean;
}) {
  if (provider.allowAnyDomain && provider.allowedDomains.length > 0) {
    throw validationFailed(
      { allowAnyDomain: ['clear the allowed domains to allow any domain'] },
      'Allow any domain, or list allowed domains: not both',
    );
  }
  if (provider.enabled && !provider.allowAnyDomain && provider.allowedDomains.length === 0) {
    throw validationFailed(
      { allowedDomains: ['list the email domains that may sign in, or choose to allow any domain'] },
      'An enabled provider needs its allowed email domains, or "allow any domain"',
    );
  }
}

/** Mapped groups are chosen by name; missing ones are created (and audited) in the same transaction. */
async function resolveGroupMappings(
  tx: ServiceContext,
  mappings: { claim: string; groupName: string }[],
): Promise<{ mappings: { claim: string; groupId: string }[]; created: string[] }> {
  const created: string[] = [];
  const resolved: { claim: string; groupId: string }[] = [];
  for (const mapping of mappings) {
    let group = await tx.em.findOne(GroupEntity, { name: mapping.groupName });
    if (group?.builtIn) throw validationFailed({ groupMappings: [`"${group.name}" is implicit`] });
    if (!group) {
      group = tx.em.create(GroupEntity, {
        id: newId('group'),
        name: mapping.groupName,
        description: 'Created for a single sign-on group mapping',
        builtIn: false,
        createdAt: tx.clock.now(),
      });
      await tx.em.flush();
      created.push(group.name);
      await emitAudit(tx, {
        action: 'group.create',
        target: { type: 'group', id: group.id, label: group.name },
      });
    }
    resolved.push({ claim: mapping.claim, groupId: group.id });
  }
  return { mappings: resolved, created };
}

/** Ends the portal sessions of every user linked to the provider; returns how many. */
async function endLinkedSessions(tx: ServiceContext, providerId: string): Promise<number> {
  const users = await tx.em.find(UserEntity, { ssoProvider: providerId }, { fields: ['id'] });
  if (users.length === 0) return 0;
  return tx.em.nativeDelete(PortalSessionEntity, { user: { $in: users.map((user) => user.id) } });
}

const slugTaken = (slug: string) =>
  conflict(`Provider "${slug}" already exists`, { slug: ['is already taken'] });

export class SsoProviders {
  constructor(
    private readonly vault: Vault,
    private readonly instances: UserInstances,
  ) {}

  async list(ctx: ServiceContext): Promise<{ items: SsoProvider[] }> {
    requireRole(ctx, 'admin', 'auditor');
    const rows = await ctx.em.find(SsoProviderEntity, {}, { orderBy: { slug: 'asc' }, limit: 100 });
    return { items: await Promise.all(rows.map((row) => toProvider(ctx, row))) };
  }

  async create(ctx: ServiceContext, input: CreateSsoProviderInput): Promise<SsoProvider> {
    requireRole(ctx, 'admin');
    assertIssuerAllowed(ctx, input.issuer);
    assertDomainChoice(input);
    if (await ctx.em.count(SsoProviderEntity, { slug: input.slug })) throw slugTaken(input.slug);
    try {
      return await withTransaction(
        ctx,
        async (tx) => {
          const id = newId('ssoProvider');
          const { mappings, created } = await resolveGroupMappings(tx, input.groupMappings);
          const { sealed } = await this.vault.seal(tx.em, clientSecretSlot(id), input.clientSecret);
          const now = tx.clock.now();
          const row = tx.em.create(SsoProviderEntity, {
            id,
            slug: input.slug,
            displayName: input.displayName,
            issuer: input.issuer,
            clientId: input.clientId,
            clientSecretSealed: sealed,
            scopes: input.scopes,
            groupsClaim: input.groupsClaim,
            groupMappings: mappings,
            roleMappings: input.roleMappings,
            allowedDomains: input.allowedDomains,
            allowAnyDomain: input.allowAnyDomain,
            enabled: input.enabled,
            createdAt: now,
            updatedAt: now,
          });
          await tx.em.flush();
          await emitAudit(tx, {
            action: 'sso.provider_created',
            target: { type: 'sso_provider', id, label: input.slug },
            details: {
              slug: input.slug,
              after: {
                issuer: input.issuer,
                clientId: input.clientId,
                roleMappings: input.roleMappings,
                groupMappings: mappings,
                allowedDomains: input.allowedDomains,
                allowAnyDomain: input.allowAnyDomain,
                enabled: input.enabled,
              },
              clientSecret: 'set',
              groupsCreated: created,
            },
          });
          return toProvider(tx, row);
        },
        IDENTITY_CHANGE,
      );
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw slugTaken(input.slug);
      throw error;
    }
  }

  async update(ctx: ServiceContext, input: UpdateSsoProviderInput): Promise<SsoProvider> {
    requireRole(ctx, 'admin');
    if (input.issuer !== undefined) assertIssuerAllowed(ctx, input.issuer);
    return withTransaction(
      ctx,
      async (tx) => {
        const row = await tx.em.findOne(SsoProviderEntity, { id: input.id });
        if (!row) throw notFound('SSO provider', input.id);
        assertDomainChoice({
          allowedDomains: input.allowedDomains ?? row.allowedDomains,
          allowAnyDomain: input.allowAnyDomain ?? row.allowAnyDomain,
          enabled: input.enabled ?? row.enabled,
        });
        const plain = [
          'displayName',
          'issuer',
          'clientId',
          'scopes',
          'groupsClaim',
          'roleMappings',
          'allowedDomains',
          'allowAnyDomain',
          'enabled',
        ] as const;
        // Accounts are linked by (provider, sub), and a sub means something only at its issuer: another
        // issuer is another provider (ADR 0032).
        if (
          input.issuer !== undefined &&
          input.issuer !== row.issuer &&
          (await tx.em.count(UserEntity, { ssoProvider: row.id })) > 0
        ) {
          throw preconditionFailed(
            'Users are linked to this provider: its issuer cannot change. Add a new provider for the new issuer.',
          );
        }
        const changed: string[] = [];
        const before: Record<string, unknown> = {};
        const after: Record<string, unknown> = {};
        for (const field of plain) {
          const value = input[field];
          if (value !== undefined && JSON.stringify(value) !== JSON.stringify(row[field])) {
            before[field] = row[field];
            after[field] = value;
            (row as Record<string, unknown>)[field] = value;
            changed.push(field);
          }
        }
        let created: string[] = [];
        if (input.groupMappings !== undefined) {
          const resolved = await resolveGroupMappings(tx, input.groupMappings);
          created = resolved.created;
          if (JSON.stringify(resolved.mappings) !== JSON.stringify(row.groupMappings)) {
            before.groupMappings = row.groupMappings;
            after.groupMappings = resolved.mappings;
            row.groupMappings = resolved.mappings;
            changed.push('groupMappings');
          }
        }
        if (input.clientSecret !== undefined) {
          row.clientSecretSealed = (
            await this.vault.seal(tx.em, clientSecretSlot(row.id), input.clientSecret)
          ).sealed;
        }
        if (changed.length === 0 && input.clientSecret === undefined) return toProvider(tx, row);
        row.updatedAt = tx.clock.now();
        await tx.em.flush();
        // Turning a provider off signs out everyone who signed in with it.
        const sessionsEnded =
          changed.includes('enabled') && !row.enabled ? await endLinkedSessions(tx, row.id) : 0;
        await emitAudit(tx, {
          action: 'sso.provider_updated',
          target: { type: 'sso_provider', id: row.id, label: row.slug },
          details: {
            slug: row.slug,
            changed,
            ...(changed.length > 0 && { before, after }),
            clientSecret: input.clientSecret === undefined ? 'unchanged' : 'set',
            ...(created.length > 0 && { groupsCreated: created }),
            ...(changed.includes('enabled') && !row.enabled && { sessionsEnded }),
          },
        });
        return toProvider(tx, row);
      },
      IDENTITY_CHANGE,
    );
  }

  /**
   * Deleting a provider removes the memberships it managed (access that came from it goes with it), and
   * suspends the users linked to it, their sessions ended: they have no other way to sign in, and their
   * tokens and keys must not outlive the provider silently (an admin may reactivate them; ADR 0032).
   */
  async delete(ctx: ServiceContext, id: string): Promise<void> {
    const actor = requireRole(ctx, 'admin');
    const suspended = await withTransaction(
      ctx,
      async (tx) => {
        const row = await tx.em.findOne(SsoProviderEntity, { id });
        if (!row) throw notFound('SSO provider', id);
        const linked = await tx.em.find(UserEntity, { ssoProvider: id, status: 'active' });
        if (linked.some((user) => user.id === actor.userId)) {
          throw preconditionFailed('You sign in with this provider: another admin must delete it');
        }
        const linkedIds = linked.map((user) => user.id);
        const otherAdmins = await tx.em.count(UserEntity, {
          role: 'admin',
          status: 'active',
          id: { $nin: linkedIds },
        });
        if (otherAdmins === 0) throw preconditionFailed('Deleting it would leave no active admin');
        const membershipsRemoved = await tx.em.nativeDelete(GroupMembershipEntity, { sourceProvider: id });
        const sessionsEnded = await endLinkedSessions(tx, id);
        const now = tx.clock.now();
        for (const user of linked) tx.em.assign(user, { status: 'suspended', updatedAt: now });
        await tx.em.flush();
        for (const user of linked) {
          await emitAudit(tx, {
            action: 'user.suspend',
            target: { type: 'user', id: user.id, label: user.username },
            reason: `its sign-in provider ${row.slug} was deleted`,
          });
        }
        tx.em.remove(row);
        await tx.em.flush();
        await emitAudit(tx, {
          action: 'sso.provider_deleted',
          target: { type: 'sso_provider', id, label: row.slug },
          details: { slug: row.slug, membershipsRemoved, usersSuspended: linked.length, sessionsEnded },
        });
        return linkedIds;
      },
      IDENTITY_CHANGE,
    );
    for (const userId of suspended)
      await fenceUser(ctx, this.instances, userId, 'their sign-in provider was deleted');
  }
}

/** For the sign-in screen, before anyone is signed in: enabled providers (slug and name only) and the policy. */
export async function signInOptions(ctx: ServiceContext): Promise<SignInOptions> {
  const rows = await ctx.em.find(
    SsoProviderEntity,
    { enabled: true },
    { orderBy: { slug: 'asc' }, limit: 100 },
  );
  return {
    providers: rows.map((row) => ({ slug: row.slug, displayName: row.displayName })),
    localPasswords: await localPasswordsPolicy(ctx.em),
  };
}
