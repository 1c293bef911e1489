import {
  credentialDeniedEnv,
  type DeniedEnvFamily,
  deniedEnvFamily,
  type McpConfigInput,
} from '@gatehouse/schema';
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

const fixtureConfig = (extra: Partial<McpConfigInput> = {}): McpConfigInput => ({
  connection: { transport: 'stdio', ...fixtureStdioCommand(), env: {} },
  timeouts: { connectMs: 20_000, callMs: 10_000 },
  ...extra,
});

/** One name per family that a config must never set, and what each would do. */
const DENIED: [DeniedEnvFamily, string, string][] = [
  ['dynamic linker', 'LD_PRELOAD', '/tmp/evil.so'],
  ['dynamic linker', 'DYLD_INSERT_LIBRARIES', '/tmp/evil.dylib'],
  ['Node.js', 'NODE_OPTIONS', '--require /tmp/evil.js'],
  ['Python', 'PYTHONSTARTUP', '/tmp/evil.py'],
  ['Perl', 'PERL5OPT', '-Mevil'],
  ['Ruby', 'RUBYOPT', '-revil'],
  ['shell', 'BASH_ENV', '/tmp/evil.sh'],
  ['JVM', 'JAVA_TOOL_OPTIONS', '-javaagent:/tmp/evil.jar'],
  ['package manager', 'npm_config_registry', 'https://evil.example'],
  ['package manager', 'COREPACK_NPM_REGISTRY', 'https://evil.example'],
  ['package manager', 'UV_CONFIG_FILE', '/tmp/evil.toml'],
  ['Git', 'GIT_SSH_COMMAND', 'sh /tmp/evil.sh'],
  ['Git', 'GIT_CONFIG_COUNT', '1'],
  ['helper program', 'SSH_ASKPASS', '/tmp/evil.sh'],
  ['library loading', 'GCONV_PATH', '/tmp/evil-gconv'],
  ['library loading', 'OPENSSL_CONF', '/tmp/evil-openssl.cnf'],
];

describe('environment variables that change how a downstream runs', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let childrenBefore: number[];
  const open: Client[] = [];

  const mcpCount = async () => (await admin.catalog.list.query({})).items.length;

  beforeAll(async () => {
    childrenBefore = descendantPids();
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
  });
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close().catch(() => undefined)));
    await gh.stop();
    expect(descendantPids().filter((pid) => !childrenBefore.includes(pid))).toEqual([]);
  });

  it('keeps the list in one place, matching every member of a family and case', () => {
    expect(deniedEnvFamily('LD_LIBRARY_PATH')).toBe('dynamic linker');
    expect(deniedEnvFamily('ld_audit')).toBe('dynamic linker');
    expect(deniedEnvFamily('NODE_PATH')).toBe('Node.js');
    expect(deniedEnvFamily('PYTHONPATH')).toBe('Python');
    expect(deniedEnvFamily('PYTHONWARNINGS')).toBe('Python');
    expect(deniedEnvFamily('PERL5LIB')).toBe('Perl');
    expect(deniedEnvFamily('RUBYLIB')).toBe('Ruby');
    expect(deniedEnvFamily('ENV')).toBe('shell');
    expect(deniedEnvFamily('PIP_INDEX_URL')).toBe('package manager');
    for (const name of ['COREPACK_HOME', 'YARN_YARN_PATH', 'yarn_rc_filename', 'BUN_CONFIG_REGISTRY']) {
      expect(deniedEnvFamily(name), name).toBe('package manager');
    }
    for (const name of ['DENO_DIR', 'UV_FIND_LINKS', 'UV_CONFIG_FILE', 'UV_INDEX_URL', 'UV_CACHE_DIR']) {
      expect(deniedEnvFamily(name), name).toBe('package manager');
    }
    for (const name of [
      'GIT_ASKPASS',
      'GIT_PROXY_COMMAND',
      'GIT_EXTERNAL_DIFF',
      'GIT_CONFIG_KEY_0',
      'git_config_value_0',
      'GIT_CONFIG_PARAMETERS',
      'GIT_EXEC_PATH',
      'GIT_DIR',
      'GIT_EDITOR',
    ]) {
      expect(deniedEnvFamily(name), name).toBe('Git');
    }
    for (const name of ['SSH_ASKPASS_REQUIRE', 'EDITOR', 'visual']) {
      expect(deniedEnvFamily(name), name).toBe('helper program');
    }
    for (const name of ['GLIBC_TUNABLES', 'OPENSSL_MODULES', 'openssl_engines']) {
      expect(deniedEnvFamily(name), name).toBe('library loading');
    }
    // They run no code: an admin may set them literally (a corporate proxy or CA), never from a credential.
    for (const allowed of ['HTTPS_PROXY', 'no_proxy', 'SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS']) {
      expect(deniedEnvFamily(allowed), allowed).toBeNull();
      expect(credentialDeniedEnv(allowed), allowed).toBe(true);
    }
    for (const allowed of [
      'PYTHONUNBUFFERED',
      'PATH',
      'LOG_LEVEL',
      'NODE_ENV',
      'HOME',
      'ENVIRONMENT',
      'GIT_TERMINAL_PROMPT',
      'GIT_AUTHOR_NAME',
      'GITHUB_TOKEN',
      'UVICORN_PORT',
      'BUNDLE_SIZE',
    ]) {
      expect(deniedEnvFamily(allowed), allowed).toBeNull();
    }
  });

  it.each(DENIED)('refuses a literal %s variable (%s) and stores nothing', async (family, name, value) => {
    const before = await mcpCount();
    const auditBefore = (await auditRows(gh)).length;
    const failed = await failureOf(
      admin.catalog.create.mutate({
        slug: `deny-${name.toLowerCase().replaceAll('_', '-').slice(0, 18)}`,
        name: 'Denied',
        config: fixtureConfig({
          connection: { transport: 'stdio', ...fixtureStdioCommand(), env: { [name]: value } },
        }),
      }),
    );
    expect(failed).toMatchObject({
      code: 'VALIDATION_FAILED',
      status: 400,
      fieldErrors: { [`config.connection.env.${name}`]: [expect.stringContaining(`(${family})`)] },
    });
    expect(await mcpCount()).toBe(before);
    expect((await auditRows(gh)).length).toBe(auditBefore);
  });

  it("refuses to make a user's credential into a denied variable, PATH included", async () => {
    const before = await mcpCount();
    const asNodeOptions = await failureOf(
      admin.catalog.create.mutate({
        slug: 'deny-inject',
        name: 'Denied injection',
        config: fixtureConfig({
          isolation: 'per-user',
          credentials: [{ name: 'TOKEN', label: 'Token', inject: { into: 'env', name: 'NODE_OPTIONS' } }],
        }),
      }),
    );
    expect(asNodeOptions.fieldErrors).toEqual({
      'config.credentials.0.inject': [expect.stringContaining('"NODE_OPTIONS" changes how the downstream')],
    });
    const intoPath = await failureOf(
      admin.catalog.create.mutate({
        slug: 'deny-path',
        name: 'Denied PATH',
        config: fixtureConfig({
          isolation: 'per-user',
          connection: {
            transport: 'stdio',
            ...fixtureStdioCommand(),
            env: { PATH: '{{credential:TOKEN}}:/usr/bin' },
          },
          credentials: [
            { name: 'TOKEN', label: 'Token' },
            { name: 'OTHER', label: 'Other', inject: { into: 'env', name: 'path' } },
          ],
        }),
      }),
    );
    expect(Object.keys(intoPath.fieldErrors ?? {}).sort()).toEqual([
      'config.connection.env.PATH',
      'config.credentials.1.inject',
    ]);
    const oauthInto = await failureOf(
      admin.catalog.create.mutate({
        slug: 'deny-oauth',
        name: 'Denied OAuth',
        config: fixtureConfig({
          isolation: 'per-user',
          oauth: {
            clientId: 'client',
            authorizationEndpoint: 'https://idp.example/authorize',
            tokenEndpoint: 'https://idp.example/token',
            inject: { into: 'env', name: 'LD_PRELOAD' },
          },
        }),
      }),
    );
    expect(Object.keys(oauthInto.fieldErrors ?? {})).toEqual(['config.oauth.inject']);
    // A proxy or CA bundle from a user's credential would route the instance's traffic where the user says.
    const intoProxy = await failureOf(
      admin.catalog.create.mutate({
        slug: 'deny-proxy',
        name: 'Denied proxy',
        config: fixtureConfig({
          isolation: 'per-user',
          connection: {
            transport: 'stdio',
            ...fixtureStdioCommand(),
            env: { HTTPS_PROXY: 'http://{{credential:TOKEN}}@proxy.example:3128' },
          },
          credentials: [
            { name: 'TOKEN', label: 'Token' },
            { name: 'CA', label: 'CA', inject: { into: 'env', name: 'NODE_EXTRA_CA_CERTS' } },
          ],
        }),
      }),
    );
    expect(intoProxy.fieldErrors).toEqual({
      'config.connection.env.HTTPS_PROXY': [expect.stringContaining("must not receive a user's credential")],
      'config.credentials.1.inject': [expect.stringContaining('which certificates it trusts')],
    });
    expect(await mcpCount()).toBe(before);

    // A literal PATH and harmless names stay allowed.
    const allowed = await admin.catalog.create.mutate({
      slug: 'allowed-env',
      name: 'Allowed',
      config: fixtureConfig({
        connection: {
          transport: 'stdio',
          ...fixtureStdioCommand(),
          env: {
            PATH: process.env.PATH ?? '/usr/bin',
            PYTHONUNBUFFERED: '1',
            LOG_LEVEL: 'debug',
            HTTPS_PROXY: 'http://proxy.example:3128',
            GIT_TERMINAL_PROMPT: '0',
          },
        },
      }),
    });
    expect((await admin.catalog.validate.mutate({ id: allowed.id })).problems).toEqual([]);
  });

  it('refuses to spawn a stored config that sets a denied variable (rows from before the list)', async () => {
    const everyone = (await admin.groups.list.query()).items.find((g) => g.builtIn)?.id ?? '';
    const mcp = await admin.catalog.create.mutate({
      slug: 'legacy',
      name: 'Legacy',
      config: fixtureConfig(),
      groupIds: [everyone],
    });
    await admin.catalog.validate.mutate({ id: mcp.id });
    await admin.catalog.discover.mutate({ id: mcp.id });
    await admin.catalog.publish.mutate({ id: mcp.id });
    // As if stored by an earlier release: the live version now sets NODE_OPTIONS.
    await gh.db.query(
      `update mcp_version set config = jsonb_set(config, '{connection,env}', '{"NODE_OPTIONS": "--require /tmp/evil.js"}')
       where mcp_id = $1`,
      [mcp.id],
    );
    gh.liveCatalog.invalidate(mcp.id);

    const { portal } = await createSignedInUser(gh, admin, 'carol', 'Plenty-long-passphrase-9');
    const created = await portal.clients.create.mutate({ name: 'carol laptop', kind: 'agent' });
    await portal.subscriptions.create.mutate({ clientId: created.client.id, mcpId: mcp.id });
    const client = await connectMcpClient(gh, created.key);
    open.push(client);
    const spawnedBefore = descendantPids();

    const outcome = await client.callTool({ name: 'legacy__whoami', arguments: {} }).then(
      (result) => JSON.stringify(result),
      (error: unknown) => String(error),
    );
    expect(outcome).toContain('sets an environment variable Gatehouse refuses (connection.env.NODE_OPTIONS)');
    expect(outcome).not.toContain('"pid"');
    // No process was started for it.
    expect(descendantPids().filter((pid) => !spawnedBefore.includes(pid))).toEqual([]);
    expect(gh.runtime.list(mcp.id).every((instance) => instance.pid === null)).toBe(true);
  });
});
