import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeBus } from '../../src/platform/change-bus.js';
import { systemClock } from '../../src/platform/clock.js';
import { loadConfig } from '../../src/platform/config.js';
import { systemContext } from '../../src/platform/context.js';
import { migrate, ormConfig } from '../../src/platform/db.js';
import { newId } from '../../src/platform/ids.js';
import { VaultCredentialProvider } from '../../src/vault/credentials.service.js';
import { StoredCredentialEntity } from '../../src/vault/entities.js';
import { Keyring } from '../../src/vault/keyring.js';
import { retireKey, rotateVault, vaultStatus } from '../../src/vault/rotation.js';
import { Vault, type VaultSlot } from '../../src/vault/vault.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const log = pino({ level: 'silent' });

/** Flips one bit of the sealed body at `index` (negative: from the end). */
function tamper(sealed: string, index: number): string {
  const [format, keyId, body = ''] = sealed.split(':');
  const bytes = Buffer.from(body, 'base64');
  const at = index < 0 ? bytes.length + index : index;
  bytes[at] = (bytes[at] ?? 0) ^ 0x01;
  return `${format}:${keyId}:${bytes.toString('base64')}`;
}

describe('the vault', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  let dataDir: string;
  let keyring: Keyring;
  let vault: Vault;
  const config = () =>
    loadConfig({ DATABASE_URL: db.url, GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_LOG_LEVEL: 'silent' });
  const em = () => orm.em.fork() as EntityManager;
  const ctx = () => systemContext(em(), config(), new ChangeBus(), systemClock);
  let mcpId: string;
  const users: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-vault-'));
    orm = await MikroORM.init(ormConfig(db.url));
    await migrate(orm, config());
    keyring = Keyring.load(config(), log);
    vault = new Vault(keyring);
    // Rows to seal into: an MCP and users, inserted directly (the vault does not care how they came to be).
    mcpId = newId('mcp');
    await db.query(
      `insert into mcp_server (id, slug, name, description, status, next_version, created_at, updated_at)
       values ($1, 'vaulted', 'Vaulted', '', 'draft', 1, now(), now())`,
      [mcpId],
    );
    for (let i = 0; i < 3; i++) {
      const id = newId('user');
      users.push(id);
      await db.query(
        `insert into app_user (id, username, display_name, email, role, status, password_hash, created_at, updated_at)
         values ($1, $2, $2, $3, 'user', 'active', 'x', now(), now())`,
        [id, `vault-user-${i}`, `vault-user-${i}@example.test`],
      );
    }
  });
  afterAll(async () => {
    await orm.close();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const slot = (owner: string, field = 'API_TOKEN'): VaultSlot => ({ owner, mcpId, field });

  it('round-trips, with a fresh nonce every time', async () => {
    const first = await vault.seal(em(), slot(users[0] ?? ''), 'sk-live-round-trip');
    const second = await vault.seal(em(), slot(users[0] ?? ''), 'sk-live-round-trip');
    expect(first.sealed).toMatch(new RegExp(`^v1:${keyring.ids().active}:`));
    expect(first.sealed).not.toBe(second.sealed);
    expect(first.sealed).not.toContain('sk-live');
    expect(await vault.open(em(), slot(users[0] ?? ''), first.sealed)).toBe('sk-live-round-trip');
    expect(await vault.open(em(), slot(users[0] ?? ''), second.sealed)).toBe('sk-live-round-trip');
  });

  it('refuses a tampered nonce, ciphertext, tag or associated data, and a value moved to another slot', async () => {
    const owner = users[0] ?? '';
    const { sealed } = await vault.seal(em(), slot(owner), 'sk-live-tamper');
    const refused = (attempt: Promise<string>) =>
      expect(attempt).rejects.toMatchObject({
        code: 'INTERNAL',
        message: expect.stringContaining('could not be decrypted'),
      });
    await refused(vault.open(em(), slot(owner), tamper(sealed, 0))); // nonce
    await refused(vault.open(em(), slot(owner), tamper(sealed, 14))); // ciphertext
    await refused(vault.open(em(), slot(owner), tamper(sealed, -1))); // tag
    await refused(vault.open(em(), slot(owner, 'OTHER_FIELD'), sealed)); // associated data: field
    await refused(vault.open(em(), { ...slot(owner), mcpId: newId('mcp') }, sealed)); // associated data: MCP
    await refused(vault.open(em(), slot(users[1] ?? ''), sealed)); // another user's row
    await refused(vault.open(em(), slot(owner), sealed.replace(/^v1:/, 'v2:'))); // unknown format
  });

  it('a ciphertext copied into another user’s row does not open through the credential provider', async () => {
    const provider = new VaultCredentialProvider(em, vault);
    const [alice = '', bob = ''] = users;
    const write = async (owner: string, value: string) => {
      const manager = em();
      const { sealed, keyId } = await vault.seal(manager, slot(owner), value);
      manager.create(StoredCredentialEntity, {
        id: newId('credential'),
        mcp: mcpId,
        owner,
        user: owner,
        field: 'API_TOKEN',
        sealed,
        keyId,
        updatedAt: new Date(),
        updatedBy: owner,
      });
      await manager.flush();
    };
    await write(alice, 'sk-alice-copy');
    await write(bob, 'sk-bob-copy');
    expect(await provider.credentialsFor({ mcpId, userId: alice })).toEqual({ API_TOKEN: 'sk-alice-copy' });
    await db.query(
      `update vault_credential set sealed = (select sealed from vault_credential where owner = $1 and mcp_id = $3)
       where owner = $2 and mcp_id = $3`,
      [alice, bob, mcpId],
    );
    await expect(provider.credentialsFor({ mcpId, userId: bob })).rejects.toMatchObject({ code: 'INTERNAL' });
    await db.query('delete from vault_credential');
  });

  async function seed(count: number): Promise<Map<string, string>> {
    const expected = new Map<string, string>();
    const manager = em();
    for (let i = 0; i < count; i++) {
      const owner = users[i % users.length] ?? '';
      const field = `FIELD_${i}`;
      const value = `secret-${i}-${'x'.repeat(i % 7)}`;
      const { sealed, keyId } = await vault.seal(manager, slot(owner, field), value);
      manager.create(StoredCredentialEntity, {
        id: newId('credential'),
        mcp: mcpId,
        owner,
        user: owner,
        field,
        sealed,
        keyId,
        updatedAt: new Date(),
        updatedBy: owner,
      });
      expected.set(`${owner}/${field}`, value);
    }
    await manager.flush();
    return expected;
  }

  async function readAll(reader: Vault): Promise<Map<string, string>> {
    const manager = em();
    const rows = await manager.find(StoredCredentialEntity, { mcp: mcpId });
    const values = new Map<string, string>();
    for (const row of rows) {
      values.set(
        `${row.owner}/${row.field}`,
        await reader.open(manager, slot(row.owner, row.field), row.sealed),
      );
    }
    return values;
  }

  it('rotation re-seals everything with a new key while a concurrent reader (another keyring) keeps working', async () => {
    const expected = await seed(300);
    const oldKey = keyring.ids().active;
    // The server's own keyring object: it learns the new key from the file when it meets it.
    const serverVault = new Vault(Keyring.load(config(), log));
    let rotating = true;
    let reads = 0;
    const reader = (async () => {
      while (rotating) {
        expect(await readAll(serverVault)).toEqual(expected);
        reads++;
      }
    })();
    // Small batches: the rotation spans many transactions, and every read started before it ended.
    const result = await rotateVault(ctx(), keyring, vault, { addKey: true, batchSize: 5 });
    rotating = false;
    await reader;
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(result.activeKeyId).not.toBe(oldKey);
    expect(result).toMatchObject({ reencrypted: 300, remaining: 0 });
    expect(await vaultStatus(ctx(), keyring)).toEqual({
      activeKeyId: result.activeKeyId,
      keyIds: [oldKey, result.activeKeyId],
      sealedByKey: { [result.activeKeyId]: 300 },
    });
    expect(await readAll(serverVault)).toEqual(expected);
    // New seals by the server use the new key without a restart.
    expect((await serverVault.seal(em(), slot(users[0] ?? '', 'NEW'), 'v')).keyId).toBe(result.activeKeyId);
    const audited = await db.query<{ details: { phase: string } }>(
      "select details from audit_event where action = 'vault.rotate' order by id",
    );
    expect(audited.map((row) => row.details.phase)).toEqual(['key_added', 'finished']);
    expect(JSON.stringify(await db.query('select * from audit_event'))).not.toContain(
      keyring.active().key.toString('base64'),
    );

    // The old key can go now, and a retired key is gone from the file.
    await retireKey(ctx(), keyring, oldKey);
    expect(keyring.ids().all).toEqual([result.activeKeyId]);
  });

  it('an interrupted rotation resumes and ends consistent; a key still in use cannot be retired', async () => {
    const expected = await readAll(vault);
    const before = keyring.ids().active;
    const interrupted = rotateVault(ctx(), keyring, vault, {
      addKey: true,
      batchSize: 40,
      afterBatch: (count) => {
        if (count >= 120) throw new Error('simulated crash');
      },
    });
    await expect(interrupted).rejects.toThrow('simulated crash');
    const active = keyring.ids().active;
    const midway = await vaultStatus(ctx(), keyring);
    expect(midway.sealedByKey[active]).toBe(120);
    expect(midway.sealedByKey[before]).toBe(expected.size - 120);
    expect(await readAll(vault)).toEqual(expected);
    await expect(retireKey(ctx(), keyring, before)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(retireKey(ctx(), keyring, active)).rejects.toMatchObject({ code: 'CONFLICT' });

    const resumed = await rotateVault(ctx(), keyring, vault, { addKey: false, batchSize: 40 });
    expect(resumed).toMatchObject({ activeKeyId: active, reencrypted: expected.size - 120, remaining: 0 });
    expect((await vaultStatus(ctx(), keyring)).sealedByKey).toEqual({ [active]: expected.size });
    expect(await readAll(vault)).toEqual(expected);
  });

  it('a value being sealed with a key while it is retired blocks the retirement instead of being stranded', async () => {
    const { active, all } = keyring.ids();
    const stale = all.find((id) => id !== active) ?? '';
    expect(stale).not.toBe('');
    const retirementsBefore = (await db.query("select id from audit_event where action = 'vault.retire_key'"))
      .length;
    // A replica whose keyring has not seen the newest key yet is sealing with the old one: not committed yet.
    const replica = new pg.Client({ connectionString: db.url });
    await replica.connect();
    const staleRow = newId('credential');
    try {
      await replica.query('begin');
      await replica.query(
        `insert into vault_credential (id, mcp_id, owner, user_id, field, sealed, key_id, updated_at, updated_by)
         values ($1, $2, $3, $3, 'STALE', $4, $5, now(), $3)`,
        [staleRow, mcpId, users[0], `v1:${stale}:AAAA`, stale],
      );
      let settled = false;
      const retiring = retireKey(ctx(), keyring, stale).then(
        () => 'retired',
        (error: unknown) => error,
      );
      void retiring.finally(() => {
        settled = true;
      });
      // The retirement waits for the seal in flight (no timing: its lock wait is visible in PostgreSQL).
      let waiting = false;
      while (!settled && !waiting) {
        waiting =
          (
            await db.query(
              `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'
               and query ilike 'lock table vault_credential%'`,
            )
          ).length > 0;
      }
      await replica.query('commit');
      expect(waiting).toBe(true);
      expect(await retiring).toMatchObject({
        code: 'CONFLICT',
        message: expect.stringContaining('1 secret'),
      });
    } finally {
      await replica.end();
    }
    // Nothing changed: the key is neither retired nor gone from the file, and no retirement was audited.
    expect(await db.query('select key_id from vault_retired_key where key_id = $1', [stale])).toEqual([]);
    expect(keyring.ids().all).toContain(stale);
    expect((await db.query("select id from audit_event where action = 'vault.retire_key'")).length).toBe(
      retirementsBefore,
    );
    await db.query('delete from vault_credential where id = $1', [staleRow]);
  });

  it('takes keys from GATEHOUSE_MASTER_KEY with older versions still opening, and never adds keys there', async () => {
    const oldKey = Buffer.alloc(32, 7).toString('base64');
    const newKey = Buffer.alloc(32, 9).toString('base64');
    const before = new Vault(
      Keyring.load(loadConfig({ DATABASE_URL: db.url, GATEHOUSE_MASTER_KEY: oldKey }), log),
    );
    const { sealed } = await before.seal(em(), slot(users[2] ?? '', 'ENV'), 'env-secret');
    const afterRing = Keyring.load(
      loadConfig({
        DATABASE_URL: db.url,
        GATEHOUSE_MASTER_KEY: newKey,
        GATEHOUSE_MASTER_KEYS_PREVIOUS: oldKey,
      }),
      log,
    );
    expect(await new Vault(afterRing).open(em(), slot(users[2] ?? '', 'ENV'), sealed)).toBe('env-secret');
    expect(() => afterRing.addVersion()).toThrow(/GATEHOUSE_MASTER_KEY/);
    const withoutOld = new Vault(
      Keyring.load(loadConfig({ DATABASE_URL: db.url, GATEHOUSE_MASTER_KEY: newKey }), log),
    );
    await expect(withoutOld.open(em(), slot(users[2] ?? '', 'ENV'), sealed)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringContaining('could not be decrypted'),
    });
  });
});
