import { McpConfig } from '@gatehouse/schema';
import { describe, expect, it } from 'vitest';
import { OAUTH_ACCESS_TOKEN, resolveLaunch } from '../../src/runtime/templating.js';

const oauth = { clientId: 'gatehouse', issuer: 'https://id.example.test' };

describe('resolveLaunch', () => {
  it('injects an OAuth access token as a Bearer Authorization header for HTTP downstreams', () => {
    const config = McpConfig.parse({
      connection: {
        transport: 'streamable-http',
        url: 'https://mcp.example.test/mcp',
        headers: { 'x-team': 'a' },
      },
      isolation: 'per-user',
      oauth,
    });
    expect(resolveLaunch(config, { [OAUTH_ACCESS_TOKEN]: 'at-123' })).toEqual({
      env: {},
      headers: { 'x-team': 'a', Authorization: 'Bearer at-123' },
    });
  });

  it('injects it raw into a named header or environment variable, and not at all without a token', () => {
    const header = McpConfig.parse({
      connection: { transport: 'streamable-http', url: 'https://mcp.example.test/mcp' },
      isolation: 'per-user',
      oauth: { ...oauth, inject: { into: 'header', name: 'X-Access-Token' } },
    });
    expect(resolveLaunch(header, { [OAUTH_ACCESS_TOKEN]: 'at-123' }).headers).toEqual({
      'X-Access-Token': 'at-123',
    });
    expect(resolveLaunch(header, {}).headers).toEqual({});

    const stdio = McpConfig.parse({
      connection: { transport: 'stdio', command: 'node', env: { MODE: 'x' } },
      isolation: 'per-user',
      oauth: { ...oauth, inject: { into: 'env', name: 'ACCESS_TOKEN' } },
    });
    const launch = resolveLaunch(
      stdio,
      { [OAUTH_ACCESS_TOKEN]: 'at-123' },
      { PATH: '/bin', SECRET_OF_GATEHOUSE: 'no' },
    );
    expect(launch.env).toEqual({ PATH: '/bin', MODE: 'x', ACCESS_TOKEN: 'at-123' });
  });
});
