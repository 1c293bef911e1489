import { z } from 'zod';
import { AuditAction } from './audit.js';

/**
 * The `details` of each audit action (ADR 0027), checked when a record is emitted: a record whose details do
 * not match is a bug in the emitter and is never written. The data-plane actions are strict (an unknown or
 * renamed key is refused), because migration 0008's generated usage columns read their keys by name; see
 * `server/test/audit/details.test.ts`, which checks every key those columns read against these shapes.
 */

/** Facts every data-plane record carries: the MCP session, when the call had one. */
const dataPlane = { session: z.string().optional() };
/** Size and keyed digest of a call's arguments (never the arguments themselves). */
const argsFacts = { argsBytes: z.number().int().nonnegative(), argsDigest: z.string() };

export const ToolCallDetails = z.strictObject({
  ...dataPlane,
  ...argsFacts,
  tool: z.string(),
  status: z.enum(['ok', 'tool_error', 'failed']),
  durationMs: z.number().nonnegative(),
  resultBytes: z.number().int().nonnegative(),
  definitionHash: z.string().optional(),
});
export type ToolCallDetails = z.infer<typeof ToolCallDetails>;

export const ToolDeniedDetails = z.strictObject({
  ...dataPlane,
  ...argsFacts,
  /** The downstream tool's name when it resolved (so usage counts it with its calls), else as requested. */
  tool: z.string(),
  requested: z.string().optional(),
});
export type ToolDeniedDetails = z.infer<typeof ToolDeniedDetails>;

const PromptDetails = z.strictObject({ ...dataPlane, prompt: z.string() });
const ResourceDetails = z.strictObject({ ...dataPlane, uri: z.string() });
const SessionDetails = z.strictObject({
  ...dataPlane,
  terminatedBy: z.enum(['admin']).optional(),
});
const NoDetails = z.strictObject({ ...dataPlane });

/** Single sign-on (ADR 0032): strict, so no token, code, secret or claim dump can slip into the trail. */
const SsoProviderChangeDetails = z.strictObject({
  slug: z.string(),
  changed: z.array(z.string()).optional(),
  /** The configuration values that changed, as they were and as they are (never the client secret). */
  before: z.record(z.string(), z.unknown()).optional(),
  after: z.record(z.string(), z.unknown()).optional(),
  clientSecret: z.enum(['set', 'unchanged']).optional(),
  groupsCreated: z.array(z.string()).optional(),
  membershipsRemoved: z.number().int().nonnegative().optional(),
  usersSuspended: z.number().int().nonnegative().optional(),
  sessionsEnded: z.number().int().nonnegative().optional(),
});
const SsoLoginDetails = z.strictObject({ provider: z.string() });
const SsoLoginFailedDetails = z.strictObject({
  provider: z.string(),
  reason: z.enum([
    'state',
    'nonce',
    'id_token',
    'token_exchange',
    'disabled',
    'provider_error',
    'provider_unavailable',
    'provider_disabled',
    'domain',
    'suspended',
    'claims',
  ]),
});
const SsoUserDetails = z.strictObject({
  provider: z.string(),
  role: z.enum(['admin', 'auditor', 'user']).optional(),
  fromRole: z.enum(['admin', 'auditor', 'user']).optional(),
  changed: z.array(z.enum(['displayName', 'email', 'role', 'groups'])).optional(),
  groupsAdded: z.array(z.string()).optional(),
  groupsRemoved: z.array(z.string()).optional(),
});
const LocalPasswordsDetails = z.strictObject({
  from: z.enum(['everyone', 'admins_only']),
  to: z.enum(['everyone', 'admins_only']),
});
/**
 * The authorization server for MCP clients (ADR 0033): which OAuth client, never a token, code or secret.
 * `grant` is oidc-provider's grant id (an identifier that authorizes nothing by itself).
 */
const oauthClient = { oauthClientId: z.string().max(2048) };
const OAuthClientRegistered = z.strictObject({
  ...oauthClient,
  clientName: z.string().max(200).optional(),
  redirectHosts: z.array(z.string().max(255)).max(10),
});
const OAuthConsentSubscription = z.strictObject({
  mcpId: z.string(),
  mcp: z.string(),
  tools: z.union([z.array(z.string()), z.literal('all')]),
});
const OAuthConsentGranted = z.strictObject({
  ...oauthClient,
  registration: z.enum(['cimd', 'dcr']),
  domain: z.string().max(255),
  resource: z.string().max(2048),
  created: z.boolean(),
  subscriptions: z.array(OAuthConsentSubscription),
});
const OAuthConsentDenied = z.strictObject({ ...oauthClient, resource: z.string().max(2048) });
const OAuthConsentRevoked = z.strictObject({ ...oauthClient, grantsRevoked: z.number().int().nonnegative() });
const OAuthToken = z.strictObject({
  ...oauthClient,
  grant: z.string().max(64),
  resource: z.string().max(2048).optional(),
});
const OAuthTokenRevoked = z.strictObject({
  ...oauthClient,
  grant: z.string().max(64).optional(),
  tokenType: z.enum(['access_token', 'refresh_token']),
});

/** Control-plane details: JSON facts not read by any generated column (not yet typed key by key). */
const ControlDetails = z.record(z.string(), z.unknown());

const typed = {
  'tool.call': ToolCallDetails,
  'tool.denied': ToolDeniedDetails,
  'prompt.get': PromptDetails,
  'prompt.denied': PromptDetails,
  'resource.read': ResourceDetails,
  'resource.denied': ResourceDetails,
  'mcp_session.start': SessionDetails,
  'mcp_session.end': SessionDetails,
  'client.auth_denied': NoDetails,
  'sso.provider_created': SsoProviderChangeDetails,
  'sso.provider_updated': SsoProviderChangeDetails,
  'sso.provider_deleted': SsoProviderChangeDetails,
  'auth.sso_login': SsoLoginDetails,
  'auth.sso_login_failed': SsoLoginFailedDetails,
  'user.provisioned': SsoUserDetails,
  'user.sso_updated': SsoUserDetails,
  'auth.local_passwords_set': LocalPasswordsDetails,
  'oauth.client_registered': OAuthClientRegistered,
  'oauth.consent_granted': OAuthConsentGranted,
  'oauth.consent_denied': OAuthConsentDenied,
  'oauth.consent_revoked': OAuthConsentRevoked,
  'oauth.token_issued': OAuthToken,
  'oauth.token_refreshed': OAuthToken,
  'oauth.refresh_reuse_detected': OAuthToken,
  'oauth.code_replay_detected': OAuthToken,
  'oauth.token_revoked': OAuthTokenRevoked,
} satisfies Partial<Record<AuditAction, z.ZodType>>;

/** The details schema of every action. */
export const AuditDetails = Object.fromEntries(
  AuditAction.options.map((action) => [
    action,
    (typed as Partial<Record<AuditAction, z.ZodType>>)[action] ?? ControlDetails,
  ]),
) as Record<AuditAction, z.ZodType<Record<string, unknown>>> & typeof typed;

/** The actions whose details are checked key by key. */
export const typedDetailActions = Object.keys(typed) as (keyof typeof typed)[];
