import type { McpVersion } from '@gatehouse/schema';
import { describe, expect, it } from 'vitest';
import {
  effectiveVersion,
  formatUptime,
  matchesSearch,
  nextStep,
  versionSummary,
  workingVersion,
} from '../../../src/features/catalog/mcp-status.js';

const version = (number: number, overrides: Partial<McpVersion> = {}): McpVersion => ({
  id: `mcv_${String(number).padStart(12, '0')}`,
  version: number,
  config: {
    connection: { transport: 'stdio', command: 'node', args: [], env: {}, cwd: null },
    isolation: 'shared',
    startMode: 'lazy',
    credentials: [],
    oauth: null,
    timeouts: { connectMs: 30_000, callMs: 60_000 },
    limits: { maxConcurrentCalls: 16, maxInstances: 50 },
  },
  validationStatus: 'pending',
  validationErrors: [],
  discovery: null,
  createdAt: '2025-01-01T00:00:00.000Z',
  ...overrides,
});

const discovery = {
  discoveredAt: '2025-01-01T00:00:00.000Z',
  protocolVersion: '2025-06-18',
  serverInfo: { name: 'fx', version: '1.0.0' },
  capabilities: {},
  tools: [],
  prompts: [],
  resources: [],
  resourceTemplates: [],
};

describe('MCP lifecycle', () => {
  it('acts on the candidate when there is one, else on the live version; credentials follow the live one', () => {
    const live = version(1);
    const candidate = version(2);
    expect(workingVersion({ live, candidate })).toBe(candidate);
    expect(workingVersion({ live, candidate: null })).toBe(live);
    expect(effectiveVersion({ live, candidate })).toBe(live);
    expect(effectiveVersion({ live: null, candidate })).toBe(candidate);
  });

  it('leads a draft through validate, discover and publish', () => {
    expect(nextStep({ status: 'draft', live: null, candidate: version(1) })).toEqual({
      action: 'validate',
      text: 'Next: validate version 1.',
    });
    expect(
      nextStep({ status: 'draft', live: null, candidate: version(1, { validationStatus: 'invalid' }) })
        .action,
    ).toBe('validate');
    expect(
      nextStep({ status: 'draft', live: null, candidate: version(1, { validationStatus: 'valid' }) }).action,
    ).toBe('discover');
    expect(
      nextStep({
        status: 'draft',
        live: null,
        candidate: version(1, { validationStatus: 'valid', discovery }),
      }),
    ).toEqual({ action: 'publish', text: 'Version 1 is ready to publish.' });
  });

  it('says when a candidate would replace the live version, and when nothing is pending', () => {
    const live = version(1, { validationStatus: 'valid', discovery });
    const candidate = version(2, { validationStatus: 'valid', discovery });
    expect(nextStep({ status: 'published', live, candidate }).text).toBe(
      'Version 2 is ready to replace live version 1.',
    );
    expect(nextStep({ status: 'published', live, candidate: null }).action).toBe('none');
    expect(nextStep({ status: 'archived', live, candidate }).action).toBe('none');
    expect(nextStep({ status: 'draft', live: null, candidate: null }).action).toBe('none');
  });
});

describe('small formats', () => {
  it('summarizes versions', () => {
    expect(versionSummary({ liveVersion: 2, candidateVersion: 3 })).toBe('live v2 · candidate v3');
    expect(versionSummary({ liveVersion: null, candidateVersion: 1 })).toBe('candidate v1');
    expect(versionSummary({ liveVersion: null, candidateVersion: null })).toBe('no version');
  });

  it('formats uptime compactly', () => {
    expect(formatUptime(null)).toBe('—');
    expect(formatUptime(42.7)).toBe('42s');
    expect(formatUptime(125)).toBe('2m');
    expect(formatUptime(3 * 3600 + 12 * 60)).toBe('3h 12m');
    expect(formatUptime(2 * 86_400 + 5 * 3600)).toBe('2d 5h');
  });

  it('searches slug, name and description without regard to case', () => {
    const mcp = { slug: 'gh', name: 'GitHub', description: 'Issues and pull requests' };
    expect(matchesSearch(mcp, '')).toBe(true);
    expect(matchesSearch(mcp, ' github ')).toBe(true);
    expect(matchesSearch(mcp, 'PULL')).toBe(true);
    expect(matchesSearch(mcp, 'gitlab')).toBe(false);
  });
});
