import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auditRows,
  failureOf,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { startTestIdp, type TestIdp } from '../support/idp.js';
import { person, ssoHarness } from './sso-harness.js';

/**
 * `sub` values a provider could send that Gatehouse must never link an account to, and the refusal each gets:
 * openid-client already rejects an ID token whose `sub` is not a string; Gatehouse judges the rest.
 */
const BAD_SUBJECTS: Record<string, { sub: unknown; reason: string }> = {
  subnumber: { sub: 12345, reason: 'id_token' },
  subempty: { sub: '', reason: 'claims' },
  sublong: { sub: 's'.repeat(256), reason: 'claims' },
  subnul: { sub: 'sub-with\u0000nul', reason: 'claims' },
};

/** Email domains are default deny; `sub` is judged as sent (ADR 0032). */
describe('single sign-on: email domains default deny, subjects judged as sent', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let admin: PortalClient;
  let acmeId: string;
  const { count, sessions, users, usersNamed, failures, signIn } = ssoHarness(() => ({ gh, idp }));
  const base = () => ({
    displayName: 'Acme ID',
    issuer: idp.issuer,
    clientId: idp.clientId,
    clientSecret: idp.clientSecret,
    scopes: ['openid', 'email', 'profile', 'groups'],
  });
  /** Everything a refused configuration change must leave as it was. */
  const snapshot = async () => ({
    providers: await gh.db.query('select * from sso_provider order by id'),
    groups: await count('select count(*) as n from user_group'),
    audit: await count('select count(*) as n from audit_event'),
  });

  beforeAll(async () => {
    gh = await startTestGatehouse({
      GATEHOUSE_OAUTH_ALLOW_HTTP: 'true',
      GATEHOUSE_OAUTH_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    idp = await startTestIdp({
      redirectUri: `${gh.portalUrl}/auth/sso/acme/callback`,
      accounts: {
        outsider: person('outsider', [], 'anywhere.example'),
        nobody: person('nobody', []),
        ...Object.fromEntries(
          Object.entries(BAD_SUBJECTS).map(([name, { sub }]) => [
            name,
            { ...person(name, []), extraClaims: { sub } },
          ]),
        ),
      },
    });
    admin = await setUpAdmin(gh);
    acmeId = (await admin.sso.createProvider.mutate({ ...base(), slug: 'acme', allowAnyDomain: true })).id;
  });

  afterAll(async () => {
    await idp?.close();
    await gh?.stop();
  });

  it('refuses to create, update or enable a provider without domains unless "any domain" is chosen; nothing changes', async () => {
    const expectRefused = async (attempt: () => Promise<unknown>, field: string) => {
      const before = await snapshot();
      const refusal = await failureOf(attempt());
      expect(refusal).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
      expect(Object.keys(refusal.fieldErrors ?? {})).toEqual([field]);
      expect(await snapshot()).toEqual(before);
    };
    // Created enabled (the default) with no domains, and with both a list and "any domain".
    await expectRefused(
      () =>
        admin.sso.createProvider.mutate({
          ...base(),
          slug: 'nodomains',
          groupMappings: [{ claim: 'eng', groupName: 'never-created' }],
        }),
      'allowedDomains',
    );
    await expectRefused(
      () =>
        admin.sso.createProvider.mutate({
          ...base(),
          slug: 'both',
          allowedDomains: ['acme.test'],
          allowAnyDomain: true,
        }),
      'allowAnyDomain',
    );
    // A disabled draft may wait for its domains, but is not enabled without them.
    const draft = await admin.sso.createProvider.mutate({ ...base(), slug: 'draft', enabled: false });
    expect(draft).toMatchObject({ allowedDomains: [], allowAnyDomain: false, enabled: false });
    await expectRefused(
      () => admin.sso.updateProvider.mutate({ id: draft.id, enabled: true }),
      'allowedDomains',
    );
    // An enabled provider's list is not emptied, nor "any domain" added on top of it.
    const listed = await admin.sso.createProvider.mutate({
      ...base(),
      slug: 'listed',
      allowedDomains: ['acme.test'],
    });
    await expectRefused(
      () => admin.sso.updateProvider.mutate({ id: listed.id, allowedDomains: [], displayName: 'Renamed' }),
      'allowedDomains',
    );
    await expectRefused(
      () => admin.sso.updateProvider.mutate({ id: listed.id, allowAnyDomain: true }),
      'allowAnyDomain',
    );
    await expectRefused(
      () => admin.sso.updateProvider.mutate({ id: acmeId, allowAnyDomain: false }),
      'allowedDomains',
    );
    // The explicit choice, with the list cleared, is accepted and audited as a change.
    const opened = await admin.sso.updateProvider.mutate({
      id: listed.id,
      allowedDomains: [],
      allowAnyDomain: true,
    });
    expect(opened).toMatchObject({ allowedDomains: [], allowAnyDomain: true });
    expect((await auditRows(gh, 'sso.provider_updated')).at(-1)?.details).toMatchObject({
      slug: 'listed',
      changed: ['allowedDomains', 'allowAnyDomain'],
      before: { allowedDomains: ['acme.test'], allowAnyDomain: false },
      after: { allowedDomains: [], allowAnyDomain: true },
    });
  });

  it('with "any domain" chosen, signs in a verified address at any domain', async () => {
    const before = await sessions();
    expect((await signIn('outsider')).location).toBe('/');
    expect(await usersNamed('outsider')).toBe(1);
    expect(await sessions()).toBe(before + 1);
  });

  it('signs nobody in with a provider that has no domains and no explicit choice', async () => {
    // A row in that state cannot be saved through the API; the sign-in still denies by default.
    await gh.db.query('update sso_provider set allow_any_domain = false where id = $1', [acmeId]);
    try {
      const before = { sessions: await sessions(), users: await users(), refused: await failures('domain') };
      expect((await signIn('nobody')).location).toBe('/#/?sso_error=domain');
      expect(await usersNamed('nobody')).toBe(0);
      expect(await users()).toBe(before.users);
      expect(await sessions()).toBe(before.sessions);
      expect(await failures('domain')).toHaveLength(before.refused.length + 1);
    } finally {
      await gh.db.query('update sso_provider set allow_any_domain = true where id = $1', [acmeId]);
    }
  });

  it('refuses a sub that is not a string, empty, over 255 characters or holds a NUL: audited, nothing created', async () => {
    for (const [account, { reason }] of Object.entries(BAD_SUBJECTS)) {
      const before = {
        sessions: await sessions(),
        users: await users(),
        failed: (await auditRows(gh, 'auth.sso_login_failed')).length,
        provisioned: (await auditRows(gh, 'user.provisioned')).length,
      };
      const { location } = await signIn(account);
      const failed = await auditRows(gh, 'auth.sso_login_failed');
      expect(failed, account).toHaveLength(before.failed + 1);
      expect(location, account).toBe(`/#/?sso_error=${reason}`);
      expect(failed.at(-1)).toMatchObject({ outcome: 'denied', details: { provider: 'acme', reason } });
      expect(await users(), account).toBe(before.users);
      expect(await usersNamed(account), account).toBe(0);
      expect(await sessions(), account).toBe(before.sessions);
      expect(await auditRows(gh, 'user.provisioned'), account).toHaveLength(before.provisioned);
    }
  });
});
