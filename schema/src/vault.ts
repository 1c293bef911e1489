import { z } from 'zod';
import { CredentialName } from './catalog.js';
import { IsoDateTime, McpId, UserId } from './common.js';

/** A credential value as entered: secrets are write-only, so this is never returned. */
const CredentialValue = z
  .string()
  .min(1)
  .max(8192)
  .refine((value) => !value.includes('\u0000'), 'must not contain NUL characters');

/** Set or replace some of the caller's credential fields for one MCP; fields not named are kept. */
export const SetCredentialsInput = z.object({
  mcpId: McpId,
  values: z
    .record(CredentialName, CredentialValue)
    .refine((values) => Object.keys(values).length >= 1, 'name at least one field')
    .refine((values) => Object.keys(values).length <= 32, 'at most 32 fields'),
});
export type SetCredentialsInput = z.infer<typeof SetCredentialsInput>;

/** Delete the named fields, or every field when `fields` is omitted. */
export const DeleteCredentialsInput = z.object({
  mcpId: McpId,
  fields: z.array(CredentialName).min(1).max(32).optional(),
});
export type DeleteCredentialsInput = z.infer<typeof DeleteCredentialsInput>;

export const CredentialsRef = z.object({ mcpId: McpId });

/** One field of an MCP's credential schema, and whether the owner has set it. Never the secret value. */
export const CredentialFieldState = z.object({
  name: z.string(),
  label: z.string(),
  help: z.string(),
  secret: z.boolean(),
  required: z.boolean(),
  set: z.boolean(),
  updatedAt: IsoDateTime.nullable(),
  /** Only for fields the MCP marks as not secret (a region, an account name). */
  value: z.string().nullable(),
});
export type CredentialFieldState = z.infer<typeof CredentialFieldState>;

export const CredentialState = z.object({
  mcpId: McpId,
  /** `per-user`: the caller's own values; `shared`: the MCP's values, set by admins for everyone. */
  scope: z.enum(['per-user', 'shared']),
  fields: z.array(CredentialFieldState),
  /** Every required field is set. */
  complete: z.boolean(),
});
export type CredentialState = z.infer<typeof CredentialState>;

/** For admins: who has set what, never values. */
export const CredentialOwners = z.object({
  mcpId: McpId,
  owners: z.array(
    z.object({
      userId: UserId.nullable(),
      username: z.string().nullable(),
      fields: z.array(z.object({ name: z.string(), updatedAt: IsoDateTime })),
    }),
  ),
});
export type CredentialOwners = z.infer<typeof CredentialOwners>;

/** The keyring as operators see it: ids only. */
export const VaultStatus = z.object({
  activeKeyId: z.string(),
  keyIds: z.array(z.string()),
  /** Stored secrets per key id; rotation is complete when every one is on the active key. */
  sealedByKey: z.record(z.string(), z.number().int()),
});
export type VaultStatus = z.infer<typeof VaultStatus>;

/** Admins set (or replace) the OAuth client secret of an MCP; it is sealed and never returned. */
export const SetOAuthClientSecretInput = z.object({
  mcpId: McpId,
  clientSecret: CredentialValue,
});
export type SetOAuthClientSecretInput = z.infer<typeof SetOAuthClientSecretInput>;

export const OAuthConnectInput = z.object({ mcpId: McpId });
export const OAuthConnectStart = z.object({ authorizationUrl: z.string() });

export const OAuthConnection = z.object({
  mcpId: McpId,
  mcpSlug: z.string(),
  mcpName: z.string(),
  status: z.enum(['connected', 'reconnect_needed', 'not_connected']),
  scopes: z.array(z.string()),
  expiresAt: IsoDateTime.nullable(),
  connectedAt: IsoDateTime.nullable(),
});
export type OAuthConnection = z.infer<typeof OAuthConnection>;
export const OAuthConnectionList = z.object({ items: z.array(OAuthConnection) });
