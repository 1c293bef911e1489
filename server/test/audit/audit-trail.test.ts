import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/chain.js';
import { AuditBatcher } from '../../src/audit/group-commit.js';
import { verifyAuditChain } from '../../src/audit/verify.js';
import { migrate, ormConfig } from '../../src/platform/db.js';
import { AnchoredClock, TEST_NOW } from '../support/clock.js';
import {
  auditRows,
  failureOf,
  type PortalClient,
  portalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';

const run = promisify(execFile);
const serverDir = path.resolve(import.meta.dirname, '../..');

async function cliAuditVerify(databaseUrl: string) {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'audit', 'verify'], {
      cwd: serverDir,
      env: { ...process.env, DATABASE_URL: databaseUrl, GATEHOUSE_LOG_LEVEL: 'warn' },
    });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

const clock = new AnchoredClock(TEST_NOW);

describe('audit trail', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let orm: MikroORM;

  beforeAll(async () => {
    gh = await startTestGatehouse({}, { clock });
    admin = await setUpAdmin(gh);
    orm = await MikroORM.init(ormConfig(gh.db.url));
  });
  afterAll(async () => {
    await orm.close();
    await gh.stop();
  });

  it('keeps a gapless hash chain under concurrent mutations', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => admin.groups.create.mutate({ name: `concurrent-${i}` })),
    );
    const rows = await auditRows(gh);
    expect(rows.map((r) => Number(r.id))).toEqual(rows.map((_, i) => i + 1));
    expect(await verifyAuditChain(orm.em.fork())).toMatchObject({ ok: true, verifiedThrough: rows.length });
    expect(await cliAuditVerify(gh.db.url)).toMatchObject({ code: 0 });
  });

  it('group-commits tool-call records into the same gapless chain while control-plane transactions append', async () => {
    const batcher = new AuditBatcher(gh.db.url);
    const before = (await auditRows(gh)).length;
    const record = (i: number): AuditRecord => ({
      action: 'tool.call',
      occurredAt: clock.now(),
      actorType: 'client',
      actorUserId: 'usr_bench',
      actorTokenId: null,
      actorClientId: 'cli_bench',
      actorLabel: 'bench/client',
      targetType: 'tool',
      targetId: `mcp_x/echo-${i}`,
      targetLabel: 'x__echo',
      outcome: 'success',
      reason: null,
      ip: '127.0.0.1',
      requestId: null,
      details: { call: i, text: 'quote " backslash \\ brace { comma ,' },
    });
    try {
      // Each control-plane mutation moves the head behind the batcher's back, so the next wave finds its
      // remembered head stale and must relink; within a wave, concurrent calls share commits.
      for (let wave = 0; wave < 3; wave++) {
        await Promise.all([
          ...Array.from({ length: 200 }, (_, i) => batcher.append(record(wave * 200 + i))),
          ...Array.from({ length: 5 }, (_, i) =>
            admin.groups.create.mutate({ name: `interleaved-${wave}-${i}` }),
          ),
        ]);
        await admin.groups.create.mutate({ name: `between-${wave}` });
      }
    } finally {
      await batcher.close();
    }
    const rows = await auditRows(gh);
    expect(rows.length).toBe(before + 618);
    expect(rows.map((r) => Number(r.id))).toEqual(rows.map((_, i) => i + 1));
    const calls = rows.filter((r) => r.action === 'tool.call');
    expect(calls.map((r) => (r.details as { call: number }).call).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 600 }, (_, i) => i),
    );
    expect(calls[0]?.details).toMatchObject({ text: 'quote " backslash \\ brace { comma ,' });
    expect(await verifyAuditChain(orm.em.fork())).toMatchObject({ ok: true, verifiedThrough: rows.length });
  });

  it('fails appends closed and still drains when the database is unreachable or a record cannot be linked', async () => {
    const unreachable = new AuditBatcher('postgresql://postgres@127.0.0.1:1/nowhere');
    const record = (details: Record<string, unknown>): AuditRecord => ({
      action: 'tool.call',
      occurredAt: clock.now(),
      actorType: 'system',
      actorUserId: null,
      actorTokenId: null,
      actorClientId: null,
      actorLabel: null,
      targetType: null,
      targetId: null,
      targetLabel: null,
      outcome: 'success',
      reason: null,
      ip: null,
      requestId: null,
      details,
    });
    await expect(unreachable.append(record({}))).rejects.toThrow();
    await unreachable.close(); // resolves: shutdown never hangs on a dead database

    const batcher = new AuditBatcher(gh.db.url);
    try {
      const before = (await auditRows(gh)).length;
      const [unhashable, fine] = await Promise.allSettled([
        batcher.append(record({ n: 10n })),
        batcher.append(record({ n: 10 })),
      ]);
      expect(unhashable.status).toBe('rejected');
      expect(fine.status).toBe('fulfilled');
      expect((await auditRows(gh)).length).toBe(before + 1);
    } finally {
      await batcher.close();
    }
    expect(await verifyAuditChain(orm.em.fork())).toMatchObject({ ok: true });
  });

  it('refuses UPDATE, DELETE and TRUNCATE of audit rows in the database itself', async () => {
    await expect(gh.db.query("update audit_event set reason = 'edited' where id = 1")).rejects.toThrow(
      /append-only/,
    );
    await expect(gh.db.query('delete from audit_event where id = 1')).rejects.toThrow(/append-only/);
    await expect(gh.db.query('truncate audit_event')).rejects.toThrow(/append-only/);
    expect((await auditRows(gh))[0]?.reason).toBeNull();
  });

  it('revokes UPDATE, DELETE and TRUNCATE from a configured application role', async () => {
    const role = `gh_app_${Math.random().toString(36).slice(2, 8)}`;
    await gh.db.query(`create role ${role} login password 'role-test-pass'`);
    await gh.db.query(`grant all on audit_event to ${role}`);
    await migrate(orm, { dbAppRole: role });
    const url = new URL(gh.db.url);
    url.username = role;
    url.password = 'role-test-pass';
    const asApp = new pg.Client({ connectionString: url.toString() });
    await asApp.connect();
    try {
      await expect(asApp.query("update audit_event set reason = 'x' where id = 1")).rejects.toThrow(
        /permission denied/,
      );
      await expect(asApp.query('delete from audit_event where id = 1')).rejects.toThrow(/permission denied/);
      expect((await asApp.query('select count(*)::int as n from audit_event')).rows[0].n).toBeGreaterThan(0);
    } finally {
      await asApp.end();
      await gh.db.query(`drop owned by ${role}`);
      await gh.db.query(`drop role ${role}`);
    }
  });

  it('never writes secrets to the log or the audit trail', async () => {
    const canary = `Canary-${Math.random().toString(36).slice(2)}-secret`;
    const user = await admin.users.create.mutate({
      username: 'canary-user',
      displayName: 'Canary',
      email: 'canary@example.test',
      password: canary,
    });
    await failureOf(
      portalClient(gh.portalUrl).auth.login.mutate({ username: 'canary-user', password: `${canary}-wrong` }),
    );
    const signedIn = portalClient(gh.portalUrl);
    await signedIn.signIn('canary-user', canary);
    await admin.users.resetPassword.mutate({ id: user.id, newPassword: `${canary}-2` });
    const { token } = await admin.apiTokens.create.mutate({ name: 'canary-token' });
    await portalClient(gh.portalUrl, { bearer: token }).users.list.query({});
    const sessionToken = signedIn.state.cookie.split('=')[1] ?? '';

    const everything = `${gh.logs.join('')}\n${JSON.stringify(await auditRows(gh))}`;
    expect(everything.length).toBeGreaterThan(1000);
    for (const secret of [canary, token, sessionToken, admin.state.cookie.split('=')[1] ?? '']) {
      expect(secret.length).toBeGreaterThan(10);
      expect(everything).not.toContain(secret);
    }
  });

  it('detects an edited row and a removed row, naming the first broken link', async () => {
    await gh.db.query('set session_replication_role = replica'); // a privileged attacker bypassing triggers
    await gh.db.query("update audit_event set reason = 'covered tracks' where id = 3");
    const edited = await verifyAuditChain(orm.em.fork());
    expect(edited).toMatchObject({
      ok: false,
      brokenAt: 3,
      verifiedThrough: 2,
      problem: 'content does not match its hash',
    });
    const cli = await cliAuditVerify(gh.db.url);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('BROKEN at event 3');

    await gh.db.query('delete from audit_event where id = 2');
    expect(await verifyAuditChain(orm.em.fork())).toMatchObject({
      ok: false,
      brokenAt: 3,
      problem: 'event 2 is missing',
    });
    await gh.db.query('set session_replication_role = origin');
  });
});
