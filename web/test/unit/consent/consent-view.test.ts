import { describe, expect, it } from 'vitest';
import type { ConsentMcp } from '../../../src/features/consent/consent-api.js';
import {
  canApprove,
  choiceError,
  initialChoices,
  isFollowableRedirect,
  redirectHost,
  registrationText,
  safeLogoUrl,
  subscriptionsOf,
} from '../../../src/features/consent/consent-view.js';
import { rememberConsent, takeRememberedConsent } from '../../../src/features/consent/return-to.js';
import { noTools, togglePick } from '../../../src/features/my-clients/tool-selection.js';

const tool = (name: string) => ({ name, description: `${name} things` });
const github: ConsentMcp = {
  id: 'mcp_gh',
  slug: 'github',
  name: 'GitHub',
  tools: [tool('search'), tool('create_issue'), tool('close_issue')],
  subscribed: false,
  selectedTools: null,
};
const jira: ConsentMcp = {
  id: 'mcp_jira',
  slug: 'jira',
  name: 'Jira',
  tools: [tool('find'), tool('comment')],
  subscribed: true,
  selectedTools: ['comment', 'gone_tool'],
};

describe('consent screen: what it shows', () => {
  it('shows a logo only from an https URL without credentials', () => {
    expect(safeLogoUrl('https://app.example/logo.png')).toBe('https://app.example/logo.png');
    expect(safeLogoUrl('http://app.example/logo.png')).toBeUndefined();
    expect(safeLogoUrl('javascript:alert(1)')).toBeUndefined();
    expect(safeLogoUrl('data:image/svg+xml,<svg/>')).toBeUndefined();
    expect(safeLogoUrl('https://user:pw@app.example/logo.png')).toBeUndefined();
    expect(safeLogoUrl('not a url')).toBeUndefined();
    expect(safeLogoUrl(null)).toBeUndefined();
  });

  it('names the redirect host, with its port for a loopback redirect', () => {
    expect(redirectHost('http://127.0.0.1:33418/callback')).toBe('127.0.0.1:33418');
    expect(redirectHost('https://claude.ai/api/mcp/auth_callback')).toBe('claude.ai');
    expect(redirectHost('cursor://anysphere.cursor-mcp/oauth/callback')).toBe('anysphere.cursor-mcp');
    expect(redirectHost('::nonsense')).toBe('::nonsense');
  });

  it('says a CIMD client is verified by its domain and a DCR client is self-registered', () => {
    expect(registrationText({ registration: 'cimd', domain: 'app.example' }).label).toBe(
      'Verified by its domain app.example',
    );
    const dcr = registrationText({ registration: 'dcr', domain: 'localhost' });
    expect(dcr.label).toBe('Self-registered');
    expect(dcr.detail).toContain('nothing vouches for its name');
  });
});

describe('consent screen: what it sends', () => {
  it('starts new MCPs unchosen with every tool, and granted MCPs chosen with their tools (gone ones dropped)', () => {
    const choices = initialChoices([github, jira]);
    expect(choices.mcp_gh).toEqual({ chosen: false, pick: { all: true }, missing: [] });
    expect(choices.mcp_jira?.chosen).toBe(true);
    expect(choices.mcp_jira?.missing).toEqual(['gone_tool']);
    expect(subscriptionsOf([github, jira], choices)).toEqual([{ mcpId: 'mcp_jira', tools: ['comment'] }]);
  });

  it('cannot approve with no MCP chosen, or a chosen MCP with no tool', () => {
    const choices = initialChoices([github]);
    expect(canApprove([github], choices)).toBe(false);
    expect(subscriptionsOf([github], choices)).toEqual([]);
    const chosenEmpty = { mcp_gh: { chosen: true, pick: noTools(), missing: [] } };
    expect(canApprove([github], chosenEmpty)).toBe(false);
    expect(choiceError(github, chosenEmpty.mcp_gh)).toBe('Select at least one tool, or choose Select all');
    expect(canApprove([], {})).toBe(false);
  });

  it('sends null for "all tools" and the ticked tools in offered order otherwise', () => {
    const all = { mcp_gh: { chosen: true, pick: { all: true } as const, missing: [] } };
    expect(canApprove([github], all)).toBe(true);
    expect(subscriptionsOf([github], all)).toEqual([{ mcpId: 'mcp_gh', tools: null }]);
    const names = github.tools.map((entry) => entry.name);
    const withoutCreate = togglePick({ all: true }, 'create_issue', names);
    const some = { mcp_gh: { chosen: true, pick: withoutCreate, missing: [] } };
    expect(subscriptionsOf([github], some)).toEqual([{ mcpId: 'mcp_gh', tools: ['search', 'close_issue'] }]);
  });

  it('follows only an http(s) redirect', () => {
    expect(isFollowableRedirect('/oauth/authorize/abc', 'https://gw.example')).toBe(true);
    expect(isFollowableRedirect('https://gw.example/oauth/authorize/abc', 'https://gw.example')).toBe(true);
    expect(isFollowableRedirect('javascript:alert(1)', 'https://gw.example')).toBe(false);
  });
});

describe('resuming a consent request after sign-in', () => {
  const memory = () => {
    const values = new Map<string, string>();
    return {
      getItem: (key: string) => values.get(key) ?? null,
      setItem: (key: string, value: string) => void values.set(key, value),
      removeItem: (key: string) => void values.delete(key),
    };
  };

  it('remembers a uid once, and nothing that is not a uid', () => {
    const store = memory();
    rememberConsent('abc_DEF-123', store);
    expect(takeRememberedConsent(store)).toBe('abc_DEF-123');
    expect(takeRememberedConsent(store)).toBeUndefined();
    rememberConsent('../evil?x=1', store);
    expect(takeRememberedConsent(store)).toBeUndefined();
    store.setItem('gatehouse.pendingConsent', 'javascript:alert(1)');
    expect(takeRememberedConsent(store)).toBeUndefined();
  });
});
