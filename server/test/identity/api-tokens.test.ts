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

describe('admin API tokens', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
  });
  afterAll(() => gh.stop());

  it('shows the secret once, stores only its hash, and authenticates automation as the creator', async () => {
    const created = await admin.apiTokens.create.mutate({ name: 'ci-bot', expiresInDays: 30 });
    expect(created.token).toMatch(/^gh_at_[0-9A-Za-z]{43}$/);
    expect(created.apiToken).toMatchObject({
      name: 'ci-bot',
      role: 'admin',
      displayPrefix: created.token.slice(0, 10),
    });
    const [stored] = await gh.db.query<{ token_hash: string }>(
      'select token_hash from api_token where id = $1',
      [created.apiToken.id],
    );
    expect(stored?.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(await admin.apiTokens.list.query())).not.toContain(created.token);

    const bot = portalClient(gh.portalUrl, { origin: false, csrf: false, bearer: created.token });
    expect((await bot.auth.me.query()).via).toBe('api_token');
    const group = await bot.groups.create.mutate({ name: 'made-by-bot' });
    const [event] = (await auditRows(gh, 'group.create')).filter((e) => e.target_id === group.id);
    expect(event).toMatchObject({ actor_type: 'api_token', actor_token_id: created.apiToken.id });
    expect(JSON.stringify(await auditRows(gh))).not.toContain(created.token);
    expect((await admin.apiTokens.list.query()).items[0]?.lastUsedAt).not.toBeNull();
  });

  it('answers unknown, malformed and revoked tokens alike, and revocation takes effect at once', async () => {
    const created = await admin.apiTokens.create.mutate({ name: 'short-lived' });
    const bot = portalClient(gh.portalUrl, { origin: false, csrf: false, bearer: created.token });
    await bot.users.list.query({});
    await admin.apiTokens.revoke.mutate({ id: created.apiToken.id });
    const revoked = await failureOf(bot.users.list.query({}));
    const unknown = await failureOf(
      portalClient(gh.portalUrl, { bearer: `gh_at_${'x'.repeat(43)}` }).users.list.query({}),
    );
    const malformed = await failureOf(portalClient(gh.portalUrl, { bearer: 'hello' }).users.list.query({}));
    expect(revoked).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect(unknown).toEqual(revoked);
    expect(malformed).toEqual(revoked);
    const revokedMutation = await failureOf(bot.groups.create.mutate({ name: 'after-revoke' }));
    expect(revokedMutation).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect((await auditRows(gh, 'api_token.revoke')).map((e) => e.target_id)).toEqual([created.apiToken.id]);
  });

  it("never acts above its creator's current role", async () => {
    const creator = await admin.users.create.mutate({
      username: 'ops-lead',
      displayName: 'Ops',
      email: 'ops@example.test',
      password: PASSWORD,
      role: 'admin',
    });
    const opsLead = portalClient(gh.portalUrl);
    await opsLead.signIn('ops-lead', PASSWORD);
    const { token } = await opsLead.apiTokens.create.mutate({ name: 'ops-automation' });
    const bot = portalClient(gh.portalUrl, { bearer: token });
    await bot.groups.create.mutate({ name: 'ops-1' });

    await admin.users.update.mutate({ id: creator.id, role: 'auditor' });
    expect((await failureOf(bot.groups.create.mutate({ name: 'ops-2' }))).code).toBe('FORBIDDEN');
    expect((await bot.users.list.query({})).total).toBeGreaterThan(0);

    await admin.users.suspend.mutate({ id: creator.id });
    expect((await failureOf(bot.users.list.query({}))).code).toBe('UNAUTHENTICATED');
  });

  it('lets auditors mint read-only tokens and see only their own', async () => {
    await admin.users.create.mutate({
      username: 'auditor-ann',
      displayName: 'Ann',
      email: 'ann@example.test',
      password: PASSWORD,
      role: 'auditor',
    });
    const ann = portalClient(gh.portalUrl);
    await ann.signIn('auditor-ann', PASSWORD);
    const { token, apiToken } = await ann.apiTokens.create.mutate({ name: 'ann-reports' });
    expect(apiToken.role).toBe('auditor');
    expect((await ann.apiTokens.list.query()).items.map((t) => t.id)).toEqual([apiToken.id]);
    const annBot = portalClient(gh.portalUrl, { bearer: token });
    expect((await failureOf(annBot.groups.create.mutate({ name: 'nope' }))).code).toBe('FORBIDDEN');
    const adminTokens = (await admin.apiTokens.list.query()).items.filter((t) => t.role === 'admin');
    const someAdminToken = adminTokens[0];
    if (!someAdminToken) throw new Error('expected an admin token');
    expect((await failureOf(ann.apiTokens.revoke.mutate({ id: someAdminToken.id }))).code).toBe('NOT_FOUND');
  });
});
