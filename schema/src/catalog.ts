import { z } from 'zod';
import {
  Description,
  DisplayName,
  GroupId,
  hasNoNul,
  IsoDateTime,
  McpId,
  McpVersionId,
  NO_NUL_MESSAGE,
  Reason,
} from './common.js';

/** Becomes the tool-name prefix (`slug__tool`), so it is short, lowercase and immutable once created. */
export const McpSlug = z
  .string()
  .trim()
  .regex(/^[a-z0-9-]{1,24}$/, '1 to 24 lowercase letters, digits or dashes');

export const McpTransport = z.enum(['stdio', 'streamable-http', 'sse']);
export type McpTransport = z.infer<typeof McpTransport>;
export const McpIsolation = z.enum(['shared', 'per-user']);
export type McpIsolation = z.infer<typeof McpIsolation>;
export const McpStatus = z.enum(['draft', 'published', 'archived']);
export type McpStatus = z.infer<typeof McpStatus>;
export const ValidationStatus = z.enum(['pending', 'valid', 'invalid']);
export type ValidationStatus = z.infer<typeof ValidationStatus>;

export const CredentialName = z
  .string()
  .trim()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'letters, digits and underscores, not starting with a digit');
export const EnvVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an environment variable name (letters, digits, underscores)');
export const HeaderName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, 'an HTTP header name');
/** A configured value; it may reference a user credential as `{{credential:NAME}}`, resolved only at spawn. */
const TemplatedValue = z
  .string()
  .max(4096)
  .refine(
    (value) => hasNoNul(value) && !/[\r\n]/.test(value),
    'must be a single line without NUL characters',
  );
/** Free text in a config: bounded and storable. */
const ConfigText = (max: number) => z.string().trim().min(1).max(max).refine(hasNoNul, NO_NUL_MESSAGE);

const boundedRecord = (key: z.ZodString, max: number) =>
  z
    .record(key, TemplatedValue)
    .refine((value) => Object.keys(value).length <= max, `at most ${max} entries`)
    .default({});

/** A field the user (or, for shared MCPs, the admin) supplies; injected as an env var or header, or only templated. */
export const CredentialField = z.object({
  name: CredentialName,
  label: ConfigText(128),
  help: z.string().trim().max(1000).refine(hasNoNul, NO_NUL_MESSAGE).default(''),
  secret: z.boolean().default(true),
  required: z.boolean().default(true),
  inject: z
    .discriminatedUnion('into', [
      z.object({ into: z.literal('env'), name: EnvVarName }),
      z.object({ into: z.literal('header'), name: HeaderName }),
    ])
    .nullable()
    .default(null),
});
export type CredentialField = z.infer<typeof CredentialField>;

export const StdioConnection = z.object({
  transport: z.literal('stdio'),
  command: ConfigText(1024),
  args: z.array(z.string().max(4096).refine(hasNoNul, NO_NUL_MESSAGE)).max(64).default([]),
  env: boundedRecord(EnvVarName, 64),
  cwd: ConfigText(1024).nullable().default(null),
});
/** The URL is only bounded here; `validate` reports whether it parses and is http(s). */
export const HttpConnection = z.object({
  transport: z.enum(['streamable-http', 'sse']),
  url: ConfigText(2048),
  headers: boundedRecord(HeaderName, 32),
});
export const McpConnection = z.discriminatedUnion('transport', [StdioConnection, HttpConnection]);
export type McpConnection = z.infer<typeof McpConnection>;

const OAuthUrl = ConfigText(2048).refine((value) => URL.canParse(value), 'must be an absolute URL');

/**
 * Downstream OAuth (per-user MCPs only): each user connects their own account by the authorization-code flow
 * with PKCE, and their access token is injected into their instance. Endpoints are given, or discovered from
 * `issuer` (RFC 8414 / OpenID discovery) or, for HTTP downstreams, from the downstream's RFC 9728 metadata.
 * The client secret is not part of the config: it is sealed in the vault (`oauth.setClientSecret`).
 */
export const McpOAuth = z.object({
  issuer: OAuthUrl.nullable().default(null),
  authorizationEndpoint: OAuthUrl.nullable().default(null),
  tokenEndpoint: OAuthUrl.nullable().default(null),
  revocationEndpoint: OAuthUrl.nullable().default(null),
  clientId: ConfigText(256),
  scopes: z
    .array(
      z
        .string()
        .trim()
        .min(1)
        .max(128)
        .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope token'),
    )
    .max(32)
    .default([]),
  /** RFC 8707 resource indicator sent with authorization and token requests. */
  resource: OAuthUrl.nullable().default(null),
  /** Where the access token goes: `Authorization: Bearer …` for HTTP downstreams, an env var for stdio. */
  inject: z
    .discriminatedUnion('into', [
      z.object({ into: z.literal('env'), name: EnvVarName }),
      z.object({ into: z.literal('header'), name: HeaderName.default('Authorization') }),
    ])
    .default({ into: 'header', name: 'Authorization' }),
});
export type McpOAuth = z.infer<typeof McpOAuth>;

/** Everything that decides how the downstream runs. Changing it creates a new config version. */
export const McpConfig = z.object({
  connection: McpConnection,
  isolation: McpIsolation.default('shared'),
  /** Shared MCPs start when published (`eager`) or on first use (`lazy`). */
  startMode: z.enum(['lazy', 'eager']).default('lazy'),
  credentials: z.array(CredentialField).max(32).default([]),
  oauth: McpOAuth.nullable().default(null),
  timeouts: z
    .object({
      connectMs: z.number().int().min(1000).max(120_000).default(30_000),
      callMs: z.number().int().min(1000).max(3_600_000).default(60_000),
    })
    .default({ connectMs: 30_000, callMs: 60_000 }),
  limits: z
    .object({
      maxConcurrentCalls: z.number().int().min(1).max(256).default(16),
      /** Per-user isolation only: how many users may have an instance running at once. */
      maxInstances: z.number().int().min(1).max(10_000).default(50),
    })
    .default({ maxConcurrentCalls: 16, maxInstances: 50 }),
});
export type McpConfig = z.infer<typeof McpConfig>;
export type McpConfigInput = z.input<typeof McpConfig>;

const IconUrl = z.url({ protocol: /^https?$/ }).max(2048);

export const CreateMcpInput = z.object({
  slug: McpSlug,
  name: DisplayName,
  description: Description.default(''),
  iconUrl: IconUrl.nullable().default(null),
  config: McpConfig,
  groupIds: z.array(GroupId).max(100).default([]),
});
export type CreateMcpInput = z.infer<typeof CreateMcpInput>;

/** Name, description and icon change in place; a new `config` becomes a candidate version. */
export const UpdateMcpInput = z.object({
  id: McpId,
  name: DisplayName.optional(),
  description: Description.optional(),
  iconUrl: IconUrl.nullable().optional(),
  config: McpConfig.optional(),
});
export type UpdateMcpInput = z.infer<typeof UpdateMcpInput>;

export const McpRef = z.object({ id: McpId });
export const SetMcpGroupsInput = z.object({ id: McpId, groupIds: z.array(GroupId).max(100) });
export type SetMcpGroupsInput = z.infer<typeof SetMcpGroupsInput>;
export const ArchiveMcpInput = z.object({ id: McpId, reason: Reason.optional() });

/** Credentials used for this one discovery run; never stored, logged or audited. */
export const DiscoverMcpInput = z.object({
  id: McpId,
  temporaryCredentials: z
    .record(CredentialName, z.string().max(8192))
    .refine((value) => Object.keys(value).length <= 32, 'at most 32 entries')
    .default({}),
});
export type DiscoverMcpInput = z.infer<typeof DiscoverMcpInput>;

export const ValidationProblem = z.object({ path: z.string(), message: z.string() });
export type ValidationProblem = z.infer<typeof ValidationProblem>;

const JsonObject = z.record(z.string(), z.unknown());

export const DiscoveredTool = z.object({
  name: z.string(),
  title: z.string().optional(),
  description: z.string().optional(),
  inputSchema: JsonObject,
  outputSchema: JsonObject.optional(),
  annotations: JsonObject.optional(),
  execution: JsonObject.optional(),
  hash: z.string(),
});
export type DiscoveredTool = z.infer<typeof DiscoveredTool>;
export const DiscoveredPrompt = z.object({
  name: z.string(),
  title: z.string().optional(),
  description: z.string().optional(),
  arguments: z.array(JsonObject).optional(),
  hash: z.string(),
});
export type DiscoveredPrompt = z.infer<typeof DiscoveredPrompt>;
export const DiscoveredResource = z.object({
  uri: z.string(),
  name: z.string(),
  mimeType: z.string().optional(),
  description: z.string().optional(),
});
export const DiscoveredResourceTemplate = z.object({
  uriTemplate: z.string(),
  name: z.string(),
  mimeType: z.string().optional(),
  description: z.string().optional(),
});

export const Discovery = z.object({
  discoveredAt: IsoDateTime,
  protocolVersion: z.string(),
  serverInfo: z.object({ name: z.string(), version: z.string() }),
  instructions: z.string().optional(),
  capabilities: JsonObject,
  tools: z.array(DiscoveredTool),
  prompts: z.array(DiscoveredPrompt),
  resources: z.array(DiscoveredResource),
  resourceTemplates: z.array(DiscoveredResourceTemplate),
});
export type Discovery = z.infer<typeof Discovery>;

export const McpVersion = z.object({
  id: McpVersionId,
  version: z.number().int(),
  config: McpConfig,
  validationStatus: ValidationStatus,
  validationErrors: z.array(ValidationProblem),
  discovery: Discovery.nullable(),
  createdAt: IsoDateTime,
});
export type McpVersion = z.infer<typeof McpVersion>;

export const McpSummary = z.object({
  id: McpId,
  slug: McpSlug,
  name: z.string(),
  description: z.string(),
  iconUrl: z.string().nullable(),
  status: McpStatus,
  transport: McpTransport,
  isolation: McpIsolation,
  liveVersion: z.number().int().nullable(),
  candidateVersion: z.number().int().nullable(),
  /** Tools and prompts waiting for an admin's decision (changed or new since approval). */
  pendingReviews: z.number().int(),
  groupIds: z.array(GroupId),
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
});
export type McpSummary = z.infer<typeof McpSummary>;

export const McpDetail = McpSummary.extend({
  live: McpVersion.nullable(),
  candidate: McpVersion.nullable(),
});
export type McpDetail = z.infer<typeof McpDetail>;

export const McpList = z.object({ items: z.array(McpSummary) });
export const ListMcpsInput = z.object({ status: McpStatus.optional() }).default({});

export const ValidationResult = z.object({
  status: ValidationStatus,
  problems: z.array(ValidationProblem),
});

/** What users see in the marketplace: never the connection details. */
export const MarketplaceEntry = z.object({
  id: McpId,
  slug: McpSlug,
  name: z.string(),
  description: z.string(),
  iconUrl: z.string().nullable(),
  isolation: McpIsolation,
  credentials: z.array(
    CredentialField.pick({ name: true, label: true, help: true, secret: true, required: true }),
  ),
  tools: z.array(
    z.object({ name: z.string(), title: z.string().optional(), description: z.string().optional() }),
  ),
});
export type MarketplaceEntry = z.infer<typeof MarketplaceEntry>;
export const Marketplace = z.object({ items: z.array(MarketplaceEntry) });

/** Pinning: the state of one approved (or awaiting approval) tool or prompt definition. */
export const PinKind = z.enum(['tool', 'prompt']);
export type PinKind = z.infer<typeof PinKind>;
export const PinState = z.enum(['approved', 'changed', 'new', 'removed', 'rejected']);
export type PinState = z.infer<typeof PinState>;
export const FieldDiff = z.object({ field: z.string(), before: z.unknown(), after: z.unknown() });
export type FieldDiff = z.infer<typeof FieldDiff>;
export const Pin = z.object({
  kind: PinKind,
  name: z.string(),
  state: PinState,
  approvedHash: z.string().nullable(),
  observedHash: z.string().nullable(),
  diff: z.array(FieldDiff),
  changedAt: IsoDateTime.nullable(),
  decidedAt: IsoDateTime.nullable(),
});
export type Pin = z.infer<typeof Pin>;
export const PinList = z.object({ items: z.array(Pin) });
/** `observedHash` is the definition the admin reviewed: if the downstream changed again since, it is refused. */
export const PinDecisionInput = z.object({
  id: McpId,
  kind: PinKind,
  name: z.string().min(1).max(256),
  observedHash: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest'),
  reason: Reason.optional(),
});
export type PinDecisionInput = z.infer<typeof PinDecisionInput>;

/** Import accepts the common registry shape as JSON or YAML text. */
export const ImportMcpInput = z.object({
  document: z
    .string()
    .min(2)
    .max(64 * 1024),
  slug: McpSlug.optional(),
});
export const ExportedMcp = z.object({ slug: McpSlug, document: z.string(), format: z.literal('json') });
