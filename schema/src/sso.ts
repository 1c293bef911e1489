import { z } from 'zod';
import { GroupId, hasNoNul, IsoDateTime, NO_NUL_MESSAGE, prefixedId } from './common.js';
import { GroupName, Role } from './identity.js';

/** Single sign-on for the portal (OpenID Connect relying party); see docs/decisions/0032-portal-single-sign-on.md. */

export const SsoProviderId = prefixedId('ssoProvider');
export const SsoSlug = z
  .string()
  .trim()
  .toLowerCase()
  .min(2)
  .max(32)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'letters, digits and dashes; must start with a letter or digit');

const ScopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,64}$/, 'a scope token');
const ClaimValue = z.string().trim().min(1).max(256).refine(hasNoNul, NO_NUL_MESSAGE);
const EmailDomain = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'a domain such as example.com');

export const SsoGroupMappingInput = z.object({ claim: ClaimValue, groupName: GroupName });
export const SsoRoleMappingInput = z.object({ claim: ClaimValue, role: Role });

const providerFields = {
  displayName: z.string().trim().min(1).max(64).refine(hasNoNul, NO_NUL_MESSAGE),
  issuer: z.url({ protocol: /^https?$/ }).max(2048),
  clientId: z.string().trim().min(1).max(255).refine(hasNoNul, NO_NUL_MESSAGE),
  scopes: z
    .array(ScopeToken)
    .min(1)
    .max(20)
    .refine((scopes) => scopes.includes('openid'), 'must include openid'),
  groupsClaim: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.:/-]{1,128}$/, 'a claim name such as groups'),
  groupMappings: z.array(SsoGroupMappingInput).max(200),
  roleMappings: z.array(SsoRoleMappingInput).max(200),
  allowedDomains: z.array(EmailDomain).max(50),
  /** Default deny: an enabled provider lists its email domains, or says so explicitly to take any (ADR 0032). */
  allowAnyDomain: z.boolean(),
  enabled: z.boolean(),
};

/** The client secret is write-only: it is sealed by the vault and never comes back. */
const ClientSecret = z.string().min(1).max(1024).refine(hasNoNul, NO_NUL_MESSAGE);

export const CreateSsoProviderInput = z.object({
  slug: SsoSlug,
  displayName: providerFields.displayName,
  issuer: providerFields.issuer,
  clientId: providerFields.clientId,
  clientSecret: ClientSecret,
  scopes: providerFields.scopes.default(['openid', 'email', 'profile']),
  groupsClaim: providerFields.groupsClaim.default('groups'),
  groupMappings: providerFields.groupMappings.default([]),
  roleMappings: providerFields.roleMappings.default([]),
  allowedDomains: providerFields.allowedDomains.default([]),
  allowAnyDomain: providerFields.allowAnyDomain.default(false),
  enabled: providerFields.enabled.default(true),
});
export type CreateSsoProviderInput = z.infer<typeof CreateSsoProviderInput>;

/** Every field but the id is optional; an omitted client secret stays as it is. The slug never changes. */
export const UpdateSsoProviderInput = z.object({
  id: SsoProviderId,
  displayName: providerFields.displayName.optional(),
  issuer: providerFields.issuer.optional(),
  clientId: providerFields.clientId.optional(),
  clientSecret: ClientSecret.optional(),
  scopes: providerFields.scopes.optional(),
  groupsClaim: providerFields.groupsClaim.optional(),
  groupMappings: providerFields.groupMappings.optional(),
  roleMappings: providerFields.roleMappings.optional(),
  allowedDomains: providerFields.allowedDomains.optional(),
  allowAnyDomain: providerFields.allowAnyDomain.optional(),
  enabled: providerFields.enabled.optional(),
});
export type UpdateSsoProviderInput = z.infer<typeof UpdateSsoProviderInput>;
export const SsoProviderRef = z.object({ id: SsoProviderId });

export const SsoProvider = z.object({
  id: SsoProviderId,
  slug: z.string(),
  displayName: z.string(),
  issuer: z.string(),
  clientId: z.string(),
  clientSecret: z.enum(['set', 'not set']),
  scopes: z.array(z.string()),
  groupsClaim: z.string(),
  groupMappings: z.array(z.object({ claim: z.string(), groupId: GroupId, groupName: z.string() })),
  roleMappings: z.array(z.object({ claim: z.string(), role: Role })),
  allowedDomains: z.array(z.string()),
  allowAnyDomain: z.boolean(),
  enabled: z.boolean(),
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
});
export type SsoProvider = z.infer<typeof SsoProvider>;
export const SsoProviderList = z.object({ items: z.array(SsoProvider) });

/** Who may sign in with a local password: everyone, or admins only (break-glass). */
export const LocalPasswords = z.enum(['everyone', 'admins_only']);
export type LocalPasswords = z.infer<typeof LocalPasswords>;
export const SetLocalPasswordsInput = z.object({ localPasswords: LocalPasswords });
export const LocalPasswordsSetting = z.object({ localPasswords: LocalPasswords });

/** What the sign-in screen needs before anyone is signed in: the enabled providers and the password policy. */
export const SignInOptions = z.object({
  providers: z.array(z.object({ slug: z.string(), displayName: z.string() })),
  localPasswords: LocalPasswords,
});
export type SignInOptions = z.infer<typeof SignInOptions>;

/** Why an SSO sign-in was refused; the sign-in screen turns each into a plain message. */
export const SsoFailureReason = z.enum([
  'state',
  'nonce',
  'id_token',
  'token_exchange',
  'disabled',
  'provider_error',
  'provider_unavailable',
  'provider_disabled',
  'domain',
  'suspended',
  'claims',
]);
export type SsoFailureReason = z.infer<typeof SsoFailureReason>;

/** The portal hash routes a sign-in may return to (no open redirect: same page, fixed alphabet). */
export const SSO_RETURN_TO = /^#\/[A-Za-z0-9/_-]{0,200}$/;
