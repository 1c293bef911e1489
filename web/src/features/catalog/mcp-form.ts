import {
  CreateMcpInput,
  deniedEnvFamily,
  deniedEnvMessage,
  type FieldErrors,
  McpConfig,
  type McpConfigInput,
  type McpIsolation,
  type McpTransport,
  UpdateMcpInput,
} from '@gatehouse/schema';
import type { AppError } from '../../lib/errors.js';

/**
 * The MCP form as the user edits it (text for lists, maps and numbers) and its conversion to and from the
 * catalog's `McpConfig`. Errors use the server's field keys (`config.connection.command`), so the form shows
 * local and server problems next to the same controls.
 */

export type InjectInto = 'none' | 'env' | 'header';

export interface CredentialFieldValues {
  name: string;
  label: string;
  help: string;
  secret: boolean;
  required: boolean;
  inject: InjectInto;
  injectName: string;
}

export interface OAuthValues {
  enabled: boolean;
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  revocationEndpoint: string;
  clientId: string;
  /** Separated by spaces, commas or line breaks. */
  scopes: string;
  resource: string;
  /** The env var (stdio) or header (HTTP) that receives the access token; a header defaults to Authorization. */
  injectName: string;
}

export interface McpFormValues {
  slug: string;
  name: string;
  description: string;
  iconUrl: string;
  transport: McpTransport;
  command: string;
  /** One argument per line. */
  args: string;
  /** `NAME=value` per line. */
  env: string;
  cwd: string;
  url: string;
  /** `Name: value` per line. */
  headers: string;
  isolation: McpIsolation;
  startMode: 'lazy' | 'eager';
  credentials: CredentialFieldValues[];
  oauth: OAuthValues;
  /** Blank means the catalog's default. */
  connectTimeoutSeconds: string;
  callTimeoutSeconds: string;
  maxConcurrentCalls: string;
  maxInstances: string;
  groupIds: string[];
}

/** Where each form control's errors are keyed, as the server reports them. */
export const fieldKeys = {
  slug: 'slug',
  name: 'name',
  description: 'description',
  iconUrl: 'iconUrl',
  transport: 'config.connection.transport',
  command: 'config.connection.command',
  args: 'config.connection.args',
  env: 'config.connection.env',
  cwd: 'config.connection.cwd',
  url: 'config.connection.url',
  headers: 'config.connection.headers',
  isolation: 'config.isolation',
  startMode: 'config.startMode',
  credentials: 'config.credentials',
  oauth: 'config.oauth',
  connectTimeout: 'config.timeouts.connectMs',
  callTimeout: 'config.timeouts.callMs',
  maxConcurrentCalls: 'config.limits.maxConcurrentCalls',
  maxInstances: 'config.limits.maxInstances',
  groupIds: 'groupIds',
} as const;

export const credentialKey = (index: number, field?: string) =>
  `${fieldKeys.credentials}.${index}${field ? `.${field}` : ''}`;
export const oauthKey = (field: string) => `${fieldKeys.oauth}.${field}`;

export function emptyCredentialField(): CredentialFieldValues {
  return { name: '', label: '', help: '', secret: true, required: true, inject: 'none', injectName: '' };
}

function emptyOAuth(): OAuthValues {
  return {
    enabled: false,
    issuer: '',
    authorizationEndpoint: '',
    tokenEndpoint: '',
    revocationEndpoint: '',
    clientId: '',
    scopes: '',
    resource: '',
    injectName: '',
  };
}

export function emptyMcpForm(): McpFormValues {
  return {
    slug: '',
    name: '',
    description: '',
    iconUrl: '',
    transport: 'stdio',
    command: '',
    args: '',
    env: '',
    cwd: '',
    url: '',
    headers: '',
    isolation: 'shared',
    startMode: 'lazy',
    credentials: [],
    oauth: emptyOAuth(),
    connectTimeoutSeconds: '',
    callTimeoutSeconds: '',
    maxConcurrentCalls: '',
    maxInstances: '',
    groupIds: [],
  };
}

const lines = (text: string) => text.replace(/\r\n?/g, '\n').split('\n');

/** One argument per line; blank lines are skipped and surrounding spaces dropped. */
export function parseArgs(text: string): string[] {
  return lines(text)
    .map((arg) => arg.trim())
    .filter((arg) => arg !== '');
}

export function formatArgs(args: readonly string[]): string {
  return args.join('\n');
}

/**
 * `NAME=value` (env) or `Name: value` (headers, `=` accepted too) per line. Blank lines and `#` comments are
 * skipped. Env values are kept exactly; header values lose surrounding spaces, as HTTP ignores them.
 */
export function parseKeyValues(
  text: string,
  kind: 'env' | 'header',
): { values: Record<string, string>; problems: string[] } {
  const values: Record<string, string> = {};
  const seen = new Map<string, number>();
  const problems: string[] = [];
  lines(text).forEach((raw, index) => {
    const where = `line ${index + 1}`;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    const separator =
      kind === 'env'
        ? raw.indexOf('=')
        : Math.min(...[raw.indexOf(':'), raw.indexOf('=')].filter((at) => at >= 0), Number.MAX_SAFE_INTEGER);
    const key = separator >= 0 && separator < raw.length ? raw.slice(0, separator).trim() : '';
    if (!key) {
      problems.push(`${where}: expected ${kind === 'env' ? 'NAME=value' : 'Name: value'}`);
      return;
    }
    const value = raw.slice(separator + 1);
    const identity = kind === 'header' ? key.toLowerCase() : key;
    const earlier = seen.get(identity);
    if (earlier !== undefined) {
      problems.push(`${where}: ${key} is already set on line ${earlier}`);
      return;
    }
    seen.set(identity, index + 1);
    const denied = kind === 'env' ? deniedEnvFamily(key) : null;
    if (denied) problems.push(`${where}: ${deniedEnvMessage(key, denied)}`);
    values[key] = kind === 'header' ? value.trim() : value;
  });
  return { values, problems };
}

export function formatKeyValues(values: Readonly<Record<string, string>>, kind: 'env' | 'header'): string {
  return Object.entries(values)
    .map(([key, value]) => (kind === 'env' ? `${key}=${value}` : `${key}: ${value}`))
    .join('\n');
}

const blankToNull = (text: string) => (text.trim() === '' ? null : text.trim());

/** Seconds (or a count) as typed; blank leaves the catalog default. */
function parseNumber(text: string, key: string, problems: FieldErrors, scale = 1): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const value = Number(trimmed);
  if (!Number.isFinite(value)) {
    problems[key] = [...(problems[key] ?? []), 'must be a number'];
    return undefined;
  }
  return Math.round(value * scale);
}

/** The config the form describes, and the problems found while reading its text fields. */
export function configFromForm(values: McpFormValues): { config: McpConfigInput; problems: FieldErrors } {
  const problems: FieldErrors = {};
  const { transport } = values;
  const stdio = transport === 'stdio';
  let connection: McpConfigInput['connection'];
  if (transport === 'stdio') {
    const env = parseKeyValues(values.env, 'env');
    if (env.problems.length > 0) problems[fieldKeys.env] = env.problems;
    connection = {
      transport: 'stdio',
      command: values.command,
      args: parseArgs(values.args),
      env: env.values,
      cwd: blankToNull(values.cwd),
    };
  } else {
    const headers = parseKeyValues(values.headers, 'header');
    if (headers.problems.length > 0) problems[fieldKeys.headers] = headers.problems;
    connection = { transport, url: values.url.trim(), headers: headers.values };
  }

  const connectMs = parseNumber(values.connectTimeoutSeconds, fieldKeys.connectTimeout, problems, 1000);
  const callMs = parseNumber(values.callTimeoutSeconds, fieldKeys.callTimeout, problems, 1000);
  const maxConcurrentCalls = parseNumber(values.maxConcurrentCalls, fieldKeys.maxConcurrentCalls, problems);
  const maxInstances = parseNumber(values.maxInstances, fieldKeys.maxInstances, problems);

  const { oauth } = values;
  const tokenInto = stdio ? 'env' : 'header';
  const config: McpConfigInput = {
    connection,
    isolation: values.isolation,
    startMode: values.startMode,
    credentials: values.credentials.map((field) => ({
      name: field.name,
      label: field.label,
      help: field.help,
      secret: field.secret,
      required: field.required,
      inject: field.inject === 'none' ? null : { into: field.inject, name: field.injectName.trim() },
    })),
    oauth: oauth.enabled
      ? {
          issuer: blankToNull(oauth.issuer),
          authorizationEndpoint: blankToNull(oauth.authorizationEndpoint),
          tokenEndpoint: blankToNull(oauth.tokenEndpoint),
          revocationEndpoint: blankToNull(oauth.revocationEndpoint),
          clientId: oauth.clientId,
          scopes: oauth.scopes.split(/[\s,]+/).filter(Boolean),
          resource: blankToNull(oauth.resource),
          inject:
            tokenInto === 'env'
              ? { into: 'env', name: oauth.injectName.trim() }
              : { into: 'header', name: oauth.injectName.trim() || 'Authorization' },
        }
      : null,
    timeouts: { connectMs, callMs },
    limits: { maxConcurrentCalls, maxInstances },
  };
  // The same denylist the server enforces (schema/src/env-denylist.ts), shown before saving.
  const deniedTarget = (key: string, inject: { into: string; name?: string } | null | undefined) => {
    const name = inject?.into === 'env' ? (inject.name ?? '') : '';
    const family = deniedEnvFamily(name);
    if (family) problems[key] = [...(problems[key] ?? []), deniedEnvMessage(name, family)];
  };
  config.credentials?.forEach((field, index) => {
    deniedTarget(credentialKey(index, 'inject'), field.inject);
  });
  deniedTarget(oauthKey('inject'), config.oauth?.inject);
  return { config, problems };
}

/** The form showing an existing MCP's metadata and one of its config versions. */
export function formFromConfig(
  meta: { slug: string; name: string; description: string; iconUrl: string | null; groupIds?: string[] },
  config: McpConfig,
): McpFormValues {
  const { connection, oauth } = config;
  return {
    slug: meta.slug,
    name: meta.name,
    description: meta.description,
    iconUrl: meta.iconUrl ?? '',
    transport: connection.transport,
    command: connection.transport === 'stdio' ? connection.command : '',
    args: connection.transport === 'stdio' ? formatArgs(connection.args) : '',
    env: connection.transport === 'stdio' ? formatKeyValues(connection.env, 'env') : '',
    cwd: connection.transport === 'stdio' ? (connection.cwd ?? '') : '',
    url: connection.transport === 'stdio' ? '' : connection.url,
    headers: connection.transport === 'stdio' ? '' : formatKeyValues(connection.headers, 'header'),
    isolation: config.isolation,
    startMode: config.startMode,
    credentials: config.credentials.map((field) => ({
      name: field.name,
      label: field.label,
      help: field.help,
      secret: field.secret,
      required: field.required,
      inject: field.inject?.into ?? 'none',
      injectName: field.inject?.name ?? '',
    })),
    oauth: oauth
      ? {
          enabled: true,
          issuer: oauth.issuer ?? '',
          authorizationEndpoint: oauth.authorizationEndpoint ?? '',
          tokenEndpoint: oauth.tokenEndpoint ?? '',
          revocationEndpoint: oauth.revocationEndpoint ?? '',
          clientId: oauth.clientId,
          scopes: oauth.scopes.join(' '),
          resource: oauth.resource ?? '',
          injectName: oauth.inject.name,
        }
      : emptyOAuth(),
    connectTimeoutSeconds: String(config.timeouts.connectMs / 1000),
    callTimeoutSeconds: String(config.timeouts.callMs / 1000),
    maxConcurrentCalls: String(config.limits.maxConcurrentCalls),
    maxInstances: String(config.limits.maxInstances),
    groupIds: [...(meta.groupIds ?? [])],
  };
}

type Checked<T> = { ok: true; input: T } | { ok: false; fieldErrors: FieldErrors };

interface SchemaIssue {
  path: readonly PropertyKey[];
  message: string;
  code?: string;
  origin?: string;
  minimum?: number | bigint;
}

/** zod's "Too small: expected string to have >=1 characters" is, for a form, simply a missing value. */
export function readableIssue(issue: SchemaIssue): string {
  if (issue.code === 'too_small' && issue.origin === 'string' && Number(issue.minimum) === 1)
    return 'is required';
  return issue.message;
}

/** A zod result's issues in the server's shape: keyed by dotted path, `_` for the input as a whole. */
function issuesToFieldErrors(issues: readonly SchemaIssue[], into: FieldErrors = {}): FieldErrors {
  for (const issue of issues) {
    const key = issue.path.map(String).join('.') || '_';
    into[key] = [...(into[key] ?? []), readableIssue(issue)];
  }
  return into;
}

/** The `catalog.create` input, checked with the server's own schema. */
export function createInputFromForm(values: McpFormValues): Checked<CreateMcpInput> {
  const { config, problems } = configFromForm(values);
  const parsed = CreateMcpInput.safeParse({
    slug: values.slug,
    name: values.name,
    description: values.description,
    iconUrl: blankToNull(values.iconUrl),
    config,
    groupIds: values.groupIds,
  });
  // The text fields' own problems are more precise than what the schema says about what came out of them.
  if (Object.keys(problems).length > 0) {
    return {
      ok: false,
      fieldErrors: parsed.success ? problems : issuesToFieldErrors(parsed.error.issues, problems),
    };
  }
  return parsed.success
    ? { ok: true, input: parsed.data }
    : { ok: false, fieldErrors: issuesToFieldErrors(parsed.error.issues) };
}

/** JSON with keys sorted at every depth, so equal configs compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(
          Object.entries(item as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : item,
  );
}

/** Whether two configs mean the same once the catalog's defaults are applied. */
export function sameConfig(a: McpConfigInput, b: McpConfigInput): boolean {
  const left = McpConfig.safeParse(a);
  const right = McpConfig.safeParse(b);
  if (!left.success || !right.success) return false;
  return canonical(left.data) === canonical(right.data);
}

/**
 * The `catalog.update` input: only what changed. The config is sent (and so a new version made) only when it
 * differs from the version being edited.
 */
export function updateInputFromForm(
  current: { id: string; name: string; description: string; iconUrl: string | null; config: McpConfig },
  values: McpFormValues,
): Checked<UpdateMcpInput> & { configChanged?: boolean } {
  const { config, problems } = configFromForm(values);
  const configChanged = !sameConfig(config, current.config);
  const iconUrl = blankToNull(values.iconUrl);
  const input = {
    id: current.id,
    ...(values.name.trim() !== current.name && { name: values.name }),
    ...(values.description.trim() !== current.description && { description: values.description }),
    ...(iconUrl !== current.iconUrl && { iconUrl }),
    ...(configChanged && { config }),
  };
  // The whole config is checked even when unchanged, so a form that cannot be read never passes quietly.
  const parsed = UpdateMcpInput.safeParse({ ...input, config });
  if (Object.keys(problems).length > 0 || !parsed.success) {
    return {
      ok: false,
      fieldErrors: parsed.success ? problems : issuesToFieldErrors(parsed.error.issues, problems),
    };
  }
  const { config: parsedConfig, ...rest } = parsed.data;
  return { ok: true, input: configChanged ? { ...rest, config: parsedConfig } : rest, configChanged };
}

/** Whether an update input changes anything at all. */
export const changesSomething = (input: UpdateMcpInput) => Object.keys(input).some((key) => key !== 'id');

/**
 * The messages for one control: those keyed exactly, and those keyed below it, told where (`line 3` for an
 * argument, the variable's name for an env entry).
 */
export function errorsAt(
  errors: FieldErrors | undefined,
  key: string,
  where: (rest: string) => string = (rest) => rest,
): string[] | undefined {
  if (!errors) return undefined;
  const messages: string[] = [...(errors[key] ?? [])];
  for (const [candidate, list] of Object.entries(errors)) {
    if (!candidate.startsWith(`${key}.`)) continue;
    const rest = candidate.slice(key.length + 1);
    for (const message of list) messages.push(`${where(rest)}: ${message}`);
  }
  return messages.length > 0 ? messages : undefined;
}

/** `config.connection.args.2` is the third line of the Arguments box. */
export const argumentLine = (rest: string) => {
  const index = Number(rest.split('.')[0]);
  return Number.isInteger(index) ? `line ${index + 1}` : rest;
};

/** Errors no control of the form claims (shown in a list under the form), as "where: message". */
export function unclaimedErrors(errors: FieldErrors | undefined, claimed: readonly string[]): string[] {
  if (!errors) return [];
  const result: string[] = [];
  for (const [key, messages] of Object.entries(errors)) {
    if (key === '_' || claimed.some((prefix) => key === prefix || key.startsWith(`${prefix}.`))) continue;
    for (const message of messages) result.push(`${describeInputPath(key)}: ${message}`);
  }
  for (const message of errors._ ?? []) result.push(message);
  return result;
}

const configLabels: Record<string, string> = {
  connection: 'Connection',
  'connection.transport': 'Transport',
  'connection.command': 'Command',
  'connection.args': 'Arguments',
  'connection.env': 'Environment',
  'connection.cwd': 'Working directory',
  'connection.url': 'URL',
  'connection.headers': 'Headers',
  isolation: 'Isolation',
  startMode: 'Start mode',
  credentials: 'Credential fields',
  oauth: 'OAuth',
  'oauth.issuer': 'OAuth issuer',
  'oauth.authorizationEndpoint': 'OAuth authorization endpoint',
  'oauth.tokenEndpoint': 'OAuth token endpoint',
  'oauth.revocationEndpoint': 'OAuth revocation endpoint',
  'oauth.clientId': 'OAuth client ID',
  'oauth.scopes': 'OAuth scopes',
  'oauth.resource': 'OAuth resource indicator',
  'oauth.inject': 'OAuth token injection',
  timeouts: 'Timeouts',
  'timeouts.connectMs': 'Connect timeout',
  'timeouts.callMs': 'Call timeout',
  limits: 'Limits',
  'limits.maxConcurrentCalls': 'Concurrent calls limit',
  'limits.maxInstances': 'Instance limit',
};

const credentialPartLabels: Record<string, string> = {
  name: 'key',
  label: 'label',
  help: 'help text',
  inject: 'injection',
  'inject.name': 'injected variable or header',
  'inject.into': 'injection',
};

/**
 * A readable place for a config path as `catalog.validate` reports it (relative to the config):
 * `connection.env.API_KEY` → "Environment, API_KEY"; `credentials.1.inject` → "Credential field 2, injection".
 */
export function describeConfigPath(path: string): string {
  if (path === '') return 'Configuration';
  const credential = /^credentials\.(\d+)(?:\.(.+))?$/.exec(path);
  if (credential) {
    const part = credential[2];
    const label = `Credential field ${Number(credential[1]) + 1}`;
    return part ? `${label}, ${credentialPartLabels[part] ?? part}` : label;
  }
  const args = /^connection\.args\.(\d+)$/.exec(path);
  if (args) return `Arguments, line ${Number(args[1]) + 1}`;
  const entry = /^connection\.(env|headers)\.(.+)$/.exec(path);
  if (entry) return `${entry[1] === 'env' ? 'Environment' : 'Headers'}, ${entry[2]}`;
  const scope = /^oauth\.scopes\.(\d+)$/.exec(path);
  if (scope) return `OAuth scopes, scope ${Number(scope[1]) + 1}`;
  if (configLabels[path]) return configLabels[path];
  // Unknown depth: name the closest known parent, then the rest as given.
  const parts = path.split('.');
  for (let size = parts.length - 1; size > 0; size--) {
    const known = configLabels[parts.slice(0, size).join('.')];
    if (known) return `${known}, ${parts.slice(size).join('.')}`;
  }
  return path;
}

/** A readable place for a key of a create, update or import input (`config.…` paths are described as above). */
export function describeInputPath(key: string): string {
  if (key.startsWith('config.')) return describeConfigPath(key.slice('config.'.length));
  if (key === 'config') return 'Configuration';
  const simple: Record<string, string> = {
    slug: 'Slug',
    name: 'Name',
    description: 'Description',
    iconUrl: 'Icon',
    groupIds: 'Groups',
    document: 'Document',
  };
  const [head = key] = key.split('.');
  const label = simple[head];
  if (!label) return key;
  return key === head ? label : `${label}, ${key.slice(head.length + 1)}`;
}

/** A local validation failure in the server's shape, so one code path shows both. */
export const invalidForm = (fieldErrors: FieldErrors): AppError => ({
  code: 'VALIDATION_FAILED',
  message: 'Some fields are invalid',
  fieldErrors,
});
