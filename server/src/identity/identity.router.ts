import {
  ApiToken,
  ApiTokenList,
  ApiTokenRef,
  CreateApiTokenInput,
  CreatedApiToken,
  CreateFirstAdminInput,
  CreateGroupInput,
  CreateUserInput,
  DeleteUserResult,
  Group,
  GroupDetail,
  GroupList,
  GroupRef,
  ListUsersInput,
  LoginInput,
  Me,
  MembershipInput,
  Ok,
  ResetPasswordInput,
  SetupStatus,
  SuspendUserInput,
  UpdateGroupInput,
  UpdateUserInput,
  User,
  UserPage,
  UserRef,
} from '@gatehouse/schema';
import type { TrpcContext } from '../trpc/context.js';
import { router } from '../trpc/init.js';
import { authedProcedure, publicProcedure, setupProcedure } from '../trpc/procedures.js';
import { endUserSessionsProcedure } from './account.router.js';
import { createApiToken, listApiTokens, revokeApiToken } from './api-tokens.service.js';
import { login, logout } from './auth.service.js';
import {
  addGroupMember,
  createGroup,
  deleteGroup,
  getGroup,
  listGroups,
  removeGroupMember,
  updateGroup,
} from './groups.service.js';
import { sessionCookieName } from './request-auth.js';
import { describeCurrentPrincipal } from './sessions.service.js';
import { createFirstAdmin, getSetupStatus } from './setup.service.js';
import {
  createUser,
  deleteUser,
  getUser,
  listUsers,
  reactivateUser,
  resetPassword,
  suspendUser,
  updateUser,
} from './users.service.js';

const ok = { ok: true as const };

function setSessionCookie(ctx: TrpcContext, token: string) {
  ctx.reply.setCookie(sessionCookieName(ctx.config), token, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: ctx.config.secureTransport,
    maxAge: ctx.config.timings.sessionTtlSeconds,
  });
}

const userAgentOf = (ctx: TrpcContext) => String(ctx.req.headers['user-agent'] ?? '');

export const setupRouter = router({
  status: setupProcedure.output(SetupStatus).query(({ ctx }) => getSetupStatus(ctx, ctx.deps.setupGate)),
  createFirstAdmin: setupProcedure
    .input(CreateFirstAdminInput)
    .output(Me)
    .mutation(async ({ ctx, input }) => {
      const { token, me } = await createFirstAdmin(ctx, input, ctx.deps.setupGate, {
        userAgent: userAgentOf(ctx),
      });
      setSessionCookie(ctx, token);
      return me;
    }),
});

export const authRouter = router({
  login: publicProcedure
    .input(LoginInput)
    .output(Me)
    .mutation(async ({ ctx, input }) => {
      const { token, me } = await login(ctx, input, ctx.deps, { userAgent: userAgentOf(ctx) });
      setSessionCookie(ctx, token);
      return me;
    }),
  logout: authedProcedure.output(Ok).mutation(async ({ ctx }) => {
    if (ctx.authentication.kind === 'session') await logout(ctx, ctx.authentication.sessionToken);
    ctx.reply.clearCookie(sessionCookieName(ctx.config), { path: '/' });
    return ok;
  }),
  /** The signed-in user; for a portal session also the CSRF token to echo on mutations. */
  me: authedProcedure
    .output(Me)
    .query(({ ctx }) =>
      describeCurrentPrincipal(
        ctx,
        ctx.authentication.kind === 'session'
          ? { token: ctx.authentication.sessionToken, resolved: ctx.authentication.resolved }
          : undefined,
      ),
    ),
});

export const usersRouter = router({
  list: authedProcedure
    .input(ListUsersInput)
    .output(UserPage)
    .query(({ ctx, input }) => listUsers(ctx, input)),
  get: authedProcedure
    .input(UserRef)
    .output(User)
    .query(({ ctx, input }) => getUser(ctx, input.id)),
  create: authedProcedure
    .input(CreateUserInput)
    .output(User)
    .mutation(({ ctx, input }) => createUser(ctx, input)),
  update: authedProcedure
    .input(UpdateUserInput)
    .output(User)
    .mutation(({ ctx, input }) => updateUser(ctx, input)),
  suspend: authedProcedure
    .input(SuspendUserInput)
    .output(User)
    .mutation(({ ctx, input }) => suspendUser(ctx, input, ctx.deps.catalog.runtime)),
  reactivate: authedProcedure
    .input(UserRef)
    .output(User)
    .mutation(({ ctx, input }) => reactivateUser(ctx, input.id)),
  resetPassword: authedProcedure
    .input(ResetPasswordInput)
    .output(User)
    .mutation(({ ctx, input }) => resetPassword(ctx, input)),
  delete: authedProcedure
    .input(UserRef)
    .output(DeleteUserResult)
    .mutation(({ ctx, input }) => deleteUser(ctx, input.id, ctx.deps.catalog.runtime)),
  endSessions: endUserSessionsProcedure,
});

export const groupsRouter = router({
  list: authedProcedure.output(GroupList).query(({ ctx }) => listGroups(ctx)),
  get: authedProcedure
    .input(GroupRef)
    .output(GroupDetail)
    .query(({ ctx, input }) => getGroup(ctx, input.id)),
  create: authedProcedure
    .input(CreateGroupInput)
    .output(Group)
    .mutation(({ ctx, input }) => createGroup(ctx, input)),
  update: authedProcedure
    .input(UpdateGroupInput)
    .output(Group)
    .mutation(({ ctx, input }) => updateGroup(ctx, input)),
  delete: authedProcedure
    .input(GroupRef)
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await deleteGroup(ctx, input.id);
      return ok;
    }),
  addMember: authedProcedure
    .input(MembershipInput)
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await addGroupMember(ctx, input);
      return ok;
    }),
  removeMember: authedProcedure
    .input(MembershipInput)
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await removeGroupMember(ctx, input);
      return ok;
    }),
});

export const apiTokensRouter = router({
  list: authedProcedure.output(ApiTokenList).query(({ ctx }) => listApiTokens(ctx)),
  create: authedProcedure
    .input(CreateApiTokenInput)
    .output(CreatedApiToken)
    .mutation(({ ctx, input }) => createApiToken(ctx, input)),
  revoke: authedProcedure
    .input(ApiTokenRef)
    .output(ApiToken)
    .mutation(({ ctx, input }) => revokeApiToken(ctx, input.id)),
});
