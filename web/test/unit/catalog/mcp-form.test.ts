import { McpConfig } from '@gatehouse/schema';
import { describe, expect, it } from 'vitest';
import {
  argumentLine,
  changesSomething,
  configFromForm,
  createInputFromForm,
  describeConfigPath,
  describeInputPath,
  emptyCredentialField,
  emptyMcpForm,
  errorsAt,
  formatKeyValues,
  formFromConfig,
  type McpFormValues,
  parseArgs,
  parseKeyValues,
  readableIssue,
  sameConfig,
  unclaimedErrors,
  updateInputFromForm,
} from '../../../src/features/catalog/mcp-form.js';

const GROUP = 'grp_0123456789abcdef';
const form = (overrides: Partial<McpFormValues>): McpFormValues => ({ ...emptyMcpForm(), ...overrides });
const stdioForm = form({
  slug: 'fx',
  name: 'Fixture',
  command: 'node',
  args: 'server.js\n--port\n 8080 \n\n',
  env: 'LOG_LEVEL=info\nGITHUB_TOKEN={{credential:GITHUB_TOKEN}}\n# a comment\nEMPTY=',
  groupIds: [GROUP],
});

describe('text fields of the MCP form', () => {
  it('reads one argument per line, skipping blank lines and surrounding spaces', () => {
    expect(parseArgs('a\r\n  b  \n\n\t\nc d')).toEqual(['a', 'b', 'c d']);
    expect(parseArgs('')).toEqual([]);
  });

  it('reads NAME=value env lines, keeping values exactly and splitting at the first =', () => {
    expect(parseKeyValues('A=1\nB= two \nC=x=y\nD=', 'env')).toEqual({
      values: { A: '1', B: ' two ', C: 'x=y', D: '' },
      problems: [],
    });
  });

  it('reads headers with a colon or an equals sign and trims their values', () => {
    expect(
      parseKeyValues('X-Region: eu\nAccept=application/json\nX-Url: https://a.example/b', 'header'),
    ).toEqual({
      values: { 'X-Region': 'eu', Accept: 'application/json', 'X-Url': 'https://a.example/b' },
      problems: [],
    });
  });

  it('reports malformed and repeated lines with their line numbers', () => {
    expect(parseKeyValues('A=1\nnot a pair\n=nokey\nA=2', 'env').problems).toEqual([
      'line 2: expected NAME=value',
      'line 3: expected NAME=value',
      'line 4: A is already set on line 1',
    ]);
    expect(parseKeyValues('X-A: 1\nx-a: 2', 'header').problems).toEqual([
      'line 2: x-a is already set on line 1',
    ]);
  });

  it('refuses env names that change how the downstream runs, from the shared denylist', () => {
    expect(
      parseKeyValues('LOG_LEVEL=info\nLD_PRELOAD=/tmp/x.so\nnode_options=--require x', 'env').problems,
    ).toEqual([
      'line 2: "LD_PRELOAD" changes how the downstream program is loaded or run (dynamic linker), so Gatehouse never sets it',
      'line 3: "node_options" changes how the downstream program is loaded or run (Node.js), so Gatehouse never sets it',
    ]);
    const injected = createInputFromForm({
      ...stdioForm,
      isolation: 'per-user',
      credentials: [
        { ...emptyCredentialField(), name: 'T', label: 'T', inject: 'env', injectName: 'PYTHONPATH' },
      ],
    });
    expect(injected.ok).toBe(false);
    if (injected.ok) return;
    expect(injected.fieldErrors['config.credentials.0.inject']).toEqual([
      expect.stringContaining('"PYTHONPATH" changes how the downstream program is loaded or run (Python)'),
    ]);
  });

  it('writes maps back in the same shape', () => {
    expect(formatKeyValues({ A: '1', B: 'x=y' }, 'env')).toBe('A=1\nB=x=y');
    expect(formatKeyValues({ 'X-A': '1' }, 'header')).toBe('X-A: 1');
  });
});

describe('form → catalog.create input', () => {
  it('builds a stdio config and leaves blank numbers to the defaults', () => {
    const checked = createInputFromForm(stdioForm);
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(checked.input).toMatchObject({
      slug: 'fx',
      name: 'Fixture',
      description: '',
      iconUrl: null,
      groupIds: [GROUP],
      config: {
        connection: {
          transport: 'stdio',
          command: 'node',
          args: ['server.js', '--port', '8080'],
          env: { LOG_LEVEL: 'info', GITHUB_TOKEN: '{{credential:GITHUB_TOKEN}}', EMPTY: '' },
          cwd: null,
        },
        isolation: 'shared',
        startMode: 'lazy',
        credentials: [],
        oauth: null,
        timeouts: { connectMs: 30_000, callMs: 60_000 },
        limits: { maxConcurrentCalls: 16, maxInstances: 50 },
      },
    });
  });

  it('builds an HTTP config with headers, credential fields and OAuth', () => {
    const { config, problems } = configFromForm(
      form({
        transport: 'streamable-http',
        url: ' https://mcp.example.com/mcp ',
        headers: 'X-Region: eu',
        isolation: 'per-user',
        credentials: [
          {
            ...emptyCredentialField(),
            name: 'API_KEY',
            label: 'API key',
            inject: 'header',
            injectName: ' X-Api-Key ',
          },
          { ...emptyCredentialField(), name: 'REGION', label: 'Region', secret: false, required: false },
        ],
        oauth: {
          enabled: true,
          issuer: 'https://id.example.com',
          authorizationEndpoint: '',
          tokenEndpoint: ' ',
          revocationEndpoint: '',
          clientId: 'gatehouse',
          scopes: 'read, write\nadmin',
          resource: '',
          injectName: '',
        },
        connectTimeoutSeconds: '2.5',
        callTimeoutSeconds: '120',
        maxConcurrentCalls: '4',
        maxInstances: '10',
      }),
    );
    expect(problems).toEqual({});
    expect(config).toEqual({
      connection: {
        transport: 'streamable-http',
        url: 'https://mcp.example.com/mcp',
        headers: { 'X-Region': 'eu' },
      },
      isolation: 'per-user',
      startMode: 'lazy',
      credentials: [
        {
          name: 'API_KEY',
          label: 'API key',
          help: '',
          secret: true,
          required: true,
          inject: { into: 'header', name: 'X-Api-Key' },
        },
        { name: 'REGION', label: 'Region', help: '', secret: false, required: false, inject: null },
      ],
      oauth: {
        issuer: 'https://id.example.com',
        authorizationEndpoint: null,
        tokenEndpoint: null,
        revocationEndpoint: null,
        clientId: 'gatehouse',
        scopes: ['read', 'write', 'admin'],
        resource: null,
        inject: { into: 'header', name: 'Authorization' },
      },
      timeouts: { connectMs: 2500, callMs: 120_000 },
      limits: { maxConcurrentCalls: 4, maxInstances: 10 },
    });
    expect(McpConfig.safeParse(config).success).toBe(true);
  });

  it('injects the OAuth token into an env var for stdio, which must then be named', () => {
    const oauth = { ...emptyMcpForm().oauth, enabled: true, clientId: 'c', issuer: 'https://id.example.com' };
    const checked = createInputFromForm({ ...stdioForm, isolation: 'per-user', oauth });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(Object.keys(checked.fieldErrors)).toEqual(['config.oauth.inject.name']);
    const named = createInputFromForm({
      ...stdioForm,
      isolation: 'per-user',
      oauth: { ...oauth, injectName: 'TOKEN' },
    });
    expect(named.ok && named.input.config.oauth?.inject).toEqual({ into: 'env', name: 'TOKEN' });
  });

  it('reports schema problems under the server field keys', () => {
    const checked = createInputFromForm(form({ slug: 'Not A Slug', name: ' ', command: '' }));
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(Object.keys(checked.fieldErrors).sort()).toEqual(['config.connection.command', 'name', 'slug']);
    expect(checked.fieldErrors.slug).toEqual(['1 to 24 lowercase letters, digits or dashes']);
  });

  it('reports unreadable text fields and numbers, together with the schema problems', () => {
    const checked = createInputFromForm({
      ...stdioForm,
      name: '',
      env: 'oops',
      connectTimeoutSeconds: 'soon',
    });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.fieldErrors['config.connection.env']).toEqual(['line 1: expected NAME=value']);
    expect(checked.fieldErrors['config.timeouts.connectMs']).toEqual(['must be a number']);
    expect(checked.fieldErrors.name).toBeDefined();
  });

  it('checks numbers against the catalog bounds', () => {
    const checked = createInputFromForm({
      ...stdioForm,
      connectTimeoutSeconds: '0.5',
      maxConcurrentCalls: '1000',
    });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(Object.keys(checked.fieldErrors).sort()).toEqual([
      'config.limits.maxConcurrentCalls',
      'config.timeouts.connectMs',
    ]);
  });
});

describe('McpConfig → form → McpConfig', () => {
  const meta = { slug: 'fx', name: 'Fixture', description: 'Echoes', iconUrl: null, groupIds: [GROUP] };

  it('round-trips a stdio config without change', () => {
    const config = McpConfig.parse({
      connection: {
        transport: 'stdio',
        command: '/usr/bin/node',
        args: ['server.js', '--verbose'],
        env: { A: '1', TOKEN: '{{credential:TOKEN}}' },
        cwd: '/srv/mcp',
      },
      isolation: 'shared',
      startMode: 'eager',
      credentials: [{ name: 'TOKEN', label: 'Token', help: 'From the console' }],
      timeouts: { connectMs: 1500, callMs: 90_000 },
      limits: { maxConcurrentCalls: 3, maxInstances: 7 },
    });
    const values = formFromConfig(meta, config);
    expect(values).toMatchObject({
      slug: 'fx',
      transport: 'stdio',
      command: '/usr/bin/node',
      args: 'server.js\n--verbose',
      env: 'A=1\nTOKEN={{credential:TOKEN}}',
      cwd: '/srv/mcp',
      connectTimeoutSeconds: '1.5',
      groupIds: [GROUP],
    });
    expect(sameConfig(configFromForm(values).config, config)).toBe(true);
  });

  it('round-trips an HTTP config with OAuth without change', () => {
    const config = McpConfig.parse({
      connection: { transport: 'sse', url: 'https://a.example/sse', headers: { 'X-A': '1' } },
      isolation: 'per-user',
      credentials: [{ name: 'K', label: 'Key', inject: { into: 'header', name: 'X-Key' }, secret: false }],
      oauth: {
        clientId: 'c',
        tokenEndpoint: 'https://id.example/token',
        authorizationEndpoint: 'https://id.example/auth',
        scopes: ['a', 'b'],
      },
    });
    const values = formFromConfig(meta, config);
    expect(values.oauth.enabled).toBe(true);
    expect(values.oauth.scopes).toBe('a b');
    expect(values.headers).toBe('X-A: 1');
    expect(sameConfig(configFromForm(values).config, config)).toBe(true);
  });
});

describe('form → catalog.update input', () => {
  const config = McpConfig.parse({
    connection: { transport: 'stdio', command: 'node', args: ['server.js'] },
  });
  const current = { id: 'mcp_0123456789abcdef', name: 'Fixture', description: '', iconUrl: null, config };
  const values = formFromConfig({ ...current, slug: 'fx' }, config);

  it('sends nothing but the id when nothing changed', () => {
    const checked = updateInputFromForm(current, values);
    expect(checked).toEqual({ ok: true, input: { id: current.id }, configChanged: false });
    expect(checked.ok && changesSomething(checked.input)).toBe(false);
  });

  it('sends metadata alone when only the name changed, so no new version is made', () => {
    const checked = updateInputFromForm(current, { ...values, name: 'Fixture 2' });
    expect(checked).toEqual({ ok: true, input: { id: current.id, name: 'Fixture 2' }, configChanged: false });
  });

  it('sends the whole config when it changed', () => {
    const checked = updateInputFromForm(current, { ...values, args: 'server.js\n--debug' });
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(checked.configChanged).toBe(true);
    expect(checked.input.config?.connection).toMatchObject({ args: ['server.js', '--debug'] });
  });

  it('refuses a form that cannot be read even when the config would not change', () => {
    const checked = updateInputFromForm(current, { ...values, command: '' });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(Object.keys(checked.fieldErrors)).toEqual(['config.connection.command']);
  });
});

describe('errors next to the right control', () => {
  const errors = {
    slug: ['is already taken'],
    'config.connection.args.2': ['credentials must not appear on the command line'],
    'config.connection.env.API_TOKEN': ['looks like a secret but is a literal value'],
    'config.connection.env': ['at most 64 entries'],
    'config.timeouts': ['odd'],
    'groupIds.0': ['group "grp_x" does not exist'],
    _: ['The configuration would expose a secret'],
  };

  it('collects the messages for a control and those below it, saying where', () => {
    expect(errorsAt(errors, 'slug')).toEqual(['is already taken']);
    expect(errorsAt(errors, 'config.connection.args', argumentLine)).toEqual([
      'line 3: credentials must not appear on the command line',
    ]);
    expect(errorsAt(errors, 'config.connection.env')).toEqual([
      'at most 64 entries',
      'API_TOKEN: looks like a secret but is a literal value',
    ]);
    expect(errorsAt(errors, 'config.connection.cwd')).toBeUndefined();
    expect(errorsAt(undefined, 'slug')).toBeUndefined();
  });

  it('does not confuse a key with a longer one that shares its start', () => {
    expect(errorsAt({ 'config.connection.envelope': ['x'] }, 'config.connection.env')).toBeUndefined();
  });

  it('lists what no control claims, with a readable place', () => {
    expect(
      unclaimedErrors(errors, ['slug', 'config.connection.args', 'config.connection.env', 'groupIds']),
    ).toEqual(['Timeouts: odd', 'The configuration would expose a secret']);
  });
});

describe('readable config paths', () => {
  it('names what validation reports', () => {
    expect(describeConfigPath('connection.command')).toBe('Command');
    expect(describeConfigPath('connection.args.0')).toBe('Arguments, line 1');
    expect(describeConfigPath('connection.env.API_KEY')).toBe('Environment, API_KEY');
    expect(describeConfigPath('connection.headers.Authorization')).toBe('Headers, Authorization');
    expect(describeConfigPath('credentials.1')).toBe('Credential field 2');
    expect(describeConfigPath('credentials.0.inject')).toBe('Credential field 1, injection');
    expect(describeConfigPath('oauth')).toBe('OAuth');
    expect(describeConfigPath('oauth.inject')).toBe('OAuth token injection');
    expect(describeConfigPath('oauth.inject.name')).toBe('OAuth token injection, name');
    expect(describeConfigPath('something.else')).toBe('something.else');
    expect(describeConfigPath('')).toBe('Configuration');
  });

  it('names create and import input keys', () => {
    expect(describeInputPath('config.connection.url')).toBe('URL');
    expect(describeInputPath('document.mcpServers')).toBe('Document, mcpServers');
    expect(describeInputPath('groupIds.1')).toBe('Groups, 1');
    expect(describeInputPath('name')).toBe('Name');
    expect(describeInputPath('weird')).toBe('weird');
  });
});

describe('schema messages', () => {
  it('says a missing text is required instead of quoting zod', () => {
    const checked = createInputFromForm(form({ slug: 'fx', name: '', command: '' }));
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.fieldErrors.name).toEqual(['is required']);
    expect(checked.fieldErrors['config.connection.command']).toEqual(['is required']);
    expect(readableIssue({ path: [], message: 'Too big', code: 'too_big', origin: 'string' })).toBe(
      'Too big',
    );
  });
});
