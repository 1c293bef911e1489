import {
  CredentialOwners,
  CredentialState,
  CredentialsRef,
  DeleteCredentialsInput,
  SetCredentialsInput,
  VaultStatus,
} from '@gatehouse/schema';
import { router } from '../trpc/init.js';
import { authedProcedure } from '../trpc/procedures.js';
import {
  credentialOwners,
  credentialState,
  deleteCredentials,
  setCredentials,
} from './credentials.service.js';
import { vaultStatus } from './rotation.js';

export const credentialsRouter = router({
  /** The caller's fields for a per-user MCP (admins: the shared fields of a shared MCP); never secret values. */
  get: authedProcedure
    .input(CredentialsRef)
    .output(CredentialState)
    .query(({ ctx, input }) => credentialState(ctx, ctx.deps.vault.vault, input.mcpId)),
  set: authedProcedure
    .input(SetCredentialsInput)
    .output(CredentialState)
    .mutation(({ ctx, input }) => setCredentials(ctx, ctx.deps.vault.vault, input)),
  delete: authedProcedure
    .input(DeleteCredentialsInput)
    .output(CredentialState)
    .mutation(({ ctx, input }) => deleteCredentials(ctx, ctx.deps.vault.vault, input)),
  /** Admins and auditors: who has set which fields, and when. */
  owners: authedProcedure
    .input(CredentialsRef)
    .output(CredentialOwners)
    .query(({ ctx, input }) => credentialOwners(ctx, input.mcpId)),
});

export const vaultRouter = router({
  status: authedProcedure.output(VaultStatus).query(({ ctx }) => vaultStatus(ctx, ctx.deps.vault.keyring)),
});
