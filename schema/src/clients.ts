import { z } from 'zod';
import { ClientId, DisplayName, IsoDateTime, McpId, Reason, SubscriptionId, UserId } from './common.js';

export const ClientKind = z.enum(['claude-code', 'claude-desktop', 'vscode', 'cursor', 'agent', 'other']);
export type ClientKind = z.infer<typeof ClientKind>;
export const ClientStatus = z.enum(['active', 'suspended', 'revoked']);
export type ClientStatus = z.infer<typeof ClientStatus>;

/** An AI client registered by a user; its key is shown once, at creation or rotation. */
export const Client = z.object({
  id: ClientId,
  userId: UserId,
  username: z.string(),
  name: z.string(),
  kind: ClientKind,
  status: ClientStatus,
  /** Null for an OAuth client, which has no key. */
  keyPrefix: z.string().nullable(),
  /** The OAuth client id (a CIMD URL or a registered id) for a client created by OAuth consent, else null. */
  oauthClientId: z.string().max(2048).nullable(),
  /** How the OAuth client made itself known: a Client ID Metadata Document or dynamic registration. */
  registration: z.enum(['cimd', 'dcr']).nullable(),
  /** The host its metadata came from (CIMD) or its redirect URI's host (DCR). */
  domain: z.string().max(255).nullable(),
  lastSeenAt: IsoDateTime.nullable(),
  lastSeenIp: z.string().nullable(),
  createdAt: IsoDateTime,
});
export type Client = z.infer<typeof Client>;
export const ClientList = z.object({ items: z.array(Client) });
/** Admins may list every client (`all: true`); everyone else sees their own. */
export const ListClientsInput = z.object({ all: z.boolean().default(false) }).default({ all: false });
export const CreateClientInput = z.object({ name: DisplayName, kind: ClientKind });
export type CreateClientInput = z.infer<typeof CreateClientInput>;
export const ClientWithKey = z.object({ client: Client, key: z.string() });
export type ClientWithKey = z.infer<typeof ClientWithKey>;
export const ClientRef = z.object({ id: ClientId });
export const ClientStatusChange = z.object({ id: ClientId, reason: Reason.optional() });

/** `null` selects every tool the MCP offers, now and later; a list selects exactly those tools. */
export const ToolSelection = z.array(z.string().min(1).max(128)).max(500).nullable();
export const Subscription = z.object({
  id: SubscriptionId,
  clientId: ClientId,
  mcpId: McpId,
  mcpSlug: z.string(),
  tools: ToolSelection,
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
});
export type Subscription = z.infer<typeof Subscription>;
export const SubscriptionList = z.object({ items: z.array(Subscription) });
export const SubscribeInput = z.object({
  clientId: ClientId,
  mcpId: McpId,
  tools: ToolSelection.default(null),
});
export type SubscribeInput = z.infer<typeof SubscribeInput>;
export const UpdateSubscriptionInput = z.object({ id: SubscriptionId, tools: ToolSelection });
export type UpdateSubscriptionInput = z.infer<typeof UpdateSubscriptionInput>;
export const SubscriptionRef = z.object({ id: SubscriptionId });

/** An open MCP session on the endpoint, for admins. */
export const McpSessionInfo = z.object({
  id: z.string(),
  clientId: ClientId,
  clientName: z.string(),
  userId: UserId,
  username: z.string(),
  startedAt: IsoDateTime,
  lastActivityAt: IsoDateTime,
});
export type McpSessionInfo = z.infer<typeof McpSessionInfo>;
export const McpSessionList = z.object({ items: z.array(McpSessionInfo) });
export const TerminateSessionInput = z.object({ id: z.string().min(1).max(200), reason: Reason.optional() });

/** Where AI clients connect: the MCP endpoint on the client port. */
export const McpEndpointInfo = z.object({ url: z.url().max(2048) });
export type McpEndpointInfo = z.infer<typeof McpEndpointInfo>;
