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

  const rowOf = async (userId: string) =>
    (
      await gh.db.query<{ sealed: string; key_id: string }>(
        'select sealed, key_id from vault_credential where mcp_id = $1 and owner = $2',
        [mcpId, userId],
      )
    )[0] as { sealed: string; key_id: string };
  const writeRow = (userId: string, sealed: string, keyId: string) =>
    gh.db.query('update vault_credential set sealed = $1, key_id = $2 where mcp_id = $3 and owner = $4', [
      sealed,
      keyId,
      mcpId,
      userId,
    ]);

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
});
