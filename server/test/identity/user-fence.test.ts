import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { McpConfig } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import { MikroORM } from '@mikro-orm/postgresql';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reactivateUser, suspendUser } from '../../src/identity/users.service.js';
import { engageKillSwitch, releaseKillSwitch } from '../../src/kill-switches/kill-switches.service.js';
import { ChangeBus } from '../../src/platform/change-bus.js';
import { systemClock } from '../../src/platform/clock.js';
import { loadConfig } from '../../src/platform/config.js';
import type { ServiceContext } from '../../src/platform/context.js';
import { migrate, ormConfig } from '../../src/platform/db.js';
import { newId } from '../../src/platform/ids.js';
import { RuntimeManager, type RuntimeTarget } from '../../src/runtime/runtime-manager.js';
import { VaultCredentialProvider } from '../../src/vault/credentials.service.js';
import { Keyring } from '../../src/vault/keyring.js';
import { Vault } from '../../src/vault/vault.js';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/**
 * The user fence (no per-user instance for a suspended, killed or deleted user) is announced on the change
 * bus, so every runtime in the process applies it, and it is lifted only when nothing holds the user any more.
 * Runtimes here are real; no instance is started (creating one is where the fence is checked).
 */
describe('the user fence', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  let dataDir: string;
  let adminId: string;
  const bus = new ChangeBus();
  const runtimes: RuntimeManager[] = [];
  const config = () =>
    loadConfig({ DATABASE_URL: db.url, GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_LOG_LEVEL: 'silent' });
  const em = () => orm.em.fork() as EntityManager;
  const adminCtx = (): ServiceContext => ({
    em: em(),
    actor: { type: 'user', userId: adminId, username: 'root', role: 'admin', sessionId: 'ses_test' },
    requestId: '',
    ip: '127.0.0.1',
    config: config(),
    changes: bus,
    clock: systemClock,
  });
  const target: RuntimeTarget = {
    mcpId: newId('mcp'),
    slug: 'fenced',
    versionId: 'ver_fenced',
    config: McpConfig.parse({
      isolation: 'per-user',
      connection: { transport: 'stdio', ...fixtureStdioCommand() },
    }),
  };

  /** A runtime of this process, following the bus as the server's does; `sink` receives its log lines. */
  function runtime(sink: { write(line: string): void } = { write: () => undefined }): RuntimeManager {
    const created = new RuntimeManager({
      settings: config().runtime,
      log: pino({ level: 'info' }, sink),
      credentials: new VaultCredentialProvider(
        em,
        new Vault(Keyring.load(config(), pino({ level: 'silent' }))),
      ),
      onListing: async () => undefined,
    });
    created.followUserFences(bus);
    runtimes.push(created);
    return created;
  }

  const fenced = (manager: RuntimeManager, userId: string) => {
    try {
      manager.instanceFor(target, userId);
      return false;
    } catch (error) {
      expect(error).toMatchObject({ code: 'FORBIDDEN' });
      return true;
    }
  };

  async function newUser(username: string): Promise<string> {
    const id = newId('user');
    await db.query(
      `insert into app_user (id, username, display_name, email, role, status, password_hash, created_at, updated_at)
       values ($1, $2, $2, $3, 'user', 'active', 'x', now(), now())`,
      [id, username, `${username}@example.test`],
    );
    return id;
  }
  const auditCount = async (action: string) =>
    (await db.query('select id from audit_event where action = $1', [action])).length;

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-fence-'));
    orm = await MikroORM.init(ormConfig(db.url));
    await migrate(orm, config());
    adminId = newId('user');
    await db.query(
      `insert into app_user (id, username, display_name, email, role, status, password_hash, created_at, updated_at)
       values ($1, 'root', 'root', 'root@example.test', 'admin', 'active', 'x', now(), now())`,
      [adminId],
    );
  });
  afterAll(async () => {
    await Promise.all(runtimes.map((manager) => manager.shutdown()));
    await orm.close();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a suspension fences every runtime of the process, not only the one handed to the service', async () => {
    const [handled, other] = [runtime(), runtime()];
    const sue = await newUser('sue');
    other.instanceFor(target, sue);
    expect(other.list().map((i) => i.userId)).toEqual([sue]);

    await suspendUser(adminCtx(), { id: sue }, handled);
    expect(fenced(handled, sue)).toBe(true);
    expect(fenced(other, sue)).toBe(true);
    expect(other.list()).toEqual([]);

    await reactivateUser(adminCtx(), sue);
    expect(fenced(handled, sue)).toBe(false);
    expect(fenced(other, sue)).toBe(false);
  });

  it('reactivation keeps the fence while a user kill switch holds, and releasing it keeps a suspended user fenced', async () => {
    const [handled, other] = [runtime(), runtime()];
    const kim = await newUser('kim');
    await suspendUser(adminCtx(), { id: kim }, handled);
    await engageKillSwitch(adminCtx(), handled, { targetType: 'user', targetId: kim, reason: 'compromised' });

    await reactivateUser(adminCtx(), kim);
    expect(fenced(handled, kim)).toBe(true);
    expect(fenced(other, kim)).toBe(true);
    expect((await db.query('select status from app_user where id = $1', [kim]))[0]).toEqual({
      status: 'active',
    });

    await releaseKillSwitch(adminCtx(), { targetType: 'user', targetId: kim });
    expect(fenced(handled, kim)).toBe(false);
    expect(fenced(other, kim)).toBe(false);

    // The other order: the kill switch goes first, the suspension still holds.
    const sam = await newUser('sam');
    await engageKillSwitch(adminCtx(), handled, { targetType: 'user', targetId: sam, reason: 'compromised' });
    await suspendUser(adminCtx(), { id: sam }, handled);
    await releaseKillSwitch(adminCtx(), { targetType: 'user', targetId: sam });
    expect(fenced(handled, sam)).toBe(true);
    expect(fenced(other, sam)).toBe(true);
    await reactivateUser(adminCtx(), sam);
    expect(fenced(other, sam)).toBe(false);
  });

  it('a stop that fails after the suspension committed is logged, not answered with an error', async () => {
    const lines: string[] = [];
    // The log sink fails on the instance's "stopped" line, so stopping it throws (a real failure, not a stub).
    const handled = runtime({
      write(line) {
        if (line.includes('downstream MCP stopped')) throw new Error('EIO: the log disk failed');
        lines.push(line);
      },
    });
    const dee = await newUser('dee');
    handled.instanceFor(target, dee);
    const suspensionsBefore = await auditCount('user.suspend');

    const answer = await suspendUser(adminCtx(), { id: dee, reason: 'left' }, handled);
    expect(answer).toMatchObject({ id: dee, status: 'suspended' });
    expect((await db.query('select status from app_user where id = $1', [dee]))[0]).toEqual({
      status: 'suspended',
    });
    expect(await auditCount('user.suspend')).toBe(suspensionsBefore + 1);
    const failure = lines.map((line) => JSON.parse(line) as Record<string, unknown>).at(-1);
    expect(failure).toMatchObject({
      level: 50,
      userId: dee,
      msg: "could not stop a disabled user's instance",
      err: expect.objectContaining({ message: 'EIO: the log disk failed' }),
    });
    // The fence holds anyway.
    expect(fenced(handled, dee)).toBe(true);
  });
});
