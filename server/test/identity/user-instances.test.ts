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
import { descendantPids, isAlive } from '../support/processes.js';

const PASSWORD = 'Plenty-long-passphrase-9';

const textOf = (result: unknown) =>
  (((result as { content?: unknown }).content ?? []) as { text?: string }[])
    .map((b) => b.text ?? '')
    .join('');

/**
 * A suspended, killed or deleted user's per-user instances hold their decrypted credential in the process
 * environment: they must be gone by the time the admin's action answers.
 */
describe("disabling a user stops that user's per-user instances at once", () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let mcpId: string;
  let childrenBefore: number[];
  const open: Client[] = [];

  beforeAll(async () => {
    childrenBefore = descendantPids();
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    const everyone = (await admin.groups.list.query()).items.find((g) => g.builtIn)?.id ?? '';
    const created = await admin.catalog.create.mutate({
      slug: 'mine',
      name: 'Mine',
      config: {
        isolation: 'per-user',
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        credentials: [
          { name: 'API_TOKEN', label: 'Token', inject: { into: 'env', name: 'FIXTURE_CREDENTIAL' } },
        ],
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      },
      groupIds: [everyone],
    });
    mcpId = created.id;
    await admin.catalog.validate.mutate({ id: mcpId });
    await admin.catalog.discover.mutate({ id: mcpId, temporaryCredentials: { API_TOKEN: 'discovery' } });
    await admin.catalog.publish.mutate({ id: mcpId });
  });
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close().catch(() => undefined)));
    await gh.stop();
    expect(descendantPids().filter((pid) => !childrenBefore.includes(pid))).toEqual([]);
  });

  /** A user with a credential, a client and a running per-user instance; returns its pid. */
  async function runningUser(username: string) {
    const { id, portal } = await createSignedInUser(gh, admin, username, PASSWORD);
    await portal.credentials.set.mutate({ mcpId, values: { API_TOKEN: `secret-of-${username}` } });
    const created = await portal.clients.create.mutate({ name: `${username} laptop`, kind: 'agent' });
    await portal.subscriptions.create.mutate({ clientId: created.client.id, mcpId });
    const client = await connectMcpClient(gh, created.key);
    open.push(client);
    const whoami = () => client.callTool({ name: 'mine__whoami', arguments: {} });
    const pid = (JSON.parse(textOf(await whoami())) as { pid: number }).pid;
    expect(isAlive(pid)).toBe(true);
    expect(gh.runtime.list(mcpId).map((i) => [i.userId, i.pid])).toContainEqual([id, pid]);
    return { id, pid, whoami };
  }

  /** The call is refused at the endpoint, and no instance of the user is started again. */
  async function expectRefused(user: { id: string; whoami: () => Promise<unknown> }) {
    const outcome = await user.whoami().then(
      (result) => JSON.stringify(result),
      (error: unknown) => String(error),
    );
    expect(outcome).not.toContain('"pid"');
    expect(gh.runtime.list(mcpId).filter((i) => i.userId === user.id)).toEqual([]);
  }

  it('suspension', async () => {
    const user = await runningUser('sue');
    const other = await runningUser('otto');
    await admin.users.suspend.mutate({ id: user.id, reason: 'left the company' });
    // Gone when the answer arrives: no waiting.
    expect(isAlive(user.pid)).toBe(false);
    expect(gh.runtime.list(mcpId).some((i) => i.userId === user.id)).toBe(false);
    await expectRefused(user);
    // Other users' instances are untouched.
    expect(isAlive(other.pid)).toBe(true);
    expect((await auditRows(gh, 'user.suspend')).at(-1)?.target_id).toBe(user.id);
  });

  it('no instance starts again for a call that was authorized just before, until reactivation', async () => {
    const user = await runningUser('rita');
    await admin.users.suspend.mutate({ id: user.id });
    // A call already past the endpoint's checks reaches the runtime after the suspension.
    const live = await gh.liveCatalog.get(mcpId);
    if (!live) throw new Error('the MCP is not live');
    const spawnedBefore = descendantPids();
    // The runtime itself refuses to create an instance for the fenced user.
    expect(() => gh.runtime.instanceFor(live, user.id)).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN' }),
    );
    expect(descendantPids().filter((pid) => !spawnedBefore.includes(pid))).toEqual([]);
    expect(gh.runtime.list(mcpId).some((i) => i.userId === user.id)).toBe(false);

    await admin.users.reactivate.mutate({ id: user.id });
    const back = JSON.parse(textOf(await user.whoami())) as { pid: number };
    expect(back.pid).not.toBe(user.pid);
    expect(isAlive(back.pid)).toBe(true);
  });

  it('kill switch, until it is released', async () => {
    const user = await runningUser('kim');
    await admin.killSwitches.engage.mutate({ targetType: 'user', targetId: user.id, reason: 'compromised' });
    expect(isAlive(user.pid)).toBe(false);
    await expectRefused(user);
    await admin.killSwitches.release.mutate({ targetType: 'user', targetId: user.id });
    expect(isAlive((JSON.parse(textOf(await user.whoami())) as { pid: number }).pid)).toBe(true);
  });

  it('deletion (a user with history is suspended instead)', async () => {
    const user = await runningUser('dee');
    expect(await admin.users.delete.mutate({ id: user.id })).toEqual({ outcome: 'suspended' });
    expect(isAlive(user.pid)).toBe(false);
    await expectRefused(user);
  });
});
