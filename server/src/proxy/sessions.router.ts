import { McpSessionList, Ok, TerminateSessionInput } from '@gatehouse/schema';
import { router } from '../trpc/init.js';
import { authedProcedure } from '../trpc/procedures.js';
import { listMcpSessions, terminateMcpSession } from './sessions.service.js';

export const mcpSessionsRouter = router({
  list: authedProcedure.output(McpSessionList).query(({ ctx }) => listMcpSessions(ctx, ctx.deps.mcp)),
  terminate: authedProcedure
    .input(TerminateSessionInput)
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await terminateMcpSession(ctx, ctx.deps.mcp, input);
      return { ok: true as const };
    }),
});
