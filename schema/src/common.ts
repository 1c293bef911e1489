import { z } from 'zod';

/** Prefixed, typed ids: `usr_…`, `grp_…`. Generated server-side from 128 random bits in base62. */
export const idPrefixes = {
  user: 'usr',
  group: 'grp',
  session: 'ses',
  apiToken: 'tok',
  mcp: 'mcp',
  mcpVersion: 'mcv',
  client: 'cli',
  subscription: 'sub',
  credential: 'crd',
  oauthConnection: 'oac',
  ssoProvider: 'idp',
} as const;
export type IdKind = keyof typeof idPrefixes;

export const prefixedId = <K extends IdKind>(kind: K) =>
  z
    .string()
    .trim()
    .regex(
      new RegExp(`^${idPrefixes[kind]}_[A-Za-z0-9]{10,40}$`),
      `must be a ${kind} id (${idPrefixes[kind]}_…)`,
    );

export const UserId = prefixedId('user');
export const GroupId = prefixedId('group');
export const ApiTokenId = prefixedId('apiToken');
export const McpId = prefixedId('mcp');
export const McpVersionId = prefixedId('mcpVersion');
export const ClientId = prefixedId('client');
export const SubscriptionId = prefixedId('subscription');

/** PostgreSQL text cannot hold NUL: refusing it here keeps such input a 400 instead of a storage failure. */
export const hasNoNul = (value: string) => !value.includes('\u0000');
export const NO_NUL_MESSAGE = 'must not contain NUL characters';
export const DisplayName = z.string().trim().min(1).max(128).refine(hasNoNul, NO_NUL_MESSAGE);
export const Description = z.string().trim().max(1000).refine(hasNoNul, NO_NUL_MESSAGE);
export const Reason = z.string().trim().min(1).max(500);
export const IsoDateTime = z.iso.datetime({ offset: true });

export const Username = z
  .string()
  .trim()
  .toLowerCase()
  .min(3)
  .max(64)
  .regex(
    /^[a-z0-9][a-z0-9._-]*$/,
    'letters, digits, dot, dash and underscore; must start with a letter or digit',
  );

export const Email = z.email().max(254);

/** Bounded so a hashing request cannot be used to burn CPU; policy beyond length is checked server-side. */
export const NewPassword = z.string().min(12, 'at least 12 characters').max(256);
export const PasswordAttempt = z.string().min(1).max(256);

export const PageInput = z.object({
  limit: z.number().int().min(1).max(200).default(50),
  offset: z.number().int().min(0).max(1_000_000).default(0),
});
export type PageInput = z.infer<typeof PageInput>;

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), total: z.number().int() });

export const SearchText = z.string().trim().max(128);
