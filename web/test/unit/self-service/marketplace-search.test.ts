import { describe, expect, it } from 'vitest';
import {
  filterMarketplace,
  matchesSearch,
  matchingTools,
  needsOwnCredentials,
} from '../../../src/features/marketplace/search.js';

const github = {
  name: 'GitHub',
  slug: 'github',
  description: 'Issues and pull requests',
  tools: [{ name: 'search_issues', title: 'Search issues' }, { name: 'create_pull_request' }],
};
const jira = { name: 'Jira', slug: 'jira', description: 'Tickets', tools: [{ name: 'find_ticket' }] };

describe('marketplace search', () => {
  it('matches name, description and tool names, case-insensitively; empty matches all', () => {
    expect(matchesSearch(github, 'git')).toBe(true);
    expect(matchesSearch(github, 'PULL requests')).toBe(true);
    expect(matchesSearch(jira, 'find_ticket')).toBe(true);
    expect(matchesSearch(jira, 'issues')).toBe(false);
    expect(filterMarketplace([github, jira], '  ')).toHaveLength(2);
  });

  it('needs every word to match somewhere', () => {
    expect(filterMarketplace([github, jira], 'github pull').map((entry) => entry.slug)).toEqual(['github']);
    expect(filterMarketplace([github, jira], 'github ticket')).toEqual([]);
  });

  it('names the tools that matched', () => {
    expect(matchingTools(github, 'pull')).toEqual(['create_pull_request']);
    expect(matchingTools(github, 'search')).toEqual(['search_issues']);
    expect(matchingTools(github, '')).toEqual([]);
  });

  it('per-user MCPs with credential fields need the user’s own values', () => {
    const field = { name: 'TOKEN', label: 'Token', help: '', secret: true, required: true };
    expect(needsOwnCredentials({ isolation: 'per-user', credentials: [field] })).toBe(true);
    expect(needsOwnCredentials({ isolation: 'shared', credentials: [field] })).toBe(false);
    expect(needsOwnCredentials({ isolation: 'per-user', credentials: [] })).toBe(false);
  });
});
