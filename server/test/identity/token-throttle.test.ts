import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PortalClient,
  portalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';

const BOGUS_TOKEN = 'gh_at_0000000000000000000000000000000000000000000';

describe('the API-token throttle refuses unknown tokens only (ADR 0018)', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;

  const me = (token: string) =>
    fetch(`${gh.portalUrl}/trpc/auth.me`, { headers: { authorization: `Bearer ${token}` } });
  const hits = async () =>
    (
      await gh.db.query<{ hits: number }>("select hits from auth_throttle where bucket = 'api-ip:127.0.0.1'")
    )[0]?.hits;

  beforeAll(async () => {
    gh = await startTestGatehouse({
      GATEHOUSE_MCP_AUTH_FAILURES_PER_IP: '2',
      GATEHOUSE_MCP_AUTH_WINDOW_SECONDS: '3600',
    });
    admin = await setUpAdmin(gh);
  }, 60_000);

  afterAll(async () => {
    await gh?.stop();
  });

  it('serves a valid token from an address that unknown tokens have tripped, and keeps refusing the unknown ones', async () => {
    const { token } = await admin.apiTokens.create.mutate({ name: 'ci-bot', expiresInDays: 30 });
    const revoked = await admin.apiTokens.create.mutate({ name: 'old-bot', expiresInDays: 30 });
    await admin.apiTokens.revoke.mutate({ id: revoked.apiToken.id });

    expect((await me(BOGUS_TOKEN)).status).toBe(401);
    expect((await me(BOGUS_TOKEN)).status).toBe(401);
    expect((await me(BOGUS_TOKEN)).status).toBe(429);
    const counted = await hits();
    const auditBefore = await gh.db.query('select count(*) as n from audit_event');

    // The same address, tripped: a valid token is served, on tRPC and through the typed client...
    const valid = await me(token);
    expect(valid.status).toBe(200);
    const bot = portalClient(gh.portalUrl, { origin: false, csrf: false, bearer: token });
    expect((await bot.users.list.query({})).items.length).toBeGreaterThan(0);
    // ...while unknown and revoked tokens are still refused, without counting.
    const refused = await me(BOGUS_TOKEN);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await me(revoked.token)).status).toBe(429);
    expect(await hits()).toBe(counted);
    // Nothing mutating happened: the audit trail holds only aggregated refusal records, if any.
    const auditAfter = await gh.db.query<{ action: string }>(
      'select action from audit_event order by id offset $1',
      [Number((auditBefore[0] as { n: string }).n)],
    );
    expect(auditAfter.every((row) => row.action === 'auth.refused')).toBe(true);
  });
});
