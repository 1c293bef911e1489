import { z } from 'zod';
import { ToolSelection } from './clients.js';
import { ClientId, McpId } from './common.js';

/**
 * The consent step of the authorization server for MCP clients (ADR 0033): what the portal's consent screen
 * shows (`GET /oauth/interaction/<uid>/details`) and what it sends back (`POST …/confirm`).
 */
export const ConsentClient = z.object({
  clientId: z.string().max(2048),
  name: z.string().max(200),
  logoUri: z.string().max(2048).nullable(),
  registration: z.enum(['cimd', 'dcr']),
  /** The host the metadata came from (CIMD), or the redirect URI's host (DCR). */
  domain: z.string().max(255),
  redirectUri: z.string().max(2048),
  /** Every redirect URI is on a loopback address: anything on this machine could be this client. */
  localhostOnly: z.boolean(),
});
export type ConsentClient = z.infer<typeof ConsentClient>;

export const ConsentMcp = z.object({
  id: McpId,
  slug: z.string(),
  name: z.string(),
  tools: z.array(z.object({ name: z.string(), description: z.string().optional() })),
  subscribed: z.boolean(),
  selectedTools: z.array(z.string()).nullable(),
});
export type ConsentMcp = z.infer<typeof ConsentMcp>;

export const InteractionDetails = z.object({
  uid: z.string(),
  client: ConsentClient,
  resource: z.string(),
  existingClient: z.object({ id: ClientId, name: z.string() }).nullable(),
  mcps: z.array(ConsentMcp),
});
export type InteractionDetails = z.infer<typeof InteractionDetails>;

export const ConsentInput = z.object({
  subscriptions: z
    .array(z.object({ mcpId: McpId, tools: ToolSelection }))
    .min(1, 'Choose at least one MCP')
    .max(100),
});
export type ConsentInput = z.infer<typeof ConsentInput>;

export const InteractionRedirect = z.object({ redirectTo: z.string() });
export type InteractionRedirect = z.infer<typeof InteractionRedirect>;
