import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { MikroORM } from '@mikro-orm/postgresql';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServerSecrets } from '../../src/oauth-server/keys.js';
import { ChangeBus } from '../../src/platform/change-bus.js';
import { systemClock } from '../../src/platform/clock.js';
import { loadConfig } from '../../src/platform/config.js';
import { systemContext } from '../../src/platform/context.js';
import { migrate, ormConfig } from '../../src/platform/db.js';
import { Keyring } from '../../src/vault/keyring.js';
import { retireKey, rotateVault, vaultStatus } from '../../src/vault/rotation.js';
import { Vault } from '../../src/vault/vault.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const log = pino({ level: 'silent' });

/**
 * Vault rotation covers the authorization server's own secrets (ADR 0034): its signing and cookie keys are
 * re-sealed with the new master key and counted before a key is retired, so retiring the old key never
 * leaves the authorization server unable to start.
 */
describe('vault rotation and the authorization server’s keys', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  let dataDir: string;
  const config = () =>
    loadConfig({ DATABASE_URL: db.url, GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_LOG_LEVEL: 'silent' });
  const em = () => orm.em.fork() as EntityManager;
  const ctx = () => systemContext(em(), config(), new ChangeBus(), systemClock);
  const sealedKeys = async () =>
    (
      await db.query<{ name: string; key_id: string }>(
        `select name, split_part(sealed, ':', 2) as key_id from oauth_server_secret order by name`,
      )
    ).map((row) => `${row.name}:${row.key_id}`);

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-as-vault-'));
    orm = await MikroORM.init(ormConfig(db.url));
    await migrate(orm, config());
  });
  afterAll(async () => {
    await orm.close();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('rotate re-seals the signing and cookie keys; the old key cannot be retired before, and can after', async () => {
    const keyring = Keyring.load(config(), log);
    const vault = new Vault(keyring);
    const original = await loadServerSecrets(em(), vault);
    const oldKey = keyring.ids().active;
    expect(await sealedKeys()).toEqual([`cookie-keys:${oldKey}`, `jwks:${oldKey}`]);
    expect((await vaultStatus(ctx(), keyring)).sealedByKey).toEqual({ [oldKey]: 2 });

    // A new key, but nothing moved yet (a rotation that stopped before its end): the old key still seals
    // the authorization server's keys, so it cannot be retired, and nothing changes.
    keyring.addVersion();
    const newKey = keyring.ids().active;
    await expect(retireKey(ctx(), keyring, oldKey)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await db.query('select key_id from vault_retired_key')).toEqual([]);
    expect([...keyring.ids().all].sort()).toEqual([oldKey, newKey].sort());

    const result = await rotateVault(ctx(), keyring, vault, { addKey: false });
    expect(result).toMatchObject({ activeKeyId: newKey, reencrypted: 2, remaining: 0 });
    expect(await sealedKeys()).toEqual([`cookie-keys:${newKey}`, `jwks:${newKey}`]);

    await retireKey(ctx(), keyring, oldKey);
    expect(keyring.ids().all).toEqual([newKey]);
    // A process starting afresh (its own keyring from the file) opens the same keys with the new one.
    const restarted = await loadServerSecrets(em(), new Vault(Keyring.load(config(), log)));
    expect(restarted).toEqual(original);
  });
});
