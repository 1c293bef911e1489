import { McpConfig } from '@gatehouse/schema';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/catalog/validation.js';

describe('validating an OAuth config', () => {
  it('requires per-user isolation, an injection that fits the transport, and a way to find the endpoints', async () => {
    const config = McpConfig.parse({
      connection: { transport: 'stdio', command: process.execPath },
      oauth: { clientId: 'gatehouse', inject: { into: 'header', name: 'Authorization' } },
    });
    const problems = await validateConfig(config);
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: 'oauth', message: expect.stringContaining('must run per user') },
        { path: 'oauth.inject', message: expect.stringContaining('as an environment variable') },
        {
          path: 'oauth',
          message: expect.stringContaining('give the authorization and token endpoints, or an issuer'),
        },
      ]),
    );
    const fixed = McpConfig.parse({
      ...config,
      isolation: 'per-user',
      oauth: {
        clientId: 'gatehouse',
        issuer: 'https://id.example.test',
        inject: { into: 'env', name: 'TOKEN' },
      },
    });
    expect(await validateConfig(fixed)).toEqual([]);
  });
});
