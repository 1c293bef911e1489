import {
  Client,
  ClientList,
  ClientRef,
  ClientStatusChange,
  ClientWithKey,
  CreateClientInput,
  ListClientsInput,
  McpEndpointInfo,
  Ok,
  SubscribeInput,
  Subscription,
  SubscriptionList,
  SubscriptionRef,
  UpdateSubscriptionInput,
} from '@gatehouse/schema';
import { router } from '../trpc/init.js';
import { authedProcedure } from '../trpc/procedures.js';
import {
  changeClientStatus,
  createClient,
  listClients,
  listSubscriptions,
  rotateClientKey,
  subscribe,
  unsubscribe,
  updateSubscription,
} from './clients.service.js';

/** The portal request's host without its port (an IPv6 literal keeps its brackets). */
const hostOnly = (host: string) => host.replace(/:\d+$/, '');

export const clientsRouter = router({
  endpoint: authedProcedure.output(McpEndpointInfo).query(({ ctx }) => ({
    url:
      ctx.config.publicMcpUrl ??
      `${ctx.req.protocol}://${hostOnly(ctx.req.host)}:${ctx.deps.clientPort()}/mcp`,
  })),
  list: authedProcedure
    .input(ListClientsInput)
    .output(ClientList)
    .query(({ ctx, input }) => listClients(ctx, input)),
  create: authedProcedure
    .input(CreateClientInput)
    .output(ClientWithKey)
    .mutation(({ ctx, input }) => createClient(ctx, input)),
  rotateKey: authedProcedure
    .input(ClientRef)
    .output(ClientWithKey)
    .mutation(({ ctx, input }) => rotateClientKey(ctx, input.id)),
  suspend: authedProcedure
    .input(ClientStatusChange)
    .output(Client)
    .mutation(({ ctx, input }) => changeClientStatus(ctx, input, 'suspend')),
  reactivate: authedProcedure
    .input(ClientStatusChange)
    .output(Client)
    .mutation(({ ctx, input }) => changeClientStatus(ctx, input, 'reactivate')),
  revoke: authedProcedure
    .input(ClientStatusChange)
    .output(Client)
    .mutation(({ ctx, input }) => changeClientStatus(ctx, input, 'revoke')),
});

export const subscriptionsRouter = router({
  list: authedProcedure
    .input(ClientRef)
    .output(SubscriptionList)
    .query(({ ctx, input }) => listSubscriptions(ctx, input.id)),
  create: authedProcedure
    .input(SubscribeInput)
    .output(Subscription)
    .mutation(({ ctx, input }) => subscribe(ctx, ctx.deps.catalog.liveCatalog, input)),
  update: authedProcedure
    .input(UpdateSubscriptionInput)
    .output(Subscription)
    .mutation(({ ctx, input }) => updateSubscription(ctx, ctx.deps.catalog.liveCatalog, input)),
  remove: authedProcedure
    .input(SubscriptionRef)
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await unsubscribe(ctx, input.id);
      return { ok: true as const };
    }),
});
