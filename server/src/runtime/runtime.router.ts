import {
  InstanceList,
  InstanceLogs,
  InstanceRef,
  InstanceStatus,
  ListInstancesInput,
  Ok,
} from '@gatehouse/schema';
import { router } from '../trpc/init.js';
import { authedProcedure } from '../trpc/procedures.js';
import { instanceLogs, listInstances, restartInstance, stopInstance } from './runtime.service.js';

export const runtimeRouter = router({
  instances: authedProcedure
    .input(ListInstancesInput)
    .output(InstanceList)
    .query(({ ctx, input }) => listInstances(ctx, ctx.deps.catalog.runtime, input.mcpId)),
  logs: authedProcedure
    .input(InstanceRef)
    .output(InstanceLogs)
    .query(({ ctx, input }) => instanceLogs(ctx, ctx.deps.catalog.runtime, input.key)),
  restart: authedProcedure
    .input(InstanceRef)
    .output(InstanceStatus)
    .mutation(({ ctx, input }) => restartInstance(ctx, ctx.deps.catalog, input)),
  stop: authedProcedure
    .input(InstanceRef)
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await stopInstance(ctx, ctx.deps.catalog.runtime, input);
      return { ok: true as const };
    }),
});
