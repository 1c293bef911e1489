import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import {
  auditRows,
  connectMcpClient,
  createSignedInUser,
  failureOf,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { descendantPids } from '../support/processes.js';

const serverDir = path.resolve(import.meta.dirname, '../..');
const PASSWORD = 'Plenty-long-passphrase-9';
const canary = (who: string) => `canary-${who}-${randomBytes(16).toString('hex')}`;
const textOf = (result: unknown) =>
  (((result as { content?: unknown }).content ?? []) as { text?: string }[])
    .map((b) => b.text ?? '')
    .join('');

interface Person {
  id: string;
  portal: PortalClient;
  client: Client;
  secret: string;
}

describe('the vault under faults: tampered rows and retired keys on a running server', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let mcpId: string;
  let childrenBefore: number[];
  const people: Record<string, Person> = {};

  /** `gatehouse <args>` as its own process beside the running server, on the same database and data dir. */
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: serverDir,
      env: { ...process.env, DATABASE_URL: gh.db.url, GATEHOUSE_DATA_DIR: gh.config.dataDir },
    });

  const rowOf = async (userId: string, field = 'API_TOKEN') =>
    (
      await gh.db.query<{ sealed: string; key_id: string }>(
        'select sealed, key_id from vault_credential where mcp_id = $1 and owner = $2 and field = $3',
        [mcpId, userId, field],
      )
    )[0] as { sealed: string; key_id: string };
  const writeRow = (userId: string, sealed: string, keyId: string, field = 'API_TOKEN') =>
    gh.db.query(
      'update vault_credential set sealed = $1, key_id = $2 where mcp_id = $3 and owner = $4 and field = $5',
      [sealed, keyId, mcpId, userId, field],
    );
  const allRows = () =>
    gh.db.query('select id, owner, field, sealed, key_id from vault_credential order by id');

  /** The user's instance is stopped by an admin, so the next call opens their stored value again. */
  async function restartNeeded(userId: string) {
    for (const instance of gh.runtime.list(mcpId).filter((i) => i.userId === userId)) {
      await admin.runtime.stop.mutate({ key: instance.key });
    }
  }

  async function whoami(person: Person): Promise<{ pid?: number; failure?: string }> {
    try {
      const result = await person.client.callTool({ name: 'vaulty__whoami', arguments: {} });
      if (result.isError) return { failure: textOf(result) };
      return { pid: (JSON.parse(textOf(result)) as { pid: number }).pid };
    } catch (error) {
      return { failure: String(error) };
    }
  }

  const decryptFailures = async () => auditRows(gh, 'vault.decrypt_failed');

  beforeAll(async () => {
    childrenBefore = descendantPids();
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    const everyone = (await admin.groups.list.query()).items.find((g) => g.builtIn)?.id ?? '';
    mcpId = (
      await admin.catalog.create.mutate({
        slug: 'vaulty',
        name: 'Vaulty',
        config: {
          isolation: 'per-user',
          connection: { transport: 'stdio', ...fixtureStdioCommand() },
          credentials: [
            { name: 'API_TOKEN', label: 'Token', inject: { into: 'env', name: 'FIXTURE_CREDENTIAL' } },
            // Not secret, so the credentials screen opens it and shows it back.
            {
              name: 'REGION',
              label: 'Region',
              secret: false,
              required: false,
              inject: { into: 'env', name: 'FIXTURE_REGION' },
            },
          ],
          timeouts: { connectMs: 20_000, callMs: 10_000 },
        },
        groupIds: [everyone],
      })
    ).id;
    await admin.catalog.validate.mutate({ id: mcpId });
    await admin.catalog.discover.mutate({ id: mcpId, temporaryCredentials: { API_TOKEN: 'discovery' } });
    await admin.catalog.publish.mutate({ id: mcpId });
    for (const username of ['alice', 'bob']) {
      const { id, portal } = await createSignedInUser(gh, admin, username, PASSWORD);
      const secret = canary(username);
      await portal.credentials.set.mutate({ mcpId, values: { API_TOKEN: secret } });
      const created = await portal.clients.create.mutate({ name: `${username} laptop`, kind: 'agent' });
      await portal.subscriptions.create.mutate({ clientId: created.client.id, mcpId });
      people[username] = { id, portal, secret, client: await connectMcpClient(gh, created.key) };
    }
  });
  afterAll(async () => {
    await Promise.all(Object.values(people).map((p) => p.client.close().catch(() => undefined)));
    await gh.stop();
    expect(descendantPids().filter((pid) => !childrenBefore.includes(pid))).toEqual([]);
  });

  const alice = () => people.alice as Person;
  const bob = () => people.bob as Person;

  it('audits a tampered or swapped ciphertext with owner, MCP and field, and fails the call', async () => {
    expect((await whoami(alice())).pid).toBeGreaterThan(0);
    const original = await rowOf(alice().id);
    const [format, keyId, body = ''] = original.sealed.split(':');
    const flipped = `${body.slice(0, 10)}${body[10] === 'A' ? 'B' : 'A'}${body.slice(11)}`;
    await writeRow(alice().id, `${format}:${keyId}:${flipped}`, original.key_id);
    await restartNeeded(alice().id);

    const first = await whoami(alice());
    expect(first.pid).toBeUndefined();
    expect(first.failure).toContain('could not be decrypted');
    // The same tampered row failing again is not audited again.
    expect((await whoami(alice())).pid).toBeUndefined();
    const tampered = await decryptFailures();
    expect(tampered).toHaveLength(1);
    expect(tampered[0]).toMatchObject({
      actor_type: 'system',
      outcome: 'failure',
      reason: 'tampered or moved',
      target_id: mcpId,
      details: { owner: alice().id, mcpId, field: 'API_TOKEN' },
    });

    // Bob's ciphertext moved into Alice's row does not open either (it is bound to its slot).
    await writeRow(alice().id, (await rowOf(bob().id)).sealed, original.key_id);
    await restartNeeded(alice().id);
    expect((await whoami(alice())).pid).toBeUndefined();
    expect((await decryptFailures()).at(-1)).toMatchObject({
      reason: 'tampered or moved',
      details: { owner: alice().id, field: 'API_TOKEN' },
    });
    expect((await whoami(bob())).pid).toBeGreaterThan(0);

    const trail = JSON.stringify(await auditRows(gh)) + gh.logs.join('');
    for (const person of [alice(), bob()]) expect(trail).not.toContain(person.secret);
    expect(trail).not.toContain(flipped);

    // Setting the value again repairs it.
    await alice().portal.credentials.set.mutate({ mcpId, values: { API_TOKEN: alice().secret } });
    expect((await whoami(alice())).pid).toBeGreaterThan(0);
  });

  it('refuses a value sealed with a key that `gatehouse vault retire` retired beside the running server', async () => {
    const sealedWithOldKey = await rowOf(alice().id);
    const oldKey = sealedWithOldKey.key_id;

    const rotated = await cli('vault', 'rotate');
    expect(rotated.stdout).toContain('re-sealed');
    const newKey = (await rowOf(alice().id)).key_id;
    expect(newKey).not.toBe(oldKey);
    const retired = await cli('vault', 'retire', oldKey);
    expect(retired.stdout).toContain(`retired key ${oldKey}`);
    expect((await auditRows(gh, 'vault.retire_key')).at(-1)).toMatchObject({ target_id: oldKey });

    // A backup restored after the retirement brings back the old ciphertext.
    await writeRow(alice().id, sealedWithOldKey.sealed, oldKey);
    await restartNeeded(alice().id);
    const refused = await whoami(alice());
    expect(refused.pid).toBeUndefined();
    expect(refused.failure).toContain('could not be decrypted');
    expect((await decryptFailures()).at(-1)).toMatchObject({
      reason: 'retired key',
      details: { owner: alice().id, mcpId, field: 'API_TOKEN' },
    });

    // Values re-sealed with the active key keep working on the same server, without a restart.
    await restartNeeded(bob().id);
    expect((await whoami(bob())).pid).toBeGreaterThan(0);
  }, 120_000);

  it('tells the caller only that a value failed to open: the key id and the reason stay in the audit trail', async () => {
    await alice().portal.credentials.set.mutate({ mcpId, values: { REGION: 'eu-west-1' } });
    const region = await rowOf(alice().id, 'REGION');
    // A value sealed with a key this server does not hold (another installation's backup, say).
    const foreignKey = 'f0f0f0f0f0f0';
    await writeRow(alice().id, `v1:${foreignKey}:${region.sealed.split(':')[2]}`, foreignKey, 'REGION');
    const rowsBefore = await allRows();
    const auditBefore = (await auditRows(gh)).length;

    const failed = await failureOf(alice().portal.credentials.get.query({ mcpId }));
    expect(failed).toMatchObject({ code: 'INTERNAL', status: 500 });
    expect(failed.message).toContain('"REGION" could not be decrypted');
    for (const detail of [foreignKey, 'keyring', 'unknown key', mcpId, 'master key']) {
      expect(failed.message).not.toContain(detail);
    }
    // The detail is in the trail (one event, nothing else written) and nothing changed.
    const audit = await auditRows(gh);
    expect(audit).toHaveLength(auditBefore + 1);
    expect(audit.at(-1)).toMatchObject({
      action: 'vault.decrypt_failed',
      reason: 'unknown key',
      details: { owner: alice().id, mcpId, field: 'REGION', keyId: foreignKey },
    });
    expect(await allRows()).toEqual(rowsBefore);
  });

  it('`gatehouse vault rotate` audits a value that fails to open, and re-seals nothing', async () => {
    // Repair what the earlier tests broke, then tamper with Bob's value.
    await alice().portal.credentials.delete.mutate({ mcpId, fields: ['REGION'] });
    await alice().portal.credentials.set.mutate({ mcpId, values: { API_TOKEN: alice().secret } });
    const bobs = await rowOf(bob().id);
    const [format, keyId, body = ''] = bobs.sealed.split(':');
    await writeRow(
      bob().id,
      `${format}:${keyId}:${body[0] === 'A' ? 'B' : 'A'}${body.slice(1)}`,
      bobs.key_id,
    );
    const rowsBefore = await allRows();
    const failuresBefore = (await decryptFailures()).length;

    const rotation = await cli('vault', 'rotate').then(
      () => null,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(rotation?.code).toBe(1);
    expect(rotation?.stderr).toContain('could not be decrypted');
    expect(rotation?.stderr).not.toContain(bob().secret);

    const failures = await decryptFailures();
    expect(failures).toHaveLength(failuresBefore + 1);
    expect(failures.at(-1)).toMatchObject({
      actor_type: 'system',
      outcome: 'failure',
      reason: 'tampered or moved',
      target_id: mcpId,
      details: { owner: bob().id, mcpId, field: 'API_TOKEN', keyId },
    });
    // The batch that met the broken value rolled back: every row is as it was.
    expect(await allRows()).toEqual(rowsBefore);
  }, 120_000);
});
