import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LIVE_STATES_PER_SOURCE } from '../../src/sso/login.service.js';
import {
  ADMIN,
  auditRows,
  failureOf,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { httpBrowser, startTestIdp, type TestIdp } from '../support/idp.js';
import { person, ssoHarness } from './sso-harness.js';

/** 244 + `@acme.test` (10) + `.evil.net` (9) = 263 characters: cut at 254 it would read `…@acme.test`. */
const LONG_EMAIL = `${'l'.repeat(244)}@acme.test.evil.net`;

/** What the provider's claims must be before anyone is signed in or provisioned. */
describe('single sign-on hardening: claims judged as sent, bounded starts, stable issuers', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let admin: PortalClient;
  const { count, sessions, users, usersNamed, failures, signIn } = ssoHarness(() => ({ gh, idp }));

  beforeAll(async () => {
    gh = await startTestGatehouse({
      GATEHOUSE_OAUTH_ALLOW_HTTP: 'true',
      GATEHOUSE_OAUTH_ALLOW_PRIVATE_NETWORKS: 'true',
      GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1',
    });
    idp = await startTestIdp({
      redirectUri: `${gh.portalUrl}/auth/sso/acme/callback`,
      accounts: {
        unverified: { ...person('unverified', []), emailVerified: null },
        falsified: { ...person('falsified', []), emailVerified: false },
        longmail: { ...person('longmail', []), email: LONG_EMAIL },
        twoats: { ...person('twoats', []), email: 'two@at@acme.test' },
        baddomain: { ...person('baddomain', []), email: 'x@acme..test' },
        squatter: { ...person('squatter', []), preferred_username: ADMIN.username },
        good: person('good', []),
        newcomer: person('newcomer', []),
        gone: { ...person('gone', []), disabled: true },
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
      allowedDomains: ['acme.test'],
    });
  });

  afterAll(async () => {
    await idp?.close();
    await gh?.stop();
  });

  /** Signs `account` in and expects the refusal `reason`: audited once more, no user, no session. */
  async function expectRefused(account: string, reason: string) {
    const before = {
      sessions: await sessions(),
      users: await users(),
      failures: (await failures(reason)).length,
    };
    expect((await signIn(account)).location).toBe(`/#/?sso_error=${reason}`);
    expect(await sessions()).toBe(before.sessions);
    expect(await users()).toBe(before.users);
    expect(await usersNamed(account)).toBe(0);
    expect(await failures(reason)).toHaveLength(before.failures + 1);
  }

  it('refuses an email the provider has not verified when domains are restricted', async () => {
    await expectRefused('unverified', 'claims');
    await expectRefused('falsified', 'claims');
    expect((await signIn('good')).location).toBe('/');
    expect(await usersNamed('good')).toBe(1);
  });

  it('refuses an email over 254 characters instead of cutting it to an allowed domain', async () => {
    expect(LONG_EMAIL).toHaveLength(263);
    expect(LONG_EMAIL.slice(0, 254).endsWith('@acme.test')).toBe(true);
    await expectRefused('longmail', 'claims');
  });

  it('refuses an email without exactly one @ or with a malformed domain', async () => {
    await expectRefused('twoats', 'claims');
    await expectRefused('baddomain', 'claims');
  });

  it("gives a person whose preferred_username is a local admin's another username; the admin is untouched", async () => {
    const root = async () =>
      (
        await gh.db.query<Record<string, unknown>>(
          'select username, role, status, password_hash, sso_provider_id, email, display_name, updated_at from app_user where username = $1',
          [ADMIN.username],
        )
      )[0];
    const before = await root();
    expect((await signIn('squatter')).location).toBe('/');
    expect(await root()).toEqual(before);
    const provisioned = (await auditRows(gh, 'user.provisioned')).at(-1);
    const rows = await gh.db.query<{ username: string }>('select username from app_user where id = $1', [
      provisioned?.target_id,
    ]);
    expect(rows[0]?.username).toBe(`${ADMIN.username}-2`);
  });

  it('keeps the issuer of a provider with linked users; audits old and new values of other changes', async () => {
    const acme = (await admin.sso.providers.query()).items[0];
    if (!acme) throw new Error('no provider');
    expect(await usersNamed('good')).toBe(1);
    const updates = (await auditRows(gh, 'sso.provider_updated')).length;
    const refused = await failureOf(
      admin.sso.updateProvider.mutate({ id: acme.id, issuer: 'http://127.0.0.1:1/other' }),
    );
    expect(refused.code).toBe('PRECONDITION_FAILED');
    expect(refused.message).toContain('new provider');
    expect((await admin.sso.providers.query()).items[0]?.issuer).toBe(idp.issuer);
    expect(await auditRows(gh, 'sso.provider_updated')).toHaveLength(updates);

    await admin.sso.updateProvider.mutate({
      id: acme.id,
      clientId: 'another-client',
      roleMappings: [{ claim: 'ops', role: 'auditor' }],
    });
    expect((await auditRows(gh, 'sso.provider_updated')).at(-1)?.details).toMatchObject({
      changed: ['clientId', 'roleMappings'],
      before: { clientId: idp.clientId, roleMappings: [] },
      after: { clientId: 'another-client', roleMappings: [{ claim: 'ops', role: 'auditor' }] },
      clientSecret: 'unchanged',
    });
    await admin.sso.updateProvider.mutate({ id: acme.id, clientId: idp.clientId, roleMappings: [] });

    // Nobody linked yet: a new issuer is allowed, and audited from and to.
    const spare = await admin.sso.createProvider.mutate({
      slug: 'spare',
      displayName: 'Spare',
      issuer: idp.issuer,
      clientId: 'spare',
      clientSecret: 'spare-secret-value',
      allowedDomains: ['acme.test'],
    });
    await admin.sso.updateProvider.mutate({ id: spare.id, issuer: `${idp.issuer}/next` });
    expect((await auditRows(gh, 'sso.provider_updated')).at(-1)?.details).toMatchObject({
      before: { issuer: idp.issuer },
      after: { issuer: `${idp.issuer}/next` },
    });
    expect(JSON.stringify(await auditRows(gh))).not.toContain('spare-secret-value');
  });

  it('caps the sign-ins in flight per source: one address over its cap is refused, another still starts', async () => {
    const startFrom = (ip: string) =>
      fetch(`${gh.portalUrl}/auth/sso/acme/start`, {
        redirect: 'manual',
        headers: { 'x-forwarded-for': ip },
      });
    const states = () => count('select count(*) as n from sso_login_state');
    const refusals = async () =>
      (await auditRows(gh, 'auth.refused')).filter((row) => row.details.kind === 'sso_throttled');
    for (let n = 0; n < MAX_LIVE_STATES_PER_SOURCE; n++) {
      const started = await startFrom('203.0.113.7');
      expect(new URL(started.headers.get('location') ?? '/', gh.portalUrl).origin).toBe(idp.issuer);
    }
    const before = await states();
    const refused = await startFrom('203.0.113.7');
    expect(refused.headers.get('location')).toBe('/#/?sso_error=busy');
    expect(await states()).toBe(before);
    const again = await startFrom('203.0.113.7');
    expect(again.headers.get('location')).toBe('/#/?sso_error=busy');
    // Refusals are aggregated: one record at once for the source, the rest counted.
    expect(await refusals()).toHaveLength(1);
    expect((await refusals())[0]).toMatchObject({ ip: '203.0.113.7', outcome: 'denied' });
    expect((await refusals())[0]?.details).toMatchObject({
      provider: 'acme',
      limit: MAX_LIVE_STATES_PER_SOURCE,
    });

    const other = await startFrom('198.51.100.9');
    expect(new URL(other.headers.get('location') ?? '/', gh.portalUrl).origin).toBe(idp.issuer);
    expect(await states()).toBe(before + 1);
  });

  it('logs no query string of a callback, successful or an error from the provider', async () => {
    const ok = await signIn('good');
    expect(ok.location).toBe('/');
    const denied = await signIn('gone');
    expect(denied.location).toBe('/#/?sso_error=disabled');
    const okQuery = new URL(ok.callbackUrl).searchParams;
    const deniedQuery = new URL(denied.callbackUrl).searchParams;
    expect(deniedQuery.get('error_description')).toBeTruthy();
    const logs = gh.logs.join('\n');
    expect(logs).toContain('/auth/sso/acme/callback');
    for (const value of [
      okQuery.get('code'),
      okQuery.get('state'),
      deniedQuery.get('state'),
      deniedQuery.get('error_description'),
    ]) {
      expect(value).toBeTruthy();
      expect(logs).not.toContain(String(value));
      expect(logs).not.toContain(encodeURIComponent(String(value)));
    }
  });

  it('answers a malformed Host header with the sign-in screen, never a 500 or internal text', async () => {
    const port = new URL(gh.portalUrl).port;
    const get = (path: string) =>
      new Promise<{ status: number; location: string; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, headers: { host: 'bad[host' } }, (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += String(chunk);
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, location: String(res.headers.location ?? ''), body }),
          );
        });
        req.on('error', reject);
        req.end();
      });
    const states = () => count('select count(*) as n from sso_login_state');
    const before = { sessions: await sessions(), users: await users(), states: await states() };
    for (const path of ['/auth/sso/acme/callback?code=abc&state=def', '/auth/sso/acme/start']) {
      const answer = await get(path);
      expect(answer.status).toBe(303);
      expect(answer.location).toMatch(/^\/#\/\?sso_error=/);
      expect(answer.body).not.toMatch(/Invalid URL|TypeError|stack/i);
    }
    expect(await sessions()).toBe(before.sessions);
    expect(await users()).toBe(before.users);
    expect(await states()).toBe(before.states);
  });

  it('counts callbacks with a state never issued and starts for unknown providers, not one row each', async () => {
    const refused = async (kind: string) =>
      (await auditRows(gh, 'auth.refused')).filter((row) => row.details.kind === kind);
    const stateFailures = (await failures('state')).length;
    for (const n of [1, 2, 3]) {
      const answer = await fetch(
        `${gh.portalUrl}/auth/sso/acme/callback?code=c${n}&state=never-issued-${n}`,
        {
          redirect: 'manual',
        },
      );
      expect(answer.headers.get('location')).toBe('/#/?sso_error=state');
    }
    expect(await failures('state')).toHaveLength(stateFailures);
    expect(await refused('sso_unknown_state')).toHaveLength(1);
    expect((await refused('sso_unknown_state'))[0]?.details).toMatchObject({ provider: 'acme', count: 1 });

    for (const path of [
      '/auth/sso/nobody/start',
      '/auth/sso/nobody/start',
      '/auth/sso/nobody/callback?state=x',
    ]) {
      const answer = await fetch(`${gh.portalUrl}${path}`, { redirect: 'manual' });
      expect(answer.headers.get('location')).toBe('/#/?sso_error=unknown_provider');
    }
    expect(await refused('sso_unknown_provider')).toHaveLength(1);
    expect((await refused('sso_unknown_provider'))[0]?.details).toMatchObject({ provider: 'nobody' });
  });

  it('refuses a sign-in whose provider was disabled between start and callback, with its own reason', async () => {
    const acme = (await admin.sso.providers.query()).items.find((provider) => provider.slug === 'acme');
    if (!acme) throw new Error('no provider');
    const before = { sessions: await sessions(), users: await users(), tokens: idp.tokenRequests() };
    const attempt = await signIn('newcomer', {
      beforeCallback: async () => {
        await admin.sso.updateProvider.mutate({ id: acme.id, enabled: false });
        // Disabling signed out the provider's users: count from here.
        before.sessions = await sessions();
      },
    });
    try {
      expect(attempt.location).toBe('/#/?sso_error=provider_disabled');
      expect(await failures('provider_disabled')).toHaveLength(1);
      expect(await sessions()).toBe(before.sessions);
      expect(await users()).toBe(before.users);
      expect(idp.tokenRequests()).toBe(before.tokens);
    } finally {
      await admin.sso.updateProvider.mutate({ id: acme.id, enabled: true });
    }
  });

  it('bounds the sign-ins in flight: over the bound, start refuses and stores nothing', async () => {
    const acmeId = (await admin.sso.providers.query()).items.find((p) => p.slug === 'acme')?.id;
    // Far-future expiry: live whatever the clock says.
    await gh.db.query(
      `insert into sso_login_state (id, provider_id, nonce, verifier_sealed, browser_hash, return_to, created_at, expires_at)
       select md5(n::text) || md5((n + 1)::text), $1, 'n', 'v', 'b', '', '2000-01-01T00:00:00Z', '9999-12-31T00:00:00Z'
       from generate_series(1, 10000) as n`,
      [acmeId],
    );
    try {
      const before = await count('select count(*) as n from sso_login_state');
      const start = await httpBrowser().get(`${gh.portalUrl}/auth/sso/acme/start`);
      expect(start.headers.get('location')).toBe('/#/?sso_error=busy');
      expect(await count('select count(*) as n from sso_login_state')).toBe(before);
    } finally {
      await gh.db.query(`delete from sso_login_state where nonce = 'n'`);
    }
  });
});
