import type { Role, SsoFailureReason } from '@gatehouse/schema';
import { emitAudit } from '../audit/emit.js';
import { GroupEntity, GroupMembershipEntity, UserEntity, type UserRow } from '../identity/entities.js';
import { IDENTITY_CHANGE } from '../identity/identity-change.js';
import { createPortalSession } from '../identity/sessions.service.js';
import type { ServiceContext } from '../platform/context.js';
import { withTransaction } from '../platform/context.js';
import { newId } from '../platform/ids.js';
import type { SsoProviderRow } from './entities.js';

/** The ID token claims Gatehouse reads (validated by openid-client before they get here). */
export interface SsoClaims {
  sub: string;
  email?: unknown;
  name?: unknown;
  preferred_username?: unknown;
  [claim: string]: unknown;
}

const roleRank: Record<Role, number> = { user: 0, auditor: 1, admin: 2 };
const text = (value: unknown, max: number): string =>
  typeof value === 'string' ? value.trim().replaceAll('\u0000', '').slice(0, max) : '';

const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;
const LOCAL_PART = /^[^\s@\p{Cc}]{1,64}$/u;

/** `sub` as sent: a non-empty string of at most 255 characters without NUL (never trimmed). */
export const validSubject = (sub: unknown): sub is string =>
  typeof sub === 'string' && sub.length > 0 && sub.length <= 255 && !sub.includes('\u0000');

/**
 * The email claim, lower-cased: `''` when absent, `undefined` (refused) when it is not a single well-formed
 * address of at most 254 characters with exactly one `@` and a valid domain. Checked before anything is cut.
 */
export function emailOf(raw: unknown): string | undefined {
  if (raw === undefined || raw === null) return '';
  if (typeof raw !== 'string' || raw.length > 254) return undefined;
  const parts = raw.toLowerCase().split('@');
  if (parts.length !== 2) return undefined;
  const [local = '', domain = ''] = parts;
  return LOCAL_PART.test(local) && DOMAIN.test(domain) ? `${local}@${domain}` : undefined;
}

/** The values of the groups claim: an array of strings or one string; at most 500, each bounded. */
export function claimValues(claims: SsoClaims, claim: string): Set<string> {
  const raw = claims[claim];
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : [];
  return new Set(
    list.filter((value): value is string => typeof value === 'string' && value.length <= 256).slice(0, 500),
  );
}

/** Highest role any claim value maps to; `user` when none does. */
export function mappedRole(provider: SsoProviderRow, values: Set<string>): Role {
  let role: Role = 'user';
  for (const mapping of provider.roleMappings) {
    if (values.has(mapping.claim) && roleRank[mapping.role] > roleRank[role]) role = mapping.role;
  }
  return role;
}

/** A unique username from `preferred_username` or the email's local part (`-2`, `-3`… when taken). */
async function freeUsername(ctx: ServiceContext, claims: SsoClaims, email: string): Promise<string> {
  const wanted = text(claims.preferred_username, 64) || email.split('@')[0] || 'user';
  let base = wanted
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 56);
  if (base.length < 3) base = `${base}-user`.replace(/^-/, '');
  for (let n = 1; n < 1000; n++) {
    const candidate = n === 1 ? base : `${base}-${n}`;
    if ((await ctx.em.count(UserEntity, { username: candidate })) === 0) return candidate;
  }
  return `${base.slice(0, 40)}-${newId('user').slice(4, 14).toLowerCase()}`;
}

export type ProvisionOutcome =
  | { sessionToken: string; userId: string }
  | { refused: SsoFailureReason; userId?: string };

/**
 * Just-in-time provisioning, in one transaction with the audit: the account linked to (provider, `sub`)
 * (never matched by email), created on first sign-in, its name, email, role and provider-managed group
 * memberships brought in line with the claims at every sign-in; then a portal session like a password sign-in.
 */
export async function provisionAndSignIn(
  ctx: ServiceContext,
  provider: SsoProviderRow,
  claims: SsoClaims,
  client: { userAgent: string },
): Promise<ProvisionOutcome> {
  // Identity claims are judged as the provider sent them: never trimmed, cut or normalised first.
  const subject = claims.sub;
  if (!validSubject(subject)) return { refused: 'claims' };
  const email = emailOf(claims.email);
  if (email === undefined) return { refused: 'claims' };
  // Default deny (ADR 0032): only the explicit "allow any domain" skips the domain check; an empty list
  // allows nobody.
  if (!provider.allowAnyDomain) {
    // A domain restriction means nothing for an address the provider has not verified.
    if (claims.email_verified !== true) return { refused: 'claims' };
    const domain = email.slice(email.indexOf('@') + 1);
    if (!email || !provider.allowedDomains.includes(domain)) return { refused: 'domain' };
  }
  const existing = await ctx.em.findOne(UserEntity, { ssoProvider: provider.id, ssoSubject: subject });
  if (existing && existing.status !== 'active') return { refused: 'suspended', userId: existing.id };
  const values = claimValues(claims, provider.groupsClaim);
  const claimedRole = mappedRole(provider, values);
  // The installation keeps an active admin (ADR 0007): the claims never demote the last one.
  const role =
    existing?.role === 'admin' &&
    claimedRole !== 'admin' &&
    (await ctx.em.count(UserEntity, { role: 'admin', status: 'active', id: { $ne: existing.id } })) === 0
      ? 'admin'
      : claimedRole;
  const wantedGroups = new Set(
    provider.groupMappings.filter((mapping) => values.has(mapping.claim)).map((mapping) => mapping.groupId),
  );
  const displayName =
    text(claims.name, 128) || text(claims.preferred_username, 128) || email || subject.slice(0, 128);
  const username = existing ? existing.username : await freeUsername(ctx, claims, email);

  return withTransaction(
    ctx,
    async (tx) => {
      const now = tx.clock.now();
      let user: UserRow;
      const changed: ('displayName' | 'email' | 'role' | 'groups')[] = [];
      let fromRole: Role | undefined;
      if (existing) {
        user = tx.em.merge(existing);
        if (user.displayName !== displayName) changed.push('displayName');
        if (user.email !== email) changed.push('email');
        if (user.role !== role) {
          changed.push('role');
          fromRole = user.role;
        }
        tx.em.assign(user, {
          displayName,
          email,
          role,
          lastLoginAt: now,
          ...(changed.length > 0 && { updatedAt: now }),
        });
      } else {
        user = tx.em.create(UserEntity, {
          id: newId('user'),
          username,
          displayName,
          email,
          role,
          status: 'active',
          passwordHash: null,
          ssoProvider: provider.id,
          ssoSubject: subject,
          createdAt: now,
          updatedAt: now,
          lastLoginAt: now,
        });
      }
      await tx.em.flush();

      // Provider-managed memberships follow the claims; a membership set by hand is left alone.
      const memberships = await tx.em.find(GroupMembershipEntity, { user: user.id });
      const held = new Map(memberships.map((m) => [m.group.id, m]));
      const added: string[] = [];
      const removed: string[] = [];
      for (const groupId of wantedGroups) {
        if (held.has(groupId)) continue;
        const group = await tx.em.findOne(GroupEntity, { id: groupId });
        if (!group || group.builtIn) continue;
        tx.em.create(GroupMembershipEntity, { group, user, sourceProvider: provider.id, createdAt: now });
        added.push(group.name);
      }
      for (const membership of memberships) {
        if (membership.sourceProvider?.id !== provider.id || wantedGroups.has(membership.group.id)) continue;
        const group = await tx.em.findOneOrFail(GroupEntity, { id: membership.group.id });
        tx.em.remove(membership);
        removed.push(group.name);
      }
      await tx.em.flush();
      if (added.length > 0 || removed.length > 0) changed.push('groups');

      const target = { type: 'user', id: user.id, label: user.username };
      const { token, session } = createPortalSession(tx.em, user, ctx.config, { ip: ctx.ip, ...client });
      await tx.em.flush();
      // The person signing in is the actor of what their claims changed (the provider is named in details).
      const asUser = {
        ...tx,
        actor: {
          type: 'user' as const,
          userId: user.id,
          username: user.username,
          role: user.role,
          sessionId: session.id,
        },
      };
      if (!existing) {
        await emitAudit(asUser, {
          action: 'user.provisioned',
          target,
          details: { provider: provider.slug, role, groupsAdded: added },
        });
      } else if (changed.length > 0) {
        await emitAudit(asUser, {
          action: 'user.sso_updated',
          target,
          details: {
            provider: provider.slug,
            changed,
            ...(fromRole && { fromRole, role }),
            ...(added.length > 0 && { groupsAdded: added }),
            ...(removed.length > 0 && { groupsRemoved: removed }),
          },
        });
      }
      await emitAudit(asUser, { action: 'auth.sso_login', target, details: { provider: provider.slug } });
      return { sessionToken: token, userId: user.id };
    },
    IDENTITY_CHANGE,
  );
}
