import { z } from 'zod';
import {
  ApiTokenId,
  Description,
  DisplayName,
  Email,
  GroupId,
  IsoDateTime,
  NewPassword,
  PageInput,
  PasswordAttempt,
  page,
  Reason,
  SearchText,
  UserId,
  Username,
} from './common.js';

export const Role = z.enum(['admin', 'auditor', 'user']);
export type Role = z.infer<typeof Role>;
export const UserStatus = z.enum(['active', 'suspended']);
export type UserStatus = z.infer<typeof UserStatus>;

export const User = z.object({
  id: UserId,
  username: z.string(),
  displayName: z.string(),
  email: z.string(),
  role: Role,
  status: UserStatus,
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
  lastLoginAt: IsoDateTime.nullable(),
  /** The single sign-on provider the user was provisioned by (they have no local password); null if local. */
  ssoProviderId: z.string().nullable(),
});
export type User = z.infer<typeof User>;

export const SetupStatus = z.object({ setupRequired: z.boolean() });
export type SetupStatus = z.infer<typeof SetupStatus>;

export const CreateFirstAdminInput = z.object({
  username: Username,
  displayName: DisplayName,
  email: Email,
  password: NewPassword,
});
export type CreateFirstAdminInput = z.infer<typeof CreateFirstAdminInput>;

export const LoginInput = z.object({
  username: z.string().trim().toLowerCase().min(1).max(64),
  password: PasswordAttempt,
});
export type LoginInput = z.infer<typeof LoginInput>;

export const SessionProfile = z.enum(['default', 'high-security', 'development']);
export type SessionProfile = z.infer<typeof SessionProfile>;

/**
 * The signed-in principal. For a portal session, `csrfToken` must be echoed in `x-gatehouse-csrf` on
 * mutations; API-token callers get nulls there (they need no CSRF token and have no session).
 */
export const Me = z.object({
  user: User,
  via: z.enum(['session', 'api_token']),
  csrfToken: z.string().nullable(),
  sessionExpiresAt: IsoDateTime.nullable(),
  idleTimeoutSeconds: z.number().int().nullable(),
});
export type Me = z.infer<typeof Me>;

export const ListUsersInput = PageInput.extend({
  search: SearchText.optional(),
  role: Role.optional(),
  status: UserStatus.optional(),
});
export type ListUsersInput = z.infer<typeof ListUsersInput>;
export const UserPage = page(User);

export const CreateUserInput = z.object({
  username: Username,
  displayName: DisplayName,
  email: Email,
  role: Role.default('user'),
  password: NewPassword,
});
export type CreateUserInput = z.infer<typeof CreateUserInput>;

export const UpdateUserInput = z.object({
  id: UserId,
  displayName: DisplayName.optional(),
  email: Email.optional(),
  role: Role.optional(),
});
export type UpdateUserInput = z.infer<typeof UpdateUserInput>;

export const UserRef = z.object({ id: UserId });
export const SuspendUserInput = z.object({ id: UserId, reason: Reason.optional() });
export type SuspendUserInput = z.infer<typeof SuspendUserInput>;
export const ResetPasswordInput = z.object({ id: UserId, newPassword: NewPassword });
export type ResetPasswordInput = z.infer<typeof ResetPasswordInput>;
export const DeleteUserResult = z.object({ outcome: z.enum(['deleted', 'suspended']) });
export type DeleteUserResult = z.infer<typeof DeleteUserResult>;

export const GroupName = z
  .string()
  .trim()
  .toLowerCase()
  .min(2)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'letters, digits, dot, dash and underscore');

export const Group = z.object({
  id: GroupId,
  name: z.string(),
  description: z.string(),
  builtIn: z.boolean(),
  memberCount: z.number().int(),
  createdAt: IsoDateTime,
});
export type Group = z.infer<typeof Group>;
export const GroupMember = z.object({
  id: UserId,
  username: z.string(),
  displayName: z.string(),
  /** The SSO provider (display name) that manages this membership; null for a membership set by hand. */
  managedBy: z.string().nullable(),
});
export const GroupDetail = Group.extend({ members: z.array(GroupMember) });
export type GroupDetail = z.infer<typeof GroupDetail>;
export const GroupList = z.object({ items: z.array(Group) });

export const CreateGroupInput = z.object({ name: GroupName, description: Description.default('') });
export type CreateGroupInput = z.infer<typeof CreateGroupInput>;
export const UpdateGroupInput = z.object({
  id: GroupId,
  name: GroupName.optional(),
  description: Description.optional(),
});
export type UpdateGroupInput = z.infer<typeof UpdateGroupInput>;
export const GroupRef = z.object({ id: GroupId });
export const MembershipInput = z.object({ groupId: GroupId, userId: UserId });
export type MembershipInput = z.infer<typeof MembershipInput>;

export const ApiToken = z.object({
  id: ApiTokenId,
  name: z.string(),
  displayPrefix: z.string(),
  role: Role,
  createdBy: UserId,
  createdAt: IsoDateTime,
  expiresAt: IsoDateTime.nullable(),
  lastUsedAt: IsoDateTime.nullable(),
  revokedAt: IsoDateTime.nullable(),
});
export type ApiToken = z.infer<typeof ApiToken>;
export const CreateApiTokenInput = z.object({
  name: DisplayName,
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});
export type CreateApiTokenInput = z.infer<typeof CreateApiTokenInput>;
/** The only response that ever carries the token secret: shown once at creation. */
export const CreatedApiToken = z.object({ token: z.string(), apiToken: ApiToken });
export type CreatedApiToken = z.infer<typeof CreatedApiToken>;
export const ApiTokenList = z.object({ items: z.array(ApiToken) });
export const ApiTokenRef = z.object({ id: ApiTokenId });
export const Ok = z.object({ ok: z.literal(true) });
