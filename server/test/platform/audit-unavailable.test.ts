import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auditRows,
  failureOf,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';

/** The audit trail refuses every append, as a full disk or a broken partition would make it. */
const BREAK_AUDIT = `
  create function gh_test_refuse_audit() returns trigger language plpgsql as $$
  begin raise exception 'audit storage is unavailable'; end $$;
  create trigger gh_test_refuse_audit before insert on audit_event
    for each row execute function gh_test_refuse_audit();`;
const REPAIR_AUDIT = 'drop trigger gh_test_refuse_audit on audit_event';

describe('control-plane mutations when the audit trail cannot be written', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
  });
  afterAll(async () => {
    await gh.stop();
  });

  const count = async (table: string) =>
    Number((await gh.db.query<{ n: string }>(`select count(*) as n from ${table}`))[0]?.n);

  it('answers 503 AUDIT_UNAVAILABLE, changes nothing, and never logs the failed SQL', async () => {
    const before = {
      groups: await count('user_group'),
      users: await count('app_user'),
      audit: (await auditRows(gh)).length,
    };
    const logStart = gh.logs.length;
    await gh.db.query(BREAK_AUDIT);
    try {
      for (const attempt of [
        admin.groups.create.mutate({ name: 'night-shift', description: 'canary-description-7781' }),
        admin.users.create.mutate({
          username: 'walter',
          displayName: 'Walter',
          email: 'walter@example.test',
          password: 'Plenty-long-passphrase-9',
          role: 'user',
        }),
      ]) {
        const failed = await failureOf(attempt);
        expect(failed).toEqual({
          code: 'AUDIT_UNAVAILABLE',
          status: 503,
          message: 'The audit trail cannot be written right now, so nothing was changed; try again later',
          fieldErrors: undefined,
        });
      }
      expect(await count('user_group')).toBe(before.groups);
      expect(await count('app_user')).toBe(before.users);
      expect((await auditRows(gh)).length).toBe(before.audit);
    } finally {
      await gh.db.query(REPAIR_AUDIT);
    }

    const logged = gh.logs.slice(logStart).join('');
    expect(logged).toContain('the audit trail could not be written; the change was rolled back');
    expect(logged).toContain('"sqlState":"P0001"');
    expect(logged).not.toMatch(/insert\s+into/i);
    expect(logged).not.toMatch(/audit_event"?\s*\(/i);
    expect(logged).not.toContain('canary-description-7781');
    expect(logged).not.toContain('audit storage is unavailable');

    // Once the trail can be written again, the same change goes through, audited.
    const group = await admin.groups.create.mutate({ name: 'night-shift' });
    expect((await auditRows(gh, 'group.create')).at(-1)?.target_id).toBe(group.id);
  });

  it('logs any other failed statement without its SQL or values', async () => {
    const logStart = gh.logs.length;
    await gh.db.query(`
      create function gh_test_refuse_group() returns trigger language plpgsql as $$
      begin raise exception 'groups are read-only today'; end $$;
      create trigger gh_test_refuse_group before insert on user_group
        for each row execute function gh_test_refuse_group();`);
    try {
      expect(
        await failureOf(
          admin.groups.create.mutate({ name: 'day-shift', description: 'canary-description-9917' }),
        ),
      ).toMatchObject({ code: 'INTERNAL', status: 500, message: 'Internal server error' });
    } finally {
      await gh.db.query('drop trigger gh_test_refuse_group on user_group');
    }
    const logged = gh.logs.slice(logStart).join('');
    expect(logged).toContain('procedure failed');
    expect(logged).toContain('"sqlState":"P0001"');
    expect(logged).not.toMatch(/insert\s+into/i);
    expect(logged).not.toContain('canary-description-9917');
  });
});
