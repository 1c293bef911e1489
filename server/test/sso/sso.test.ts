import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../support/clock.js';
import {
  ADMIN,
  auditRows,
  failureOf,
  type PortalClient,
  portalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { httpBrowser, startTestIdp, type TestIdp } from '../support/idp.js';
import { person, ssoHarness } from './sso-harness.js';

const PASSWORD = 'Plenty-long-passphrase-9';

describe('single sign-on over HTTP against a real OpenID provider', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let admin: PortalClient;
  let providerId: string;
  const answers: unknown[] = [];
  const clock = new ManualClock();

  const { count, sessions, usersNamed, failures, signIn } = ssoHarness(() => ({ gh, idp }));

  beforeAll(async () => {
    gh = await startTestGatehouse(
      { GATEHOUSE_OAUTH_ALLOW_HTTP: 'true', GATEHOUSE_OAUTH_ALLOW_PRIVATE_NETWORKS: 'true' },
      { clock },
    );
    idp = await startTestIdp({
      redirectUri: `${gh.portalUrl}/auth/sso/acme/callback`,
      accounts: {
        alice: person('alice', ['eng']),
        bob: person('bob', ['eng']),
        carol: person('carol', ['eng']),
        dave: person('dave', ['eng'], 'elsewhere.test'),
        erin: person('erin', ['eng']),
        gus: person('gus', ['eng']),
        ivy: person('ivy', ['eng', 'gatehouse-admins']),
        jon: person('jon', ['eng']),
        kim: person('kim', ['eng']),
        lisa: person('lisa', []),
      },
    });
    admin = await setUpAdmin(gh);
    const created = await admin.sso.createProvider.mutate({
      slug: 'acme',
      displayName: 'Acme ID',
      issuer: idp.issuer,
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      scopes: ['openid', 'email', 'profile', 'groups'],
      groupMappings: [{ claim: 'eng', groupName: 'engineering' }],
      roleMappings: [{ claim: 'gatehouse-admins', role: 'admin' }],
      allowedDomains: ['acme.test'],
    });
    answers.push(created);
    providerId = created.id;
  });

  afterAll(async () => {
    await idp?.close();
    await gh?.stop();
  });

  it('signs a person in with a portal session, and refuses the same callback replayed', async () => {
    const before = await sessions();
    const first = await signIn('alice', { returnTo: '#/my/clients' });
    expect(first.location).toBe('/#/my/clients');
    expect(await sessions()).toBe(before + 1);
    const sessionCookie = first.browser.jar.get('gh_session') ?? '';
    const me = await fetch(`${gh.portalUrl}/trpc/auth.me`, {
      headers: { cookie: `gh_session=${sessionCookie}` },
    });
    const principal = (
      (await me.json()) as { result: { data: { user: { username: string; role: string } } } }
    ).result.data.user;
    expect(principal).toMatchObject({ username: 'alice', role: 'user' });
    expect((await auditRows(gh, 'auth.sso_login')).at(-1)?.details).toEqual({ provider: 'acme' });

    // The same callback again, even with the browser's binding cookie: the state is spent.
    const replay = await first.browser.get(first.callbackUrl, new Map([['gh_sso', first.bindingCookie]]));
    expect(replay.headers.get('location')).toBe('/#/?sso_error=state');
    expect(await sessions()).toBe(before + 1);
    expect(await failures('state')).toHaveLength(1);
  });

  it('refuses a tampered ID token: audited, no user, no session', async () => {
    const before = { sessions: await sessions(), tokenRequests: idp.tokenRequests() };
    const attempt = await signIn('bob', { beforeCallback: () => idp.tamperNextIdToken() });
    expect(attempt.location).toBe('/#/?sso_error=id_token');
    expect(idp.tokenRequests()).toBe(before.tokenRequests + 1);
    expect(await usersNamed('bob')).toBe(0);
    expect(await sessions()).toBe(before.sessions);
    expect(await failures('id_token')).toHaveLength(1);
  });

  it('refuses an ID token carrying another nonce: audited, no user, no session', async () => {
    const before = await sessions();
    const attempt = await signIn('carol', {
      alterAuthorizationUrl: (url) => url.searchParams.set('nonce', 'a-nonce-gatehouse-never-issued'),
    });
    expect(attempt.location).toBe('/#/?sso_error=nonce');
    expect(await usersNamed('carol')).toBe(0);
    expect(await sessions()).toBe(before);
    expect(await failures('nonce')).toHaveLength(1);
  });

  it('refuses a sign-in that took longer than ten minutes', async () => {
    const before = { sessions: await sessions(), refused: (await failures('state')).length };
    const attempt = await signIn('kim', { beforeCallback: () => clock.advance(10 * 60 * 1000 + 1000) });
    expect(attempt.location).toBe('/#/?sso_error=state');
    expect(await usersNamed('kim')).toBe(0);
    expect(await sessions()).toBe(before.sessions);
    expect(await failures('state')).toHaveLength(before.refused + 1);
  });

  it('refuses a callback finished in another browser than the one that started it', async () => {
    const before = { sessions: await sessions(), refused: (await failures('state')).length };
    const started = httpBrowser();
    idp.signInAs('gus');
    const start = await started.get(`${gh.portalUrl}/auth/sso/acme/start`);
    const callbackUrl = await started.follow(start.headers.get('location') ?? '', (url) =>
      url.pathname.startsWith('/auth/sso/'),
    );
    const other = await httpBrowser().get(callbackUrl);
    expect(other.headers.get('location')).toBe('/#/?sso_error=state');
    expect(await usersNamed('gus')).toBe(0);
    expect(await sessions()).toBe(before.sessions);
    expect(await failures('state')).toHaveLength(before.refused + 1);
  });

  it('refuses an email domain the provider does not allow, and never redirects off the portal', async () => {
    const before = await sessions();
    const attempt = await signIn('dave');
    expect(attempt.location).toBe('/#/?sso_error=domain');
    expect(await usersNamed('dave')).toBe(0);
    expect(await sessions()).toBe(before);
    expect(await failures('domain')).toHaveLength(1);

    const offsite = await signIn('erin', { returnTo: '//evil.example/#/x' });
    expect(offsite.location).toBe('/');
  });

  it('keeps provider-managed memberships out of hand edits; manual ones stay editable', async () => {
    const groups = (await admin.groups.list.query()).items;
    const engineering = groups.find((group) => group.name === 'engineering');
    if (!engineering) throw new Error('the mapping created no engineering group');
    const alice = (await admin.users.list.query({ search: 'alice' })).items[0];
    if (!alice) throw new Error('alice was not provisioned');
    const detail = await admin.groups.get.query({ id: engineering.id });
    expect(detail.members.find((member) => member.id === alice.id)?.managedBy).toBe('Acme ID');

    const removals = (await auditRows(gh, 'group.remove_member')).length;
    const refused = await failureOf(
      admin.groups.removeMember.mutate({ groupId: engineering.id, userId: alice.id }),
    );
    expect(refused.code).toBe('PRECONDITION_FAILED');
    expect(refused.message).toContain('Acme ID');
    expect((await admin.groups.get.query({ id: engineering.id })).members.map((m) => m.id)).toContain(
      alice.id,
    );
    expect(await auditRows(gh, 'group.remove_member')).toHaveLength(removals);

    const manual = await admin.groups.create.mutate({ name: 'hand-picked' });
    await admin.groups.addMember.mutate({ groupId: manual.id, userId: alice.id });
    expect((await admin.groups.get.query({ id: manual.id })).members[0]?.managedBy).toBeNull();
    await admin.groups.removeMember.mutate({ groupId: manual.id, userId: alice.id });
    expect((await admin.groups.get.query({ id: manual.id })).members).toHaveLength(0);
  });

  it('refuses a locally suspended user at the next SSO sign-in', async () => {
    const alice = (await admin.users.list.query({ search: 'alice' })).items[0];
    if (!alice) throw new Error('alice was not provisioned');
    await admin.users.suspend.mutate({ id: alice.id });
    const before = await sessions();
    const attempt = await signIn('alice');
    expect(attempt.location).toBe('/#/?sso_error=suspended');
    expect(await sessions()).toBe(before);
    expect((await failures('suspended'))[0]?.target_id).toBe(alice.id);
  });

  it('with "admins only", refuses a non-admin password sign-in like a wrong password, not an admin', async () => {
    await admin.users.create.mutate({
      username: 'pat',
      displayName: 'Pat',
      email: 'pat@example.test',
      password: PASSWORD,
      role: 'user',
    });
    await portalClient(gh.portalUrl).signIn('pat', PASSWORD);
    expect((await admin.sso.setLocalPasswords.mutate({ localPasswords: 'admins_only' })).localPasswords).toBe(
      'admins_only',
    );
    expect((await auditRows(gh, 'auth.local_passwords_set')).at(-1)?.details).toEqual({
      from: 'everyone',
      to: 'admins_only',
    });
    expect((await portalClient(gh.portalUrl).sso.signInOptions.query()).localPasswords).toBe('admins_only');

    const before = await sessions();
    const refused = await failureOf(portalClient(gh.portalUrl).signIn('pat', PASSWORD));
    const wrong = await failureOf(portalClient(gh.portalUrl).signIn('pat', `${PASSWORD}x`));
    expect(refused).toEqual(wrong);
    expect(refused.code).toBe('UNAUTHENTICATED');
    expect(await sessions()).toBe(before);
    expect((await auditRows(gh, 'auth.login_failed')).map((row) => row.reason)).toContain(
      'local passwords are for admins only',
    );
    // The break-glass admin keeps working.
    await portalClient(gh.portalUrl).signIn(ADMIN.username, ADMIN.password);
    expect(await sessions()).toBe(before + 1);
    await admin.sso.setLocalPasswords.mutate({ localPasswords: 'everyone' });

    // An SSO-provisioned user has no usable password at all, and an admin cannot give them one.
    const noPassword = await failureOf(portalClient(gh.portalUrl).signIn('erin', PASSWORD));
    expect(noPassword.code).toBe('UNAUTHENTICATED');
    const erin = (await admin.users.list.query({ search: 'erin' })).items[0];
    expect(erin?.ssoProviderId).toBe(providerId);
    const resets = (await auditRows(gh, 'user.reset_password')).length;
    const reset = await failureOf(
      admin.users.resetPassword.mutate({ id: erin?.id ?? '', newPassword: PASSWORD }),
    );
    expect(reset.code).toBe('PRECONDITION_FAILED');
    expect(await auditRows(gh, 'user.reset_password')).toHaveLength(resets);
    expect(await failureOf(portalClient(gh.portalUrl).signIn('erin', PASSWORD))).toMatchObject({
      code: 'UNAUTHENTICATED',
    });
  });

  it('lets only admins configure providers, with bounded input that changes nothing when refused', async () => {
    const user = portalClient(gh.portalUrl);
    await user.signIn('pat', PASSWORD);
    expect((await failureOf(user.sso.providers.query())).code).toBe('FORBIDDEN');
    const bad = await failureOf(
      admin.sso.createProvider.mutate({
        slug: 'Not A Slug!',
        displayName: 'x',
        issuer: 'ftp://idp.example',
        clientId: 'c',
        clientSecret: 's',
        scopes: ['email'],
      }),
    );
    expect(bad.status).toBe(400);
    expect((await admin.sso.providers.query()).items).toHaveLength(1);
  });

  it('never shows the client secret in an answer, the audit trail or the logs', async () => {
    const newSecret = `rotated-${idp.clientSecret}`;
    answers.push(
      await admin.sso.updateProvider.mutate({
        id: providerId,
        clientSecret: newSecret,
        displayName: 'Acme ID',
      }),
    );
    answers.push(await admin.sso.providers.query());
    expect((answers.at(-1) as { items: { clientSecret: string }[] }).items[0]?.clientSecret).toBe('set');
    expect((await auditRows(gh, 'sso.provider_updated')).at(-1)?.details).toMatchObject({
      clientSecret: 'set',
    });
    // Put the real secret back (the IdP knows only that one) and show sign-in still works with it.
    await admin.sso.updateProvider.mutate({ id: providerId, clientSecret: idp.clientSecret });
    expect((await signIn('erin')).location).toBe('/');
    const everything = [
      JSON.stringify(answers),
      JSON.stringify(await auditRows(gh)),
      gh.logs.join('\n'),
    ].join('\n');
    for (const secret of [idp.clientSecret, newSecret]) expect(everything).not.toContain(secret);
  });
  it('never demotes the last active admin, whatever the claims say', async () => {
    const signedIn = await signIn('ivy');
    expect(signedIn.location).toBe('/');
    const ivy = portalClient(gh.portalUrl);
    ivy.state.cookie = `gh_session=${signedIn.browser.jar.get('gh_session')}`;
    ivy.state.csrfToken = (await ivy.auth.me.query()).csrfToken;
    const root = (await admin.users.list.query({ search: ADMIN.username })).items[0];
    if (!root) throw new Error('no setup admin');
    await ivy.users.update.mutate({ id: root.id, role: 'user' });

    idp.setGroups('ivy', ['eng']);
    expect((await signIn('ivy')).location).toBe('/');
    expect((await ivy.users.list.query({ search: 'ivy' })).items[0]?.role).toBe('admin');

    // With another admin again, the claims apply: the next sign-in demotes.
    await ivy.users.update.mutate({ id: root.id, role: 'admin' });
    expect((await signIn('ivy')).location).toBe('/');
    expect((await admin.users.list.query({ search: 'ivy' })).items[0]?.role).toBe('user');
  });
  it('discovers a provider once, and again only after its issuer, client or secret changes', async () => {
    const before = idp.discoveryRequests();
    expect((await signIn('jon')).location).toBe('/');
    expect((await signIn('jon')).location).toBe('/');
    expect(idp.discoveryRequests()).toBe(before);
    await admin.sso.updateProvider.mutate({ id: providerId, displayName: 'Acme Identity' });
    expect((await signIn('jon')).location).toBe('/');
    expect(idp.discoveryRequests()).toBe(before);
    await admin.sso.updateProvider.mutate({
      id: providerId,
      clientSecret: idp.clientSecret,
      displayName: 'Acme ID',
    });
    expect((await signIn('jon')).location).toBe('/');
    expect(idp.discoveryRequests()).toBe(before + 1);
  });
  it('leaves a membership set by hand alone, whatever the claims say', async () => {
    expect((await signIn('lisa')).location).toBe('/');
    const lisa = (await admin.users.list.query({ search: 'lisa' })).items[0];
    const engineering = (await admin.groups.list.query()).items.find((group) => group.name === 'engineering');
    if (!lisa || !engineering) throw new Error('missing lisa or engineering');
    await admin.groups.addMember.mutate({ groupId: engineering.id, userId: lisa.id });
    const lisaIn = async () =>
      (await admin.groups.get.query({ id: engineering.id })).members.find((member) => member.id === lisa.id);

    expect((await signIn('lisa')).location).toBe('/');
    expect(await lisaIn()).toMatchObject({ managedBy: null });
    idp.setGroups('lisa', ['eng']);
    expect((await signIn('lisa')).location).toBe('/');
    expect(await lisaIn()).toMatchObject({ managedBy: null });
    idp.setGroups('lisa', []);
    expect((await signIn('lisa')).location).toBe('/');
    expect(await lisaIn()).toMatchObject({ managedBy: null });
  });

  it('hides a disabled provider and signs its users out; deleting one takes its memberships and suspends its users', async () => {
    const linkedSessions = () =>
      count(
        'select count(*) as n from portal_session s join app_user u on u.id = s.user_id where u.sso_provider_id = $1',
        [providerId],
      );
    const otherSessions = await count(
      'select count(*) as n from portal_session s join app_user u on u.id = s.user_id where u.sso_provider_id is null',
    );
    const signedIn = await linkedSessions();
    expect(signedIn).toBeGreaterThan(0);
    await admin.sso.updateProvider.mutate({ id: providerId, enabled: false });
    expect(await linkedSessions()).toBe(0);
    expect((await auditRows(gh, 'sso.provider_updated')).at(-1)?.details).toMatchObject({
      changed: ['enabled'],
      sessionsEnded: signedIn,
    });
    expect((await portalClient(gh.portalUrl).sso.signInOptions.query()).providers).toEqual([]);
    const start = await httpBrowser().get(`${gh.portalUrl}/auth/sso/acme/start`);
    expect(start.headers.get('location')).toBe('/#/?sso_error=unknown_provider');

    const managed = await count('select count(*) as n from group_membership where source_provider_id = $1', [
      providerId,
    ]);
    expect(managed).toBeGreaterThan(0);
    const manual = await count('select count(*) as n from group_membership where source_provider_id is null');
    const linkedActive = (
      await gh.db.query<{ id: string }>(
        "select id from app_user where sso_provider_id = $1 and status = 'active'",
        [providerId],
      )
    ).map((row) => row.id);
    expect(linkedActive.length).toBeGreaterThan(0);
    const suspensions = (await auditRows(gh, 'user.suspend')).length;
    await admin.sso.deleteProvider.mutate({ id: providerId });
    expect(
      await count("select count(*) as n from app_user where id = any($1) and status = 'suspended'", [
        linkedActive,
      ]),
    ).toBe(linkedActive.length);
    expect(await auditRows(gh, 'user.suspend')).toHaveLength(suspensions + linkedActive.length);
    expect(
      await count(
        'select count(*) as n from portal_session s join app_user u on u.id = s.user_id where u.sso_provider_id is null',
      ),
    ).toBe(otherSessions);
    expect(
      await count('select count(*) as n from group_membership where source_provider_id is not null'),
    ).toBe(0);
    expect(await count('select count(*) as n from group_membership where source_provider_id is null')).toBe(
      manual,
    );
    expect((await auditRows(gh, 'sso.provider_deleted'))[0]?.details).toEqual({
      slug: 'acme',
      membershipsRemoved: managed,
      usersSuspended: linkedActive.length,
      sessionsEnded: 0,
    });
    expect((await admin.users.list.query({ search: 'lisa' })).items[0]?.ssoProviderId).toBeNull();
  });
});
