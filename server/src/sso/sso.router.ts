import {
  CreateSsoProviderInput,
  LocalPasswordsSetting,
  Ok,
  SetLocalPasswordsInput,
  SignInOptions,
  SsoProvider,
  SsoProviderList,
  SsoProviderRef,
  UpdateSsoProviderInput,
} from '@gatehouse/schema';
import { router } from '../trpc/init.js';
import { authedProcedure, publicProcedure } from '../trpc/procedures.js';
import { SsoProviders, signInOptions } from './providers.service.js';
import { getLocalPasswords, setLocalPasswords } from './settings.service.js';

const providersOf = (ctx: {
  deps: {
    vault: { vault: ConstructorParameters<typeof SsoProviders>[0] };
    catalog: { runtime: ConstructorParameters<typeof SsoProviders>[1] };
  };
}) => new SsoProviders(ctx.deps.vault.vault, ctx.deps.catalog.runtime);

/** Single sign-on administration (admins; auditors read) and the sign-in screen's options (anyone). */
export const ssoRouter = router({
  signInOptions: publicProcedure.output(SignInOptions).query(({ ctx }) => signInOptions(ctx)),
  providers: authedProcedure.output(SsoProviderList).query(({ ctx }) => providersOf(ctx).list(ctx)),
  createProvider: authedProcedure
    .input(CreateSsoProviderInput)
    .output(SsoProvider)
    .mutation(({ ctx, input }) => providersOf(ctx).create(ctx, input)),
  updateProvider: authedProcedure
    .input(UpdateSsoProviderInput)
    .output(SsoProvider)
    .mutation(({ ctx, input }) => providersOf(ctx).update(ctx, input)),
  deleteProvider: authedProcedure
    .input(SsoProviderRef)
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await providersOf(ctx).delete(ctx, input.id);
      return { ok: true as const };
    }),
  localPasswords: authedProcedure.output(LocalPasswordsSetting).query(({ ctx }) => getLocalPasswords(ctx)),
  setLocalPasswords: authedProcedure
    .input(SetLocalPasswordsInput)
    .output(LocalPasswordsSetting)
    .mutation(({ ctx, input }) => setLocalPasswords(ctx, input)),
});
