import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN,
  auditRows,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { startTestIdp, type TestIdp } from '../support/idp.js';

/**
 * The "must show" of issue 16 for single sign-on, in a real Chromium against a real OpenID provider: the
 * sign-in screen's provider button, just-in-time provisioning with mapped groups and role, memberships that
 * follow the group claim, a disabled provider account refused with a clear message, and the portal showing
 * provider-managed memberships read-only.
 */
describe('single sign-on in Chromium', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let admin: PortalClient;
  let browser: Browser;

  const count = async (sql: string) => Number((await gh.db.query<{ n: string }>(sql))[0]?.n ?? 0);
  const groupNamed = async (name: string) => {
    const group = (await admin.groups.list.query()).items.find((item) => item.name === name);
    if (!group) throw new Error(`no group ${name}`);
    return admin.groups.get.query({ id: group.id });
  };

  /** A fresh browser profile clicks "Sign in with Acme ID"; returns the page where the round trip ended. */
  async function signInWithProvider(account: string) {
    idp.signInAs(account);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(gh.portalUrl);
    await page.getByRole('link', { name: 'Sign in with Acme ID' }).click();
    return { context, page };
  }

  beforeAll(async () => {
    gh = await startTestGatehouse({
      GATEHOUSE_OAUTH_ALLOW_HTTP: 'true',
      GATEHOUSE_OAUTH_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    idp = await startTestIdp({
      redirectUri: `${gh.portalUrl}/auth/sso/acme/callback`,
      accounts: {
        erin: {
          sub: '5f0c9a1e-erin',
          preferred_username: 'erin.lee',
          name: 'Erin Lee',
          email: 'erin@acme.test',
          groups: ['eng', 'gatehouse-admins'],
        },
        frank: {
          sub: '7a2d4b9c-frank',
          preferred_username: 'frank',
          name: 'Frank Moe',
          email: 'frank@acme.test',
          groups: ['eng'],
        },
      },
    });
    admin = await setUpAdmin(gh);
    await admin.sso.createProvider.mutate({
      slug: 'acme',
      displayName: 'Acme ID',
      issuer: idp.issuer,
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      scopes: ['openid', 'email', 'profile', 'groups'],
      groupMappings: [
        { claim: 'eng', groupName: 'engineering' },
        { claim: 'ops', groupName: 'operations' },
      ],
      roleMappings: [{ claim: 'gatehouse-admins', role: 'admin' }],
      allowedDomains: ['acme.test'],
    });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await idp?.close();
    await gh?.stop();
  });

  it('creates the user at first sign-in with the mapped groups and role', async () => {
    const { context, page } = await signInWithProvider('erin');
    await expect
      .poll(() => page.locator('.account-name').getAttribute('title'), { timeout: 20_000 })
      .toBe('erin.lee');
    await context.close();

    const erin = (await admin.users.list.query({ search: 'erin' })).items[0];
    expect(erin).toMatchObject({
      username: 'erin.lee',
      displayName: 'Erin Lee',
      email: 'erin@acme.test',
      role: 'admin',
    });
    const engineering = await groupNamed('engineering');
    expect(engineering.members).toEqual([
      { id: erin?.id, username: 'erin.lee', displayName: 'Erin Lee', managedBy: 'Acme ID' },
    ]);
    expect((await groupNamed('operations')).members).toEqual([]);
    const provisioned = (await auditRows(gh, 'user.provisioned'))[0];
    expect(provisioned).toMatchObject({ actor_type: 'user', actor_user_id: erin?.id, target_id: erin?.id });
    expect(provisioned?.details).toEqual({
      provider: 'acme',
      role: 'admin',
      groupsAdded: ['engineering'],
    });
  }, 60_000);

  it('follows a changed group claim at the next sign-in', async () => {
    idp.setGroups('erin', ['ops']);
    const { context, page } = await signInWithProvider('erin');
    await expect
      .poll(() => page.locator('.account-name').getAttribute('title'), { timeout: 20_000 })
      .toBe('erin.lee');
    await context.close();

    expect((await groupNamed('engineering')).members).toEqual([]);
    expect((await groupNamed('operations')).members.map((member) => member.username)).toEqual(['erin.lee']);
    expect((await admin.users.list.query({ search: 'erin' })).items[0]?.role).toBe('user');
    expect((await auditRows(gh, 'user.sso_updated')).at(-1)?.details).toEqual({
      provider: 'acme',
      changed: ['role', 'groups'],
      fromRole: 'admin',
      role: 'user',
      groupsAdded: ['operations'],
      groupsRemoved: ['engineering'],
    });
  }, 60_000);

  it('refuses a disabled provider account with a clear message, and creates no user or session', async () => {
    idp.disable('frank');
    const before = {
      users: await count('select count(*) as n from app_user'),
      sessions: await count('select count(*) as n from portal_session'),
    };
    const { context, page } = await signInWithProvider('frank');
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.textContent(), { timeout: 20_000 }).toContain('cannot sign in');
    expect(await alert.textContent()).not.toMatch(/access_denied|error|stack/i);
    expect(page.url()).toBe(`${gh.portalUrl}/#/`);
    await context.close();

    expect(await count('select count(*) as n from app_user')).toBe(before.users);
    expect(await count('select count(*) as n from portal_session')).toBe(before.sessions);
    expect((await auditRows(gh, 'auth.sso_login_failed')).map((row) => row.details)).toEqual([
      { provider: 'acme', reason: 'disabled' },
    ]);
  }, 60_000);

  it('shows provider-managed memberships read-only, the provider without its secret, and "any domain" as a form choice', async () => {
    const operations = await groupNamed('operations');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${gh.portalUrl}/#/groups/${operations.id}`);
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const row = page.getByRole('row', { name: /erin\.lee/ });
    await expect.poll(() => row.textContent(), { timeout: 20_000 }).toContain('Managed by Acme ID');
    expect(await row.textContent()).toContain('Read-only');
    expect(await row.getByRole('button', { name: /Remove/ }).count()).toBe(0);

    await page.goto(`${gh.portalUrl}/#/sso`);
    const provider = page.getByRole('row', { name: /Acme ID/ });
    await expect.poll(() => provider.textContent(), { timeout: 20_000 }).toContain('set');
    expect(await page.content()).not.toContain(idp.clientSecret);
    expect(await provider.textContent()).toContain('acme.test');

    // "Allow any email domain" is an explicit choice in the form; the domain list is then dropped.
    await provider.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('Allow any email domain').check();
    expect(await page.getByLabel('Allowed email domains').isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Save provider' }).click();
    await expect.poll(() => provider.textContent(), { timeout: 20_000 }).toContain('any');
    expect((await admin.sso.providers.query()).items[0]).toMatchObject({
      allowedDomains: [],
      allowAnyDomain: true,
    });
    const acme = (await admin.sso.providers.query()).items[0];
    if (!acme) throw new Error('no provider');
    await admin.sso.updateProvider.mutate({
      id: acme.id,
      allowedDomains: ['acme.test'],
      allowAnyDomain: false,
    });
    await context.close();
  }, 60_000);
  it('puts the password form behind "Sign in with a password" when passwords are for admins only', async () => {
    await admin.sso.setLocalPasswords.mutate({ localPasswords: 'admins_only' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(gh.portalUrl);
    const reveal = page.getByRole('button', { name: 'Sign in with a password' });
    await reveal.waitFor({ timeout: 20_000 });
    expect(await page.getByRole('link', { name: 'Sign in with Acme ID' }).count()).toBe(1);
    expect(await page.getByLabel('Username').count()).toBe(0);
    await reveal.click();
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect
      .poll(() => page.locator('.account-name').getAttribute('title'), { timeout: 20_000 })
      .toBe(ADMIN.username);
    await context.close();
    await admin.sso.setLocalPasswords.mutate({ localPasswords: 'everyone' });
  }, 60_000);
});
