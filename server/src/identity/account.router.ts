import {
  ChangePasswordInput,
  ChangePasswordResult,
  EndedSessions,
  EndUserSessionsInput,
  Ok,
  PortalSessionList,
  PortalSessionRef,
} from '@gatehouse/schema';
import { router } from '../trpc/init.js';
import { authedProcedure } from '../trpc/procedures.js';
import { changeOwnPassword, endOwnSession, endUserSessions, listOwnSessions } from './account.service.js';

/** The signed-in person's own account: password and portal sessions. */
export const accountRouter = router({
  changePassword: authedProcedure
    .input(ChangePasswordInput)
    .output(ChangePasswordResult)
    .mutation(({ ctx, input }) => changeOwnPassword(ctx, input, ctx.deps)),
  sessions: authedProcedure.output(PortalSessionList).query(({ ctx }) => listOwnSessions(ctx)),
  endSession: authedProcedure
    .input(PortalSessionRef)
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await endOwnSession(ctx, input.id);
      return { ok: true as const };
    }),
});

/** `users.endSessions`: an admin signs a user out everywhere. */
export const endUserSessionsProcedure = authedProcedure
  .input(EndUserSessionsInput)
  .output(EndedSessions)
  .mutation(({ ctx, input }) => endUserSessions(ctx, input));
