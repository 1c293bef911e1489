import {
  ArchiveMcpInput,
  CreateMcpInput,
  DiscoverMcpInput,
  ExportedMcp,
  ImportMcpInput,
  ListMcpsInput,
  Marketplace,
  McpDetail,
  McpList,
  McpRef,
  Pin,
  PinDecisionInput,
  PinList,
  SetMcpGroupsInput,
  UpdateMcpInput,
  ValidationResult,
} from '@gatehouse/schema';
import { router } from '../trpc/init.js';
import { authedProcedure } from '../trpc/procedures.js';
import {
  archiveMcp,
  createMcp,
  decidePin,
  discoverMcp,
  exportMcp,
  getMcp,
  importMcp,
  listMcps,
  listPins,
  publishMcp,
  setMcpGroups,
  updateMcp,
  validateMcp,
} from './catalog.service.js';
import { listMarketplace } from './marketplace.service.js';

export const catalogRouter = router({
  list: authedProcedure
    .input(ListMcpsInput)
    .output(McpList)
    .query(({ ctx, input }) => listMcps(ctx, input)),
  get: authedProcedure
    .input(McpRef)
    .output(McpDetail)
    .query(({ ctx, input }) => getMcp(ctx, input.id)),
  create: authedProcedure
    .input(CreateMcpInput)
    .output(McpDetail)
    .mutation(({ ctx, input }) => createMcp(ctx, input)),
  update: authedProcedure
    .input(UpdateMcpInput)
    .output(McpDetail)
    .mutation(({ ctx, input }) => updateMcp(ctx, input)),
  setGroups: authedProcedure
    .input(SetMcpGroupsInput)
    .output(McpDetail)
    .mutation(({ ctx, input }) => setMcpGroups(ctx, input)),
  validate: authedProcedure
    .input(McpRef)
    .output(ValidationResult)
    .mutation(({ ctx, input }) => validateMcp(ctx, input.id)),
  discover: authedProcedure
    .input(DiscoverMcpInput)
    .output(McpDetail)
    .mutation(({ ctx, input }) => discoverMcp(ctx, input, ctx.config.runtime)),
  publish: authedProcedure
    .input(McpRef)
    .output(McpDetail)
    .mutation(({ ctx, input }) => publishMcp(ctx, ctx.deps.catalog, input.id)),
  archive: authedProcedure
    .input(ArchiveMcpInput)
    .output(McpDetail)
    .mutation(({ ctx, input }) => archiveMcp(ctx, ctx.deps.catalog, input)),
  pins: authedProcedure
    .input(McpRef)
    .output(PinList)
    .query(({ ctx, input }) => listPins(ctx, input.id)),
  approvePin: authedProcedure
    .input(PinDecisionInput)
    .output(Pin)
    .mutation(({ ctx, input }) => decidePin(ctx, input, 'approve')),
  rejectPin: authedProcedure
    .input(PinDecisionInput)
    .output(Pin)
    .mutation(({ ctx, input }) => decidePin(ctx, input, 'reject')),
  import: authedProcedure
    .input(ImportMcpInput)
    .output(McpDetail)
    .mutation(({ ctx, input }) => importMcp(ctx, input)),
  export: authedProcedure
    .input(McpRef)
    .output(ExportedMcp)
    .query(({ ctx, input }) => exportMcp(ctx, input.id)),
  marketplace: authedProcedure.output(Marketplace).query(({ ctx }) => listMarketplace(ctx)),
});
