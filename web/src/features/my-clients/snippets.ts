import type { ClientKind } from '@gatehouse/schema';

/**
 * Copy-paste configuration for the common AI clients, pre-filled with the endpoint URL and, when it is known
 * (right after creation or rotation), the client key. Pure: no DOM, so it is unit-tested.
 */

/** Stands in for the key once it is no longer shown. */
export const KEY_PLACEHOLDER = '<your client key>';
/** The name the clients list Gatehouse under; tools appear to the model as `<mcp slug>__<tool>`. */
export const SERVER_NAME = 'gatehouse';
/** The documented default client port, used only when the portal cannot learn the real endpoint. */
export const DEFAULT_CLIENT_PORT = 8443;
/** The stdio bridge for clients that cannot speak Streamable HTTP (package `@gatehouse/sdk`). */
export const BRIDGE_PACKAGE = '@gatehouse/sdk';
export const BRIDGE_COMMAND = 'gatehouse-connect';
/** The bridge reads the key from this variable; command-line arguments are visible to other local users. */
export const BRIDGE_KEY_ENV = 'GATEHOUSE_CLIENT_KEY';
const VSCODE_KEY_INPUT = 'gatehouse-key';

export type SnippetId = 'claude-code' | 'claude-desktop' | 'vscode' | 'cursor' | 'generic';

export interface Snippet {
  id: SnippetId;
  /** The client's name, used as the heading. */
  title: string;
  /** Where the text goes. */
  where: string;
  text: string;
  /** Whether the text contains the real key (so it must be handled as a secret). */
  containsKey: boolean;
}

/** Quotes one argument for a POSIX shell, only when needed. */
export function shellQuote(value: string): string {
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);

/** The snippet for the client's own kind comes first; generic instructions lead for agents and others. */
const order: Record<ClientKind, SnippetId[]> = {
  'claude-code': ['claude-code', 'claude-desktop', 'vscode', 'cursor', 'generic'],
  'claude-desktop': ['claude-desktop', 'claude-code', 'vscode', 'cursor', 'generic'],
  vscode: ['vscode', 'claude-code', 'claude-desktop', 'cursor', 'generic'],
  cursor: ['cursor', 'claude-code', 'claude-desktop', 'vscode', 'generic'],
  agent: ['generic', 'claude-code', 'claude-desktop', 'vscode', 'cursor'],
  other: ['generic', 'claude-code', 'claude-desktop', 'vscode', 'cursor'],
};

export function connectionSnippets(options: {
  endpointUrl: string;
  /** The real key, or undefined/null to use `KEY_PLACEHOLDER`. */
  clientKey?: string | null | undefined;
  kind?: ClientKind | undefined;
}): Snippet[] {
  const url = options.endpointUrl;
  const hasKey = Boolean(options.clientKey);
  const key = options.clientKey || KEY_PLACEHOLDER;
  const bearer = `Bearer ${key}`;

  const all: Record<SnippetId, Snippet> = {
    'claude-code': {
      id: 'claude-code',
      title: 'Claude Code',
      where: 'Run in a terminal.',
      text: `claude mcp add --transport http ${SERVER_NAME} ${shellQuote(url)} --header ${shellQuote(`Authorization: ${bearer}`)}`,
      containsKey: hasKey,
    },
    'claude-desktop': {
      id: 'claude-desktop',
      title: 'Claude Desktop',
      where:
        `Add to claude_desktop_config.json (Settings → Developer → Edit Config), then restart Claude Desktop. ` +
        `It uses the ${BRIDGE_COMMAND} bridge from ${BRIDGE_PACKAGE}, which needs Node.js 20.19 or later.`,
      text: json({
        mcpServers: {
          [SERVER_NAME]: {
            command: 'npx',
            args: ['-y', '-p', BRIDGE_PACKAGE, BRIDGE_COMMAND, '--url', url],
            env: { [BRIDGE_KEY_ENV]: key },
          },
        },
      }),
      containsKey: hasKey,
    },
    vscode: {
      id: 'vscode',
      title: 'VS Code',
      where:
        'Add to .vscode/mcp.json in your workspace. VS Code asks for the client key when the server first starts ' +
        'and keeps it in its secret storage, so the key never lands in a file you might commit.',
      text: json({
        servers: {
          [SERVER_NAME]: {
            type: 'http',
            url,
            headers: { Authorization: `Bearer \${input:${VSCODE_KEY_INPUT}}` },
          },
        },
        inputs: [
          {
            id: VSCODE_KEY_INPUT,
            type: 'promptString',
            description: 'Gatehouse client key',
            password: true,
          },
        ],
      }),
      containsKey: false,
    },
    cursor: {
      id: 'cursor',
      title: 'Cursor',
      where: 'Add to ~/.cursor/mcp.json.',
      text: json({ mcpServers: { [SERVER_NAME]: { url, headers: { Authorization: bearer } } } }),
      containsKey: hasKey,
    },
    generic: {
      id: 'generic',
      title: 'Other MCP clients',
      where: 'Any client that speaks MCP over Streamable HTTP.',
      text: `URL:    ${url}\nHeader: Authorization: ${bearer}`,
      containsKey: hasKey,
    },
  };
  return order[options.kind ?? 'claude-code'].map((id) => all[id]);
}

/**
 * A best guess at the endpoint when the server cannot be asked: the portal's host on the default client port.
 * `hostname` keeps an IPv6 literal's brackets, as `URL` and `window.location` give it.
 */
export function fallbackEndpointUrl(location: { protocol: string; hostname: string }): string {
  return `${location.protocol}//${location.hostname}:${DEFAULT_CLIENT_PORT}/mcp`;
}

export type OAuthSnippetId = 'claude' | 'claude-code' | 'chatgpt' | 'vscode' | 'cursor' | 'generic';

export interface OAuthSnippet {
  id: OAuthSnippetId;
  title: string;
  where: string;
  /** Only the endpoint URL: the app asks Gatehouse for access itself, and you answer on the consent screen. */
  text: string;
}

/** OAuth-capable apps: the snippet for the client's own kind comes first. */
const oauthOrder: Record<ClientKind, OAuthSnippetId[]> = {
  'claude-code': ['claude-code', 'claude', 'chatgpt', 'vscode', 'cursor', 'generic'],
  'claude-desktop': ['claude', 'claude-code', 'chatgpt', 'vscode', 'cursor', 'generic'],
  vscode: ['vscode', 'claude', 'claude-code', 'chatgpt', 'cursor', 'generic'],
  cursor: ['cursor', 'claude', 'claude-code', 'chatgpt', 'vscode', 'generic'],
  agent: ['generic', 'claude', 'claude-code', 'chatgpt', 'vscode', 'cursor'],
  other: ['generic', 'claude', 'claude-code', 'chatgpt', 'vscode', 'cursor'],
};

/**
 * The preferred way in for apps that speak OAuth: the plain endpoint URL, no key. The app finds Gatehouse's
 * authorization server from the endpoint's 401, opens the portal's consent screen in a browser, and Gatehouse
 * creates the client when you approve.
 */
export function oauthSnippets(options: {
  endpointUrl: string;
  kind?: ClientKind | undefined;
}): OAuthSnippet[] {
  const url = options.endpointUrl;
  const all: Record<OAuthSnippetId, OAuthSnippet> = {
    claude: {
      id: 'claude',
      title: 'Claude (claude.ai and Claude Desktop)',
      where:
        'Settings → Connectors → Add custom connector, paste this URL, then Connect: Claude opens Gatehouse to ask you which MCPs it may use.',
      text: url,
    },
    'claude-code': {
      id: 'claude-code',
      title: 'Claude Code',
      where: 'Run in a terminal, then type /mcp in Claude Code and choose gatehouse to sign in.',
      text: `claude mcp add --transport http ${SERVER_NAME} ${shellQuote(url)}`,
    },
    chatgpt: {
      id: 'chatgpt',
      title: 'ChatGPT',
      where:
        'Settings → Apps → Advanced settings → Developer mode on, then Create app: paste this URL and choose OAuth.',
      text: url,
    },
    vscode: {
      id: 'vscode',
      title: 'VS Code',
      where: 'Add to .vscode/mcp.json, then Start the server: VS Code asks you to sign in with Gatehouse.',
      text: json({ servers: { [SERVER_NAME]: { type: 'http', url } } }),
    },
    cursor: {
      id: 'cursor',
      title: 'Cursor',
      where: 'Add to ~/.cursor/mcp.json, then Connect in Cursor Settings → MCP.',
      text: json({ mcpServers: { [SERVER_NAME]: { url } } }),
    },
    generic: {
      id: 'generic',
      title: 'Other MCP clients with OAuth',
      where: 'Any client that supports MCP authorization: give it only the URL.',
      text: url,
    },
  };
  return oauthOrder[options.kind ?? 'claude-code'].map((id) => all[id]);
}
