import type {
  CreateGroupInput,
  Group,
  GroupDetail,
  MembershipInput,
  UpdateGroupInput,
} from '@gatehouse/schema';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { emitAudit } from '../audit/emit.js';
import { requireRole, type ServiceContext, withTransaction } from '../platform/context.js';
import { conflict, notFound, preconditionFailed } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { GroupEntity, GroupMembershipEntity, type GroupRow, UserEntity } from './entities.js';
import { IDENTITY_CHANGE } from './identity-change.js';

/** The built-in group every user belongs to implicitly. */
export const EVERYONE_GROUP_ID = 'grp_builtinEveryone';

async function memberCounts(ctx: ServiceContext, groups: GroupRow[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  if (groups.length === 0) return counts;
  const rows = await ctx.em.getConnection().execute<{ group_id: string; count: string }[]>(
    `select group_id, count(*) as count from group_membership where group_id in (${groups.map(() => '?').join(',')}) group by group_id`,
    groups.map((g) => g.id),
  );
  for (const row of rows) counts.set(row.group_id, Number(row.count));
  if (groups.some((g) => g.id === EVERYONE_GROUP_ID))
    counts.set(EVERYONE_GROUP_ID, await ctx.em.count(UserEntity, {}));
  return counts;
}

const toGroup = (row: GroupRow, memberCount: number): Group => ({
  id: row.id,
  name: row.name,
  description: row.description,
  builtIn: row.builtIn,
  memberCount,
  createdAt: row.createdAt.toISOString(),
});

export async function listGroups(ctx: ServiceContext): Promise<{ items: Group[] }> {
  requireRole(ctx, 'admin', 'auditor');
  const rows = await ctx.em.find(GroupEntity, {}, { orderBy: { name: 'asc' }, limit: 1000 });
  const counts = await memberCounts(ctx, rows);
  return { items: rows.map((row) => toGroup(row, counts.get(row.id) ?? 0)) };
}

async function getGroupRow(ctx: ServiceContext, id: string): Promise<GroupRow> {
  const row = await ctx.em.findOne(GroupEntity, { id });
  if (!row) throw notFound('Group', id);
  return row;
}

export async function getGroup(ctx: ServiceContext, id: string): Promise<GroupDetail> {
  requireRole(ctx, 'admin', 'auditor');
  const row = await getGroupRow(ctx, id);
  const memberships = await ctx.em.find(
    GroupMembershipEntity,
    { group: id },
    { populate: ['user', 'sourceProvider'], orderBy: { user: { username: 'asc' } }, limit: 1000 },
  );
  const counts = await memberCounts(ctx, [row]);
  return {
    ...toGroup(row, counts.get(row.id) ?? 0),
    members: memberships.map((m) => ({
      id: m.user.id,
      username: m.user.username,
      displayName: m.user.displayName,
      managedBy: m.sourceProvider?.displayName ?? null,
    })),
  };
}

const nameTaken = (name: string) =>
  conflict(`Group "${name}" already exists`, { name: ['is already taken'] });

export async function createGroup(ctx: ServiceContext, input: CreateGroupInput): Promise<Group> {
  requireRole(ctx, 'admin');
  if (await ctx.em.count(GroupEntity, { name: input.name })) throw nameTaken(input.name);
  try {
    return await withTransaction(
      ctx,
      async (tx) => {
        const group = tx.em.create(GroupEntity, {
          id: newId('group'),
          name: input.name,
          description: input.description,
          builtIn: false,
          createdAt: new Date(),
        });
        await tx.em.flush();
        await emitAudit(tx, {
          action: 'group.create',
          target: { type: 'group', id: group.id, label: group.name },
        });
        return toGroup(group, 0);
      },
      IDENTITY_CHANGE,
    );
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) throw nameTaken(input.name);
    throw error;
  }
}

export async function updateGroup(ctx: ServiceContext, input: UpdateGroupInput): Promise<Group> {
  requireRole(ctx, 'admin');
  try {
    return await withTransaction(
      ctx,
      async (tx) => {
        const group = await getGroupRow(tx, input.id);
        if (group.builtIn && input.name !== undefined && input.name !== group.name) {
          throw preconditionFailed(`The built-in group "${group.name}" cannot be renamed`);
        }
        const changed = (['name', 'description'] as const).filter(
          (field) => input[field] !== undefined && input[field] !== group[field],
        );
        if (changed.length > 0) {
          tx.em.assign(group, Object.fromEntries(changed.map((field) => [field, input[field]])));
          await tx.em.flush();
          await emitAudit(tx, {
            action: 'group.update',
            target: { type: 'group', id: group.id, label: group.name },
            details: { changed },
          });
        }
        const counts = await memberCounts(tx, [group]);
        return toGroup(group, counts.get(group.id) ?? 0);
      },
      IDENTITY_CHANGE,
    );
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) throw nameTaken(input.name ?? '');
    throw error;
  }
}

export async function deleteGroup(ctx: ServiceContext, id: string): Promise<void> {
  requireRole(ctx, 'admin');
  await withTransaction(
    ctx,
    async (tx) => {
      const group = await getGroupRow(tx, id);
      if (group.builtIn) throw preconditionFailed(`The built-in group "${group.name}" cannot be deleted`);
      tx.em.remove(group);
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'group.delete',
        target: { type: 'group', id: group.id, label: group.name },
      });
    },
    IDENTITY_CHANGE,
  );
}

export async function addGroupMember(ctx: ServiceContext, input: MembershipInput): Promise<void> {
  requireRole(ctx, 'admin');
  await withTransaction(
    ctx,
    async (tx) => {
      const group = await getGroupRow(tx, input.groupId);
      if (group.builtIn) throw preconditionFailed(`Membership of "${group.name}" is implicit`);
      const user = await tx.em.findOne(UserEntity, { id: input.userId });
      if (!user) throw notFound('User', input.userId);
      if (await tx.em.count(GroupMembershipEntity, { group: group.id, user: user.id })) {
        throw conflict(`"${user.username}" is already a member of "${group.name}"`);
      }
      tx.em.create(GroupMembershipEntity, { group, user, sourceProvider: null, createdAt: new Date() });
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'group.add_member',
        target: { type: 'group', id: group.id, label: group.name },
        details: { userId: user.id, username: user.username },
      });
    },
    IDENTITY_CHANGE,
  );
}

export async function removeGroupMember(ctx: ServiceContext, input: MembershipInput): Promise<void> {
  requireRole(ctx, 'admin');
  await withTransaction(
    ctx,
    async (tx) => {
      const group = await getGroupRow(tx, input.groupId);
      if (group.builtIn) throw preconditionFailed(`Membership of "${group.name}" is implicit`);
      const membership = await tx.em.findOne(
        GroupMembershipEntity,
        { group: group.id, user: input.userId },
        { populate: ['sourceProvider'] },
      );
      if (!membership) throw notFound('Membership of user', input.userId);
      if (membership.sourceProvider) {
        throw preconditionFailed(
          `This membership comes from single sign-on (${membership.sourceProvider.displayName}); change it at the provider`,
        );
      }
      await tx.em.nativeDelete(GroupMembershipEntity, { group: group.id, user: input.userId });
      await emitAudit(tx, {
        action: 'group.remove_member',
        target: { type: 'group', id: group.id, label: group.name },
        details: { userId: input.userId },
      });
    },
    IDENTITY_CHANGE,
  );
}
