import { describe, expect, it } from 'vitest';
import {
  changedValues,
  initialInputs,
  isNavigableUrl,
  parseOAuthOutcome,
} from '../../../src/features/credentials/credential-form.js';

const fields = [
  { name: 'API_TOKEN', secret: true, value: null },
  { name: 'REGION', secret: false, value: 'eu-west-1' },
  { name: 'ACCOUNT', secret: false, value: null },
];

describe('credential form', () => {
  it('starts secrets empty and shows stored non-secret values', () => {
    expect(initialInputs(fields)).toEqual({ API_TOKEN: '', REGION: 'eu-west-1', ACCOUNT: '' });
  });

  it('sends typed secrets as typed and changed non-secret values, nothing else', () => {
    expect(changedValues(fields, initialInputs(fields))).toEqual({});
    expect(changedValues(fields, { API_TOKEN: ' s3cret ', REGION: 'eu-west-1', ACCOUNT: ' acme ' })).toEqual({
      API_TOKEN: ' s3cret ',
      ACCOUNT: 'acme',
    });
    expect(changedValues(fields, { API_TOKEN: '', REGION: 'us-east-1', ACCOUNT: '' })).toEqual({
      REGION: 'us-east-1',
    });
  });

  it('an emptied non-secret input keeps the stored value (Delete clears)', () => {
    expect(changedValues(fields, { API_TOKEN: '', REGION: '', ACCOUNT: '' })).toEqual({});
  });

  it('reads the OAuth outcome from the hash query', () => {
    expect(parseOAuthOutcome(new URLSearchParams('oauth=connected&mcp=github'))).toEqual({
      kind: 'connected',
      mcp: 'github',
    });
    expect(parseOAuthOutcome(new URLSearchParams('oauth=connected'))).toEqual({
      kind: 'connected',
      mcp: null,
    });
    // Whatever text a link carries as the reason, none of it reaches the page.
    expect(
      parseOAuthOutcome(new URLSearchParams('oauth=error&reason=Call%20us%20at%20evil.example')),
    ).toEqual({
      kind: 'error',
    });
    expect(parseOAuthOutcome(new URLSearchParams('oauth=error'))?.kind).toBe('error');
    expect(parseOAuthOutcome(new URLSearchParams('oauth=other'))).toBeNull();
    expect(parseOAuthOutcome(new URLSearchParams(''))).toBeNull();
  });

  it('only sends the browser to http(s) authorization URLs', () => {
    expect(isNavigableUrl('https://github.com/login/oauth/authorize?x=1')).toBe(true);
    expect(isNavigableUrl('javascript:alert(1)')).toBe(false);
    expect(isNavigableUrl('not a url')).toBe(false);
  });
});
