import {
  Client,
  ClientList,
  ClientRef,
  ClientStatusChange,
  ClientWithKey,
  CreateClientInput,
  ListClientsInput,
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

export const clientsRouter = router({
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
