import { describe, expect, it } from 'vitest';
import {
  connectionSnippets,
  fallbackEndpointUrl,
  KEY_PLACEHOLDER,
  oauthSnippets,
  type Snippet,
  shellQuote,
} from '../../../src/features/my-clients/snippets.js';

const url = 'https://gatehouse.example.com:8443/mcp';
const key = 'gh_ck_AbCdEf0123456789AbCdEf0123456789';

const byId = (snippets: Snippet[], id: Snippet['id']) => {
  const found = snippets.find((snippet) => snippet.id === id);
  if (!found) throw new Error(`no ${id} snippet`);
  return found;
};

describe('connection snippets', () => {
  it('Claude Code: the claude mcp add command with the URL and the key', () => {
    const snippet = byId(connectionSnippets({ endpointUrl: url, clientKey: key }), 'claude-code');
    expect(snippet.text).toBe(
      `claude mcp add --transport http gatehouse ${url} --header 'Authorization: Bearer ${key}'`,
    );
    expect(snippet.containsKey).toBe(true);
  });

  it('without a key, every snippet uses the placeholder and none contains a key', () => {
    const snippets = connectionSnippets({ endpointUrl: url });
    for (const snippet of snippets) {
      expect(snippet.text).toContain(url);
      expect(snippet.text).not.toContain('gh_ck_');
      expect(snippet.containsKey).toBe(false);
    }
    expect(byId(snippets, 'claude-code').text).toContain(`'Authorization: Bearer ${KEY_PLACEHOLDER}'`);
    expect(byId(snippets, 'cursor').text).toContain(`Bearer ${KEY_PLACEHOLDER}`);
  });

  it('Claude Desktop: the gatehouse-connect bridge through npx, the key in GATEHOUSE_CLIENT_KEY', () => {
    const config = JSON.parse(
      byId(connectionSnippets({ endpointUrl: url, clientKey: key }), 'claude-desktop').text,
    );
    expect(config).toEqual({
      mcpServers: {
        gatehouse: {
          command: 'npx',
          args: ['-y', '-p', '@gatehouse/sdk', 'gatehouse-connect', '--url', url],
          env: { GATEHOUSE_CLIENT_KEY: key },
        },
      },
    });
  });

  it('VS Code: an http server whose key VS Code prompts for, never written into the workspace file', () => {
    const snippet = byId(connectionSnippets({ endpointUrl: url, clientKey: key }), 'vscode');
    const config = JSON.parse(snippet.text);
    expect(config.servers.gatehouse).toEqual({
      type: 'http',
      url,
      // VS Code's own input syntax, not a template placeholder.
      headers: { Authorization: ['Bearer $', '{input:gatehouse-key}'].join('') },
    });
    expect(config.inputs).toEqual([
      { id: 'gatehouse-key', type: 'promptString', description: 'Gatehouse client key', password: true },
    ]);
    expect(snippet.text).not.toContain(key);
    expect(snippet.containsKey).toBe(false);
  });

  it('Cursor: url and Authorization header', () => {
    const config = JSON.parse(byId(connectionSnippets({ endpointUrl: url, clientKey: key }), 'cursor').text);
    expect(config).toEqual({
      mcpServers: { gatehouse: { url, headers: { Authorization: `Bearer ${key}` } } },
    });
  });

  it('puts the snippet for the client kind first', () => {
    const first = (kind: Parameters<typeof connectionSnippets>[0]['kind']) =>
      connectionSnippets({ endpointUrl: url, kind })[0]?.id;
    expect(first(undefined)).toBe('claude-code');
    expect(first('claude-desktop')).toBe('claude-desktop');
    expect(first('vscode')).toBe('vscode');
    expect(first('cursor')).toBe('cursor');
    expect(first('agent')).toBe('generic');
    expect(connectionSnippets({ endpointUrl: url, kind: 'other' })).toHaveLength(5);
  });

  it('quotes shell arguments only when needed', () => {
    expect(shellQuote(url)).toBe(url);
    expect(shellQuote('http://[::1]:8443/mcp')).toBe("'http://[::1]:8443/mcp'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe("''");
  });

  it('guesses the endpoint from the portal address on the default client port', () => {
    expect(fallbackEndpointUrl(new URL('https://gatehouse.example.com:9443/#/my/clients'))).toBe(
      'https://gatehouse.example.com:8443/mcp',
    );
    expect(fallbackEndpointUrl(new URL('http://[::1]:9443/'))).toBe('http://[::1]:8443/mcp');
  });
});

describe('OAuth connection snippets', () => {
  it('carry only the endpoint URL, never a key or an Authorization header', () => {
    const snippets = oauthSnippets({ endpointUrl: url });
    expect(snippets.map((snippet) => snippet.id)).toEqual([
      'claude-code',
      'claude',
      'chatgpt',
      'vscode',
      'cursor',
      'generic',
    ]);
    for (const snippet of snippets) {
      expect(snippet.text).toContain(url);
      expect(snippet.text).not.toMatch(/authorization|bearer|gh_ck_/i);
    }
  });

  it('give Claude Code the plain add command, VS Code and Cursor a URL-only server', () => {
    const snippets = oauthSnippets({ endpointUrl: url, kind: 'vscode' });
    expect(snippets[0]?.id).toBe('vscode');
    const find = (id: string) => snippets.find((snippet) => snippet.id === id)?.text ?? '';
    expect(find('claude-code')).toBe(`claude mcp add --transport http gatehouse ${url}`);
    expect(JSON.parse(find('vscode'))).toEqual({ servers: { gatehouse: { type: 'http', url } } });
    expect(JSON.parse(find('cursor'))).toEqual({ mcpServers: { gatehouse: { url } } });
    expect(find('claude')).toBe(url);
  });
});
