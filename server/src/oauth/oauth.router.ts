import {
  OAuthConnectInput,
  OAuthConnectionList,
  OAuthConnectStart,
  Ok,
  SetOAuthClientSecretInput,
} from '@gatehouse/schema';
import { z } from 'zod';
import { router } from '../trpc/init.js';
import { authedProcedure } from '../trpc/procedures.js';

/** Where providers send the browser back: the configured public portal URL, else this request's origin. */
export const OAUTH_CALLBACK_PATH = '/oauth/callback';

export const oauthRouter = router({
  connections: authedProcedure.output(OAuthConnectionList).query(({ ctx }) => ctx.deps.oauth.list(ctx)),
  /** Portal sessions only: the state is bound to the session that starts the flow. */
  connect: authedProcedure
    .input(OAuthConnectInput)
    .output(OAuthConnectStart)
    .mutation(({ ctx, input }) => {
      const origin = ctx.config.publicPortalUrl
        ? new URL(ctx.config.publicPortalUrl).origin
        : `${ctx.req.protocol}://${ctx.req.host}`;
      return ctx.deps.oauth.start(ctx, input.mcpId, `${origin}${OAUTH_CALLBACK_PATH}`);
    }),
  disconnect: authedProcedure
    .input(OAuthConnectInput)
    .output(z.object({ revokedAtProvider: z.boolean() }))
    .mutation(({ ctx, input }) => ctx.deps.oauth.disconnect(ctx, input.mcpId)),
  setClientSecret: authedProcedure
    .input(SetOAuthClientSecretInput)
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await ctx.deps.oauth.setClientSecret(ctx, input);
      return { ok: true as const };
    }),
});
