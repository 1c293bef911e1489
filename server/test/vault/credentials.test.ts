import { createHash, randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import {
  auditRows,
  failureOf,
  type PortalClient,
  portalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { descendantPids, isAlive, waitFor } from '../support/processes.js';

const PASSWORD = 'Plenty-long-passphrase-9';
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const canary = (who: string) => `canary-${who}-${randomBytes(24).toString('hex')}`;

const textOf = (result: unknown) =>
  (((result as { content?: unknown }).content ?? []) as { type: string; text?: string }[])
    .map((block) => block.text ?? '')
    .join('');

interface WhoAmI {
  pid: number;
  credentialHash: string | null;
  envKeys: string[];
}

const API_TOKEN_FIELD = {
  name: 'API_TOKEN',
  label: 'API token',
  secret: true,
  required: true,
  inject: { into: 'env' as const, name: 'FIXTURE_CREDENTIAL' },
};

describe('credential vault end to end', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let childrenBefore: number[];
  const users: Record<string, { id: string; portal: PortalClient; key: string }> = {};
  const mcps: Record<string, string> = {};
  const open: Client[] = [];
  const mcpClients: Record<string, Client> = {};

  /** Every value that must never leave the vault in the clear. */
  const tokens = {
    alice: canary('alice'),
    aliceReplacement: canary('alice-replacement'),
    aliceRejected: canary('alice-rejected'),
    bob: canary('bob'),
    bobIntruding: canary('bob-intruding'),
    bobShared: canary('bob-shared'),
    discovery: canary('discovery'),
    shared: canary('shared'),
  };
  /** JSON of every tRPC response and error, and every MCP result, seen during the suite. */
  const responses: string[] = [];

  const recordError = (error: unknown) => {
    if (error instanceof TRPCClientError) {
      responses.push(JSON.stringify({ message: error.message, data: error.data, shape: error.shape }));
    } else {
      responses.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    }
  };
  /** Awaits a call, recording its response (or its error). */
  async function recorded<T>(promise: Promise<T>): Promise<T> {
    try {
      const result = await promise;
      responses.push(JSON.stringify(result) ?? 'undefined');
      return result;
    } catch (error) {
      recordError(error);
      throw error;
    }
  }
  /** The gatehouse code and status of a call expected to fail, with the error recorded. */
  async function failure(promise: Promise<unknown>) {
    const failed = await failureOf(recorded(promise));
    responses.push(JSON.stringify(failed));
    return failed;
  }

  async function publish(
    slug: string,
    config: Parameters<PortalClient['catalog']['create']['mutate']>[0]['config'],
    groupIds: string[],
  ) {
    const created = await recorded(admin.catalog.create.mutate({ slug, name: slug, config, groupIds }));
    await recorded(admin.catalog.validate.mutate({ id: created.id }));
    await recorded(
      admin.catalog.discover.mutate({
        id: created.id,
        temporaryCredentials: { API_TOKEN: tokens.discovery },
      }),
    );
    await recorded(admin.catalog.publish.mutate({ id: created.id }));
    return created.id;
  }

  async function connect(key: string): Promise<Client> {
    const client = new Client({ name: 'credentials-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${gh.clientUrl}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    open.push(client);
    return client;
  }

  /** Calls `perfx__whoami` as the user; the raw result (recorded) and, if it succeeded, its parsed body. */
  async function whoami(username: 'alice' | 'bob') {
    const client = mcpClients[username] as Client;
    const result = await recorded(client.callTool({ name: 'perfx__whoami', arguments: {} }));
    return { result, me: result.isError ? null : (JSON.parse(textOf(result)) as WhoAmI) };
  }
  async function whoamiOk(username: 'alice' | 'bob'): Promise<WhoAmI> {
    const { result, me } = await whoami(username);
    expect(result.isError, textOf(result)).toBeFalsy();
    return me as WhoAmI;
  }

  const storedRows = (mcpId: string) =>
    gh.db.query<{ owner: string; field: string; sealed: string; key_id: string; updated_at: Date }>(
      'select owner, field, sealed, key_id, updated_at from vault_credential where mcp_id = $1 order by owner, field',
      [mcpId],
    );

  beforeAll(async () => {
    childrenBefore = descendantPids();
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    const everyone = (await recorded(admin.groups.list.query())).items.find((g) => g.builtIn)?.id ?? '';
    mcps.perfx = await publish(
      'perfx',
      {
        isolation: 'per-user',
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        credentials: [API_TOKEN_FIELD],
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      },
      [everyone],
    );
    for (const username of ['alice', 'bob']) {
      const user = await recorded(
        admin.users.create.mutate({
          username,
          displayName: username,
          email: `${username}@example.test`,
          password: PASSWORD,
          role: 'user',
        }),
      );
      const portal = portalClient(gh.portalUrl);
      await recorded(portal.signIn(username, PASSWORD));
      const created = await recorded(
        portal.clients.create.mutate({ name: `${username} laptop`, kind: 'agent' }),
      );
      await recorded(portal.subscriptions.create.mutate({ clientId: created.client.id, mcpId: mcps.perfx }));
      users[username] = { id: user.id, portal, key: created.key };
    }
  });

  afterAll(async () => {
    await Promise.all(open.map((client) => client.close().catch(() => undefined)));
    await gh?.stop();
    expect(descendantPids().filter((pid) => !childrenBefore.includes(pid))).toEqual([]);
  });

  const alice = () => users.alice as { id: string; portal: PortalClient; key: string };
  const bob = () => users.bob as { id: string; portal: PortalClient; key: string };

  it("injects each user's own credential into their own per-user instance", async () => {
    const set = await recorded(
      alice().portal.credentials.set.mutate({ mcpId: mcps.perfx ?? '', values: { API_TOKEN: tokens.alice } }),
    );
    expect(set).toMatchObject({ scope: 'per-user', complete: true });
    await recorded(
      bob().portal.credentials.set.mutate({ mcpId: mcps.perfx ?? '', values: { API_TOKEN: tokens.bob } }),
    );
    mcpClients.alice = await connect(alice().key);
    mcpClients.bob = await connect(bob().key);
    expect((await recorded(mcpClients.alice.listTools())).tools.map((t) => t.name)).toContain(
      'perfx__whoami',
    );

    const [asAlice, asBob] = await Promise.all([whoamiOk('alice'), whoamiOk('bob')]);
    expect(asAlice.credentialHash).toBe(sha256(tokens.alice));
    expect(asAlice.credentialHash).not.toBe(sha256(tokens.bob));
    expect(asBob.credentialHash).toBe(sha256(tokens.bob));
    expect(asBob.credentialHash).not.toBe(sha256(tokens.alice));
    expect(asAlice.envKeys).toContain('FIXTURE_CREDENTIAL');
    expect(asAlice.pid).not.toBe(asBob.pid);
    // Both instances are Gatehouse's children, one per user.
    const ours = descendantPids();
    expect(ours).toEqual(expect.arrayContaining([asAlice.pid, asBob.pid]));
    const instances = gh.runtime.list(mcps.perfx).map((i) => [i.userId, i.pid]);
    expect(instances).toEqual(
      expect.arrayContaining([
        [alice().id, asAlice.pid],
        [bob().id, asBob.pid],
      ]),
    );
    expect(instances).toHaveLength(2);
    // The same user keeps their instance.
    expect((await whoamiOk('alice')).pid).toBe(asAlice.pid);
  });

  it('reports state without values; lists owners for admins only; vault status counts every secret', async () => {
    const state = await recorded(alice().portal.credentials.get.query({ mcpId: mcps.perfx ?? '' }));
    expect(state).toEqual({
      mcpId: mcps.perfx,
      scope: 'per-user',
      complete: true,
      fields: [
        {
          name: 'API_TOKEN',
          label: 'API token',
          help: '',
          secret: true,
          required: true,
          set: true,
          value: null,
          updatedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
        },
      ],
    });
    expect(JSON.stringify(state)).not.toContain(tokens.alice);

    const owners = await recorded(admin.credentials.owners.query({ mcpId: mcps.perfx ?? '' }));
    expect(owners.mcpId).toBe(mcps.perfx);
    expect(
      owners.owners
        .map((owner) => ({ ...owner, fields: owner.fields.map((field) => field.name) }))
        .sort((a, b) => (a.username ?? '').localeCompare(b.username ?? '')),
    ).toEqual([
      { userId: alice().id, username: 'alice', fields: ['API_TOKEN'] },
      { userId: bob().id, username: 'bob', fields: ['API_TOKEN'] },
    ]);
    for (const owner of owners.owners) {
      for (const field of owner.fields) expect(Object.keys(field).sort()).toEqual(['name', 'updatedAt']);
    }
    const ownersJson = JSON.stringify(owners);
    expect(ownersJson).not.toContain(tokens.alice);
    expect(ownersJson).not.toContain(tokens.bob);

    expect(await failure(alice().portal.credentials.owners.query({ mcpId: mcps.perfx ?? '' }))).toMatchObject(
      {
        code: 'FORBIDDEN',
        status: 403,
      },
    );
    expect(await failure(bob().portal.vault.status.query())).toMatchObject({
      code: 'FORBIDDEN',
      status: 403,
    });

    const status = await recorded(admin.vault.status.query());
    expect(status.keyIds).toContain(status.activeKeyId);
    const [{ count }] = (await gh.db.query<{ count: string }>('select count(*) from vault_credential')) as [
      { count: string },
    ];
    expect(Number(count)).toBe(2);
    expect(status.sealedByKey).toEqual({ [status.activeKeyId]: 2 });
    const rows = await storedRows(mcps.perfx ?? '');
    expect(rows.map((row) => row.key_id)).toEqual([status.activeKeyId, status.activeKeyId]);
  });

  it("replacing a credential restarts only that user's instance, on next use, with the new value", async () => {
    const before = { alice: await whoamiOk('alice'), bob: await whoamiOk('bob') };
    const [previous] = (await storedRows(mcps.perfx ?? '')).filter((row) => row.owner === alice().id);
    const stateBefore = await recorded(alice().portal.credentials.get.query({ mcpId: mcps.perfx ?? '' }));
    const replaced = await recorded(
      alice().portal.credentials.set.mutate({
        mcpId: mcps.perfx ?? '',
        values: { API_TOKEN: tokens.aliceReplacement },
      }),
    );
    expect(replaced.fields[0]).toMatchObject({ set: true, value: null });
    expect(Date.parse(replaced.fields[0]?.updatedAt ?? '')).toBeGreaterThan(
      Date.parse(stateBefore.fields[0]?.updatedAt ?? ''),
    );
    const [current] = (await storedRows(mcps.perfx ?? '')).filter((row) => row.owner === alice().id);
    expect(current?.sealed).not.toBe(previous?.sealed);

    const after = await whoamiOk('alice');
    expect(after.pid).not.toBe(before.alice.pid);
    expect(after.credentialHash).toBe(sha256(tokens.aliceReplacement));
    expect(after.credentialHash).not.toBe(sha256(tokens.alice));
    // The old instance had no call in flight, so it stops.
    await waitFor(() => !isAlive(before.alice.pid), "alice's old instance to stop");

    const bobAfter = await whoamiOk('bob');
    expect(bobAfter.pid).toBe(before.bob.pid);
    expect(bobAfter.credentialHash).toBe(sha256(tokens.bob));
  });

  it('refuses bad input and foreign MCPs without changing anything; deleting a credential takes it away', async () => {
    const mcpId = mcps.perfx ?? '';
    const snapshot = await storedRows(mcpId);
    const stateBefore = await recorded(alice().portal.credentials.get.query({ mcpId }));

    // An unknown field, even next to a known one, is refused as a whole.
    const unknown = await failure(
      alice().portal.credentials.set.mutate({
        mcpId,
        values: { API_TOKEN: tokens.aliceRejected, NOT_A_FIELD: tokens.aliceRejected },
      }),
    );
    expect(unknown).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    expect(unknown.message).toContain('NOT_A_FIELD');
    expect(unknown.message).not.toContain(tokens.aliceRejected);
    const unknownDelete = await failure(
      alice().portal.credentials.delete.mutate({ mcpId, fields: ['NOPE'] }),
    );
    expect(unknownDelete).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    expect(await storedRows(mcpId)).toEqual(snapshot);
    expect(await recorded(alice().portal.credentials.get.query({ mcpId }))).toEqual(stateBefore);
    expect((await whoamiOk('alice')).credentialHash).toBe(sha256(tokens.aliceReplacement));

    // A per-user MCP granted only to a group bob is not in does not exist for him.
    const insiders = (await recorded(admin.groups.create.mutate({ name: 'insiders', description: '' }))).id;
    await recorded(admin.groups.addMember.mutate({ groupId: insiders, userId: alice().id }));
    mcps.hidden = await publish(
      'hidden',
      {
        isolation: 'per-user',
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        credentials: [API_TOKEN_FIELD],
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      },
      [insiders],
    );
    const hidden = mcps.hidden;
    expect(
      await failure(
        bob().portal.credentials.set.mutate({ mcpId: hidden, values: { API_TOKEN: tokens.bobIntruding } }),
      ),
    ).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    expect(await failure(bob().portal.credentials.get.query({ mcpId: hidden }))).toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
    });
    expect(await failure(bob().portal.credentials.delete.mutate({ mcpId: hidden }))).toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
    });
    expect(await storedRows(hidden)).toEqual([]);
    // Alice, an insider, may (the 404 above is about bob, not the MCP).
    expect(await recorded(alice().portal.credentials.get.query({ mcpId: hidden }))).toMatchObject({
      complete: false,
    });

    // A shared MCP's credentials belong to admins.
    mcps.shared = await publish(
      'sharedfx',
      {
        isolation: 'shared',
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        credentials: [API_TOKEN_FIELD],
        timeouts: { connectMs: 20_000, callMs: 10_000 },
      },
      [(await recorded(admin.groups.list.query())).items.find((g) => g.builtIn)?.id ?? ''],
    );
    const shared = mcps.shared;
    expect(
      await failure(
        bob().portal.credentials.set.mutate({ mcpId: shared, values: { API_TOKEN: tokens.bobShared } }),
      ),
    ).toMatchObject({ code: 'FORBIDDEN', status: 403 });
    expect(await failure(bob().portal.credentials.delete.mutate({ mcpId: shared }))).toMatchObject({
      code: 'FORBIDDEN',
      status: 403,
    });
    expect(await storedRows(shared)).toEqual([]);
    const sharedState = await recorded(
      admin.credentials.set.mutate({ mcpId: shared, values: { API_TOKEN: tokens.shared } }),
    );
    expect(sharedState).toMatchObject({ scope: 'shared', complete: true });
    expect((await storedRows(shared)).map((row) => row.owner)).toEqual([shared]);
    expect(await storedRows(mcpId)).toEqual(snapshot);

    // Deleting alice's credential: her instance is retired, and the next start has no credential to inject.
    const running = await whoamiOk('alice');
    const deleted = await recorded(alice().portal.credentials.delete.mutate({ mcpId }));
    expect(deleted).toMatchObject({
      complete: false,
      fields: [{ name: 'API_TOKEN', set: false, value: null }],
    });
    expect(deleted.fields[0]?.updatedAt).toBeNull();
    expect((await storedRows(mcpId)).map((row) => row.owner)).toEqual([bob().id]);
    await waitFor(() => !isAlive(running.pid), "alice's instance to stop after the delete");
    // Observed behaviour: the required credential is missing, so Gatehouse refuses to start her instance
    // and the call fails as a tool error naming the credential; no process is started without it.
    const { result, me } = await whoami('alice');
    expect(me).toBeNull();
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Gatehouse: MCP "perfx" needs credentials that are not set: API token');
    expect(gh.runtime.list(mcpId).map((instance) => instance.userId)).toEqual([bob().id]);
    expect((await whoamiOk('bob')).credentialHash).toBe(sha256(tokens.bob));

    // Setting it again brings her back, on a fresh instance with the new value.
    await recorded(
      alice().portal.credentials.set.mutate({ mcpId, values: { API_TOKEN: tokens.aliceReplacement } }),
    );
    const back = await whoamiOk('alice');
    expect(back.credentialHash).toBe(sha256(tokens.aliceReplacement));
    expect(back.pid).not.toBe(running.pid);
  });

  it('audits every mutation with its actor, the MCP and field names only', async () => {
    const sets = await auditRows(gh, 'credential.set');
    const deletes = await auditRows(gh, 'credential.delete');
    const view = (row: (typeof sets)[number]) => [row.actor_user_id, row.target_id, row.outcome, row.details];
    const perfx = mcps.perfx;
    const aliceSet = [alice().id, perfx, 'success', { scope: 'per-user', fields: ['API_TOKEN'] }];
    expect(sets.map(view)).toEqual([
      aliceSet,
      [bob().id, perfx, 'success', { scope: 'per-user', fields: ['API_TOKEN'] }],
      aliceSet,
      [expect.any(String), mcps.shared, 'success', { scope: 'shared', fields: ['API_TOKEN'] }],
      aliceSet,
    ]);
    const adminId = (
      await gh.db.query<{ id: string }>("select id from app_user where username = 'root-admin'")
    )[0]?.id;
    expect(sets[3]?.actor_user_id).toBe(adminId);
    expect(deletes.map(view)).toEqual([
      [alice().id, perfx, 'success', { scope: 'per-user', fields: ['API_TOKEN'] }],
    ]);
    for (const row of [...sets, ...deletes]) expect(row.actor_type).toBe('user');
  });

  it('never lets a credential value out: not in logs, audit, API responses or any table', async () => {
    const values = Object.values(tokens);
    // The plain text, and the encodings a careless writer might use.
    const needles = values.flatMap((value) => [
      value,
      Buffer.from(value).toString('base64'),
      Buffer.from(value).toString('hex'),
    ]);
    const leaks = (where: string, haystack: string) =>
      needles
        .filter((needle) => haystack.includes(needle))
        .map((needle) => `${where}: ${needle.slice(0, 24)}…`);

    // Sanity: the record actually holds what we think, so the negative checks below mean something.
    expect(responses.length).toBeGreaterThan(40);
    expect(responses.join('\n')).toContain(sha256(tokens.alice));
    expect(gh.logs.length).toBeGreaterThan(20);

    const found: string[] = [];
    found.push(...leaks('server log', gh.logs.join('\n')));
    found.push(...leaks('audit', JSON.stringify(await gh.db.query('select * from audit_event'))));
    found.push(...leaks('API responses', responses.join('\n')));
    const tables = await gh.db.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' order by table_name",
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['vault_credential', 'audit_event']),
    );
    for (const { table_name: table } of tables) {
      // row_to_json renders every column as text, bytea as hex.
      const rows = await gh.db.query<{ row: string }>(`select row_to_json(t)::text as row from "${table}" t`);
      found.push(...leaks(`table ${table}`, rows.map((r) => r.row).join('\n')));
    }
    const sealed = await gh.db.query<{ sealed: string }>('select sealed from vault_credential');
    expect(sealed.length).toBe(3);
    for (const { sealed: value } of sealed) expect(value).toMatch(/^v1:[^:]+:[A-Za-z0-9+/=]+$/);
    found.push(...leaks('sealed column', sealed.map((row) => row.sealed).join('\n')));
    expect(found).toEqual([]);
  });
});
