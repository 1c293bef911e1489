import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN,
  auditRows,
  failureOf,
  portalClient,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';

describe('first-run setup', () => {
  let gh: TestGatehouse;
  beforeAll(async () => {
    gh = await startTestGatehouse();
  });
  afterAll(() => gh.stop());

  it('is ready on a fresh database and reports that setup is required', async () => {
    expect((await fetch(`${gh.portalUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${gh.portalUrl}/healthz`)).status).toBe(200);
    const anonymous = portalClient(gh.portalUrl);
    expect(await anonymous.setup.status.query()).toEqual({ setupRequired: true });
  });

  it('serves nothing but setup until the first admin exists', async () => {
    const anonymous = portalClient(gh.portalUrl);
    const failure = await failureOf(anonymous.auth.login.mutate({ username: 'x', password: 'y' }));
    expect(failure).toMatchObject({ code: 'PRECONDITION_FAILED', status: 412 });
  });

  it('rejects a weak first password with a field error and creates nothing', async () => {
    const anonymous = portalClient(gh.portalUrl);
    const short = await failureOf(anonymous.setup.createFirstAdmin.mutate({ ...ADMIN, password: 'short' }));
    expect(short).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    expect(short.fieldErrors?.password?.[0]).toMatch(/12/);
    const common = await failureOf(
      anonymous.setup.createFirstAdmin.mutate({ ...ADMIN, password: 'Password1234' }),
    );
    expect(common.fieldErrors?.password?.[0]).toMatch(/common/);
    expect(await gh.db.query('select id from app_user')).toHaveLength(0);
  });

  it('creates the first admin once, signs them in, and audits it', async () => {
    const first = portalClient(gh.portalUrl);
    const me = await first.setup.createFirstAdmin.mutate(ADMIN);
    expect(me.user).toMatchObject({ username: ADMIN.username, role: 'admin', status: 'active' });
    expect(me.csrfToken).toMatch(/^[0-9a-f]{64}$/);
    first.state.csrfToken = me.csrfToken;
    expect((await first.auth.me.query()).user.username).toBe(ADMIN.username);
    const [event] = await auditRows(gh, 'setup.complete');
    expect(event).toMatchObject({ actor_user_id: me.user.id, target_id: me.user.id, outcome: 'success' });
    expect(await first.setup.status.query()).toEqual({ setupRequired: false });
  });

  it('refuses and audits a second setup attempt', async () => {
    const intruder = portalClient(gh.portalUrl);
    const failure = await failureOf(
      intruder.setup.createFirstAdmin.mutate({
        ...ADMIN,
        username: 'second-admin',
        password: 'an0ther-Strong-pass',
      }),
    );
    expect(failure).toMatchObject({ code: 'PRECONDITION_FAILED', status: 412 });
    const refused = await auditRows(gh, 'setup.refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ outcome: 'denied', actor_type: 'anonymous' });
    expect(await gh.db.query('select username from app_user')).toEqual([{ username: ADMIN.username }]);
  });
});
