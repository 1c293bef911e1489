import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auditRows,
  failureOf,
  type PortalClient,
  portalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';

const PASSWORD = 'Plenty-long-passphrase-9';
const person = (username: string, role: 'admin' | 'auditor' | 'user' = 'user') => ({
  username,
  displayName: username.toUpperCase(),
  email: `${username}@example.test`,
  password: PASSWORD,
  role,
});

describe('users and groups', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let adminId: string;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    adminId = (await admin.auth.me.query()).user.id;
  });
  afterAll(() => gh.stop());

  it('creates, lists with search and paging, updates and audits users with the acting admin', async () => {
    const created = await admin.users.create.mutate(person('erin'));
    await admin.users.create.mutate(person('frank'));
    await admin.users.create.mutate(person('grace', 'auditor'));
    expect(created).toMatchObject({ username: 'erin', role: 'user', status: 'active', lastLoginAt: null });

    const searched = await admin.users.list.query({ search: 'ERIN' });
    expect(searched.items.map((u) => u.username)).toEqual(['erin']);
    const firstPage = await admin.users.list.query({ limit: 2, offset: 0 });
    const secondPage = await admin.users.list.query({ limit: 2, offset: 2 });
    expect(firstPage.total).toBe(4);
    expect(firstPage.items).toHaveLength(2);
    expect([...firstPage.items, ...secondPage.items].map((u) => u.username)).toEqual([
      'erin',
      'frank',
      'grace',
      'root-admin',
    ]);
    expect((await admin.users.list.query({ role: 'auditor' })).items.map((u) => u.username)).toEqual([
      'grace',
    ]);
    expect((await admin.users.list.query({ search: '%' })).total).toBe(0);

    const updated = await admin.users.update.mutate({
      id: created.id,
      displayName: 'Erin E.',
      role: 'auditor',
    });
    expect(updated).toMatchObject({ displayName: 'Erin E.', role: 'auditor' });

    const [createEvent] = (await auditRows(gh, 'user.create')).filter((e) => e.target_id === created.id);
    expect(createEvent).toMatchObject({ actor_type: 'user', actor_user_id: adminId, outcome: 'success' });
    const [updateEvent] = (await auditRows(gh, 'user.update')).filter((e) => e.target_id === created.id);
    expect(updateEvent?.details).toEqual({
      changed: ['role', 'displayName'],
      fromRole: 'user',
      toRole: 'auditor',
    });
  });

  it('rejects malformed and over-long input with field errors and changes nothing', async () => {
    const countBefore = (await gh.db.query('select count(*)::int as n from app_user'))[0]?.n;
    const eventsBefore = (await auditRows(gh)).length;
    const bad = await failureOf(
      admin.users.create.mutate({
        ...person('x'),
        username: 'Bad Name!',
        email: 'not-an-email',
        displayName: 'd'.repeat(500),
      }),
    );
    expect(bad).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    expect(Object.keys(bad.fieldErrors ?? {}).sort()).toEqual(['displayName', 'email', 'username']);
    const huge = await failureOf(admin.users.list.query({ search: 's'.repeat(10_000) }));
    expect(huge).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    const wrongType = await fetch(`${gh.portalUrl}/trpc/users.create`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: gh.portalUrl,
        cookie: admin.state.cookie,
        'x-gatehouse-csrf': admin.state.csrfToken ?? '',
      },
      body: '{"username": 42',
    });
    expect(wrongType.status).toBe(400);
    expect((await gh.db.query('select count(*)::int as n from app_user'))[0]?.n).toBe(countBefore);
    expect((await auditRows(gh)).length).toBe(eventsBefore);
  });

  it('refuses duplicate usernames with a conflict naming the field', async () => {
    const failure = await failureOf(admin.users.create.mutate(person('frank')));
    expect(failure).toMatchObject({
      code: 'CONFLICT',
      status: 409,
      fieldErrors: { username: ['is already taken'] },
    });
  });

  it('denies user-role callers everything administrative, and auditors every mutation', async () => {
    const plain = portalClient(gh.portalUrl);
    await plain.signIn('frank', PASSWORD);
    expect((await failureOf(plain.users.list.query({}))).code).toBe('FORBIDDEN');
    expect((await failureOf(plain.groups.list.query())).code).toBe('FORBIDDEN');
    expect((await failureOf(plain.users.create.mutate(person('mallory')))).code).toBe('FORBIDDEN');
    expect((await failureOf(plain.apiTokens.create.mutate({ name: 'nope' }))).code).toBe('FORBIDDEN');

    const auditor = portalClient(gh.portalUrl);
    await auditor.signIn('grace', PASSWORD);
    expect((await auditor.users.list.query({})).total).toBeGreaterThan(0);
    expect((await failureOf(auditor.users.create.mutate(person('mallory')))).code).toBe('FORBIDDEN');
    expect((await failureOf(auditor.groups.create.mutate({ name: 'auditors-own' }))).code).toBe('FORBIDDEN');

    const anonymous = portalClient(gh.portalUrl);
    expect(await failureOf(anonymous.users.list.query({}))).toMatchObject({
      code: 'UNAUTHENTICATED',
      status: 401,
    });
    expect(await gh.db.query("select 1 from app_user where username = 'mallory'")).toHaveLength(0);
  });

  it('keeps at least one active admin and forbids acting on yourself', async () => {
    expect((await failureOf(admin.users.update.mutate({ id: adminId, role: 'user' }))).code).toBe(
      'PRECONDITION_FAILED',
    );
    expect((await failureOf(admin.users.suspend.mutate({ id: adminId }))).code).toBe('PRECONDITION_FAILED');
    expect((await failureOf(admin.users.delete.mutate({ id: adminId }))).code).toBe('PRECONDITION_FAILED');
    expect((await admin.auth.me.query()).user).toMatchObject({ role: 'admin', status: 'active' });
  });

  it('suspends, reactivates and resets passwords, ending the target user’s sessions', async () => {
    const henry = await admin.users.create.mutate(person('henry'));
    const henryClient = portalClient(gh.portalUrl);
    await henryClient.signIn('henry', PASSWORD);
    await admin.users.resetPassword.mutate({ id: henry.id, newPassword: 'Brand-new-passphrase-7' });
    expect((await failureOf(henryClient.auth.me.query())).code).toBe('UNAUTHENTICATED');
    expect((await failureOf(portalClient(gh.portalUrl).signIn('henry', PASSWORD))).code).toBe(
      'UNAUTHENTICATED',
    );
    await portalClient(gh.portalUrl).signIn('henry', 'Brand-new-passphrase-7');
    expect((await admin.users.suspend.mutate({ id: henry.id, reason: 'left the team' })).status).toBe(
      'suspended',
    );
    expect((await admin.users.reactivate.mutate({ id: henry.id })).status).toBe('active');
    const actions = (await auditRows(gh)).filter((e) => e.target_id === henry.id).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['user.reset_password', 'user.suspend', 'user.reactivate']),
    );
    const suspendEvent = (await auditRows(gh, 'user.suspend')).find((e) => e.target_id === henry.id);
    expect(suspendEvent?.reason).toBe('left the team');
  });

  it('deletes a user without history, but suspends one with history', async () => {
    const ivy = await admin.users.create.mutate(person('ivy'));
    expect(await admin.users.delete.mutate({ id: ivy.id })).toEqual({ outcome: 'deleted' });
    expect(await gh.db.query('select 1 from app_user where id = $1', [ivy.id])).toHaveLength(0);

    const jack = await admin.users.create.mutate(person('jack'));
    await portalClient(gh.portalUrl).signIn('jack', PASSWORD);
    expect(await admin.users.delete.mutate({ id: jack.id })).toEqual({ outcome: 'suspended' });
    expect((await admin.users.get.query({ id: jack.id })).status).toBe('suspended');
    const deletes = (await auditRows(gh, 'user.delete')).map((e) => e.details.result);
    expect(deletes).toEqual(['deleted', 'suspended']);
    expect(await failureOf(admin.users.get.query({ id: ivy.id }))).toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
    });
  });

  it('manages groups and memberships, with the built-in everyone group kept implicit', async () => {
    const group = await admin.groups.create.mutate({ name: 'Platform-Team', description: 'runs things' });
    expect(group).toMatchObject({ name: 'platform-team', memberCount: 0, builtIn: false });
    const frank = (await admin.users.list.query({ search: 'frank' })).items[0];
    if (!frank) throw new Error('frank missing');
    await admin.groups.addMember.mutate({ groupId: group.id, userId: frank.id });
    expect(
      (await failureOf(admin.groups.addMember.mutate({ groupId: group.id, userId: frank.id }))).code,
    ).toBe('CONFLICT');
    const detail = await admin.groups.get.query({ id: group.id });
    expect(detail.members.map((m) => m.username)).toEqual(['frank']);
    expect(detail.memberCount).toBe(1);

    const renamed = await admin.groups.update.mutate({ id: group.id, name: 'platform' });
    expect(renamed.name).toBe('platform');
    await admin.groups.removeMember.mutate({ groupId: group.id, userId: frank.id });
    expect(
      (await failureOf(admin.groups.removeMember.mutate({ groupId: group.id, userId: frank.id }))).code,
    ).toBe('NOT_FOUND');

    const everyone = (await admin.groups.list.query()).items.find((g) => g.builtIn);
    expect(everyone).toMatchObject({ name: 'everyone' });
    expect(everyone?.memberCount).toBe((await admin.users.list.query({})).total);
    if (!everyone) throw new Error('everyone group missing');
    expect((await failureOf(admin.groups.delete.mutate({ id: everyone.id }))).code).toBe(
      'PRECONDITION_FAILED',
    );
    expect((await failureOf(admin.groups.update.mutate({ id: everyone.id, name: 'all' }))).code).toBe(
      'PRECONDITION_FAILED',
    );
    expect(
      (await failureOf(admin.groups.addMember.mutate({ groupId: everyone.id, userId: frank.id }))).code,
    ).toBe('PRECONDITION_FAILED');
    expect((await failureOf(admin.groups.create.mutate({ name: 'platform' }))).code).toBe('CONFLICT');

    await admin.groups.delete.mutate({ id: group.id });
    const groupEvents = (await auditRows(gh)).filter((e) => e.target_id === group.id).map((e) => e.action);
    expect(groupEvents).toEqual([
      'group.create',
      'group.add_member',
      'group.update',
      'group.remove_member',
      'group.delete',
    ]);
  });

  it('never returns password hashes, token hashes or salts in any response', async () => {
    const bodies: string[] = [];
    const spy = portalClient(gh.portalUrl);
    await spy.signIn('root-admin', 'tEst-admin-passw0rd!');
    const responses = [
      await spy.users.list.query({ limit: 200 }),
      await spy.auth.me.query(),
      await spy.groups.list.query(),
      await spy.apiTokens.create.mutate({ name: 'leak-check' }),
      await spy.apiTokens.list.query(),
      await spy.users.create.mutate(person('kate')),
    ];
    for (const response of responses) bodies.push(JSON.stringify(response));
    const joined = bodies.join('\n');
    expect(joined).not.toMatch(/argon2|passwordHash|password_hash|tokenHash|token_hash|salt/i);
    const storedHashes = await gh.db.query<{ h: string }>(
      'select password_hash as h from app_user union all select token_hash from api_token union all select token_hash from portal_session',
    );
    for (const { h } of storedHashes) expect(joined).not.toContain(h);
  });
});
