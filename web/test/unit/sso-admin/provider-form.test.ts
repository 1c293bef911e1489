import { CreateSsoProviderInput } from '@gatehouse/schema';
import { describe, expect, it } from 'vitest';
import { draftOf, emptyDraft, inputOf } from '../../../src/features/sso-admin/provider-form.js';

describe('the SSO provider form', () => {
  it('starts default deny: no domain and "any domain" not chosen', () => {
    const draft = emptyDraft();
    expect(draft.allowAnyDomain).toBe(false);
    expect(inputOf(draft)).toMatchObject({ allowedDomains: [], allowAnyDomain: false });
  });

  it('sends the domain list, or only "any domain" when it is chosen', () => {
    const draft = { ...emptyDraft(), allowedDomains: 'acme.com, acme.io' };
    expect(inputOf(draft)).toMatchObject({ allowedDomains: ['acme.com', 'acme.io'], allowAnyDomain: false });
    expect(inputOf({ ...draft, allowAnyDomain: true })).toMatchObject({
      allowedDomains: [],
      allowAnyDomain: true,
    });
  });

  it('round-trips a provider that allows any domain', () => {
    const input = CreateSsoProviderInput.parse({
      slug: 'acme',
      displayName: 'Acme',
      issuer: 'https://id.acme.com',
      clientId: 'gatehouse',
      clientSecret: 'secret',
      allowAnyDomain: true,
    });
    const now = '2027-01-01T00:00:00.000Z';
    const draft = draftOf({
      ...input,
      id: 'ssoProvider_01',
      clientSecret: 'set',
      groupMappings: [],
      createdAt: now,
      updatedAt: now,
    });
    expect(draft.allowAnyDomain).toBe(true);
    expect(inputOf(draft)).toMatchObject({ allowedDomains: [], allowAnyDomain: true });
  });
});
