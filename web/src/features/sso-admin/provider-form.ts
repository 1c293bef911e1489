import type { Role, SsoProvider } from '@gatehouse/schema';

/** The provider form's text fields, and their conversion to and from the API's shapes. */
export interface ProviderDraft {
  slug: string;
  displayName: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string;
  groupsClaim: string;
  /** One mapping a line: `claim value = group name`. */
  groupMappings: string;
  /** One mapping a line: `claim value = admin|auditor|user`. */
  roleMappings: string;
  allowedDomains: string;
  /** The explicit choice to take any email domain (default deny otherwise; the domain list is then ignored). */
  allowAnyDomain: boolean;
  enabled: boolean;
}

export const emptyDraft = (): ProviderDraft => ({
  slug: '',
  displayName: '',
  issuer: '',
  clientId: '',
  clientSecret: '',
  scopes: 'openid email profile',
  groupsClaim: 'groups',
  groupMappings: '',
  roleMappings: '',
  allowedDomains: '',
  allowAnyDomain: false,
  enabled: true,
});

export const draftOf = (provider: SsoProvider): ProviderDraft => ({
  slug: provider.slug,
  displayName: provider.displayName,
  issuer: provider.issuer,
  clientId: provider.clientId,
  clientSecret: '',
  scopes: provider.scopes.join(' '),
  groupsClaim: provider.groupsClaim,
  groupMappings: provider.groupMappings.map((m) => `${m.claim} = ${m.groupName}`).join('\n'),
  roleMappings: provider.roleMappings.map((m) => `${m.claim} = ${m.role}`).join('\n'),
  allowedDomains: provider.allowedDomains.join(' '),
  allowAnyDomain: provider.allowAnyDomain,
  enabled: provider.enabled,
});

const words = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** `a = b` lines; the last `=` splits, so a claim value may itself contain one. */
const pairs = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const at = line.lastIndexOf('=');
      return at < 0
        ? { left: line, right: '' }
        : { left: line.slice(0, at).trim(), right: line.slice(at + 1).trim() };
    });

export const inputOf = (draft: ProviderDraft) => ({
  displayName: draft.displayName,
  issuer: draft.issuer,
  clientId: draft.clientId,
  scopes: words(draft.scopes),
  groupsClaim: draft.groupsClaim,
  groupMappings: pairs(draft.groupMappings).map((p) => ({ claim: p.left, groupName: p.right })),
  roleMappings: pairs(draft.roleMappings).map((p) => ({ claim: p.left, role: p.right as Role })),
  // "Any domain" and a domain list exclude each other: the list is dropped when any domain is chosen.
  allowedDomains: draft.allowAnyDomain ? [] : words(draft.allowedDomains),
  allowAnyDomain: draft.allowAnyDomain,
  enabled: draft.enabled,
});
