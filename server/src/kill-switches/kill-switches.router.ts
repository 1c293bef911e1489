import {
  EngageKillSwitchInput,
  KillSwitch,
  KillSwitchList,
  Ok,
  ReleaseKillSwitchInput,
} from '@gatehouse/schema';
import { router } from '../trpc/init.js';
import { authedProcedure } from '../trpc/procedures.js';
import { engageKillSwitch, listKillSwitches, releaseKillSwitch } from './kill-switches.service.js';

export const killSwitchesRouter = router({
  list: authedProcedure.output(KillSwitchList).query(({ ctx }) => listKillSwitches(ctx)),
  engage: authedProcedure
    .input(EngageKillSwitchInput)
    .output(KillSwitch)
    .mutation(({ ctx, input }) => engageKillSwitch(ctx, ctx.deps.catalog.runtime, input)),
  release: authedProcedure
    .input(ReleaseKillSwitchInput)
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await releaseKillSwitch(ctx, input);
      return { ok: true as const };
    }),
});
