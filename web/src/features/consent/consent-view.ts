import {
  allTools,
  pickError,
  pickFromSubscription,
  pickToTools,
  type ToolPick,
} from '../my-clients/tool-selection.js';
import type { ConsentClient, ConsentMcp, ConsentSubscription } from './consent-api.js';

/**
 * What the consent screen shows and sends, kept free of UI code so it is unit-tested.
 */

/** The client's logo only when it is an https URL; anything else (http, data:, javascript:) shows no logo. */
export function safeLogoUrl(logoUri: string | null): string | undefined {
  if (!logoUri) return undefined;
  try {
    const url = new URL(logoUri);
    return url.protocol === 'https:' && !url.username && !url.password ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** The host (and port, when it has one) the browser will be sent back to; the whole URI if it does not parse. */
export function redirectHost(redirectUri: string): string {
  try {
    const url = new URL(redirectUri);
    return url.host || `${url.protocol}${url.pathname}`;
  } catch {
    return redirectUri;
  }
}

/** How the client told Gatehouse who it is, in the person's words. */
export function registrationText(client: Pick<ConsentClient, 'registration' | 'domain'>): {
  label: string;
  detail: string;
} {
  return client.registration === 'cimd'
    ? {
        label: `Verified by its domain ${client.domain}`,
        detail: `Gatehouse read this client's description from ${client.domain} (a client ID metadata document).`,
      }
    : {
        label: 'Self-registered',
        detail: `This client registered itself with Gatehouse (dynamic client registration); nothing vouches for its name. It will return to ${client.domain}.`,
      };
}

/** One MCP's choice on the screen: whether it is chosen, and which of its tools. */
export interface McpChoice {
  chosen: boolean;
  pick: ToolPick;
  /** Tools of the existing grant that the MCP no longer offers (dropped on approve). */
  missing: string[];
}

/**
 * The starting choices: an MCP the grant already has starts chosen with its current tools; any other starts
 * unchosen with every approved tool ticked, so choosing it means "all its tools" until the person narrows it.
 */
export function initialChoices(mcps: readonly ConsentMcp[]): Record<string, McpChoice> {
  const choices: Record<string, McpChoice> = {};
  for (const mcp of mcps) {
    if (mcp.subscribed) {
      const { pick, missing } = pickFromSubscription(
        mcp.selectedTools,
        mcp.tools.map((tool) => tool.name),
      );
      choices[mcp.id] = { chosen: true, pick, missing };
    } else {
      choices[mcp.id] = { chosen: false, pick: allTools(), missing: [] };
    }
  }
  return choices;
}

/** Why an MCP's choice cannot be approved, or undefined. */
export function choiceError(mcp: ConsentMcp, choice: McpChoice | undefined): string | undefined {
  if (!choice?.chosen) return undefined;
  return pickError(
    choice.pick,
    mcp.tools.map((tool) => tool.name),
  );
}

/** The subscriptions to confirm, in the order the MCPs are listed; empty when nothing is chosen. */
export function subscriptionsOf(
  mcps: readonly ConsentMcp[],
  choices: Record<string, McpChoice>,
): ConsentSubscription[] {
  return mcps
    .filter((mcp) => choices[mcp.id]?.chosen)
    .map((mcp) => ({
      mcpId: mcp.id,
      tools: pickToTools(
        choices[mcp.id]?.pick ?? allTools(),
        mcp.tools.map((tool) => tool.name),
      ),
    }));
}

/** Approve needs at least one chosen MCP, and every chosen MCP needs at least one tool. */
export function canApprove(mcps: readonly ConsentMcp[], choices: Record<string, McpChoice>): boolean {
  const chosen = mcps.filter((mcp) => choices[mcp.id]?.chosen);
  return chosen.length > 0 && chosen.every((mcp) => choiceError(mcp, choices[mcp.id]) === undefined);
}

/** Only an http(s) URL is followed after an answer (oidc-provider's resume URL, on this origin). */
export function isFollowableRedirect(value: string, origin: string): boolean {
  try {
    const url = new URL(value, origin);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}
