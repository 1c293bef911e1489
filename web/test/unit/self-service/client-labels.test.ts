import { describe, expect, it } from 'vitest';
import { connectionLabel, isOAuthClient } from '../../../src/features/my-clients/client-labels.js';

describe('how a client connects', () => {
  it('a key client shows its key prefix', () => {
    const client = { keyPrefix: 'gh_ck_Ab12', oauthClientId: null, registration: null, domain: null };
    expect(connectionLabel(client)).toEqual({ oauth: false, text: 'Key gh_ck_Ab12…' });
    expect(isOAuthClient(client)).toBe(false);
  });

  it('an OAuth client shows how it registered and its domain, never a key', () => {
    const cimd = {
      keyPrefix: null,
      oauthClientId: 'https://app.example/client.json',
      registration: 'cimd' as const,
      domain: 'app.example',
    };
    expect(connectionLabel(cimd)).toEqual({
      oauth: true,
      text: 'OAuth · verified by its domain app.example',
    });
    expect(isOAuthClient(cimd)).toBe(true);
    const dcr = {
      keyPrefix: null,
      oauthClientId: 'x1',
      registration: 'dcr' as const,
      domain: '127.0.0.1:33418',
    };
    expect(connectionLabel(dcr).text).toBe('OAuth · self-registered, returns to 127.0.0.1:33418');
  });
});
