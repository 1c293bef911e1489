import type { McpConfig } from '@gatehouse/schema';

/** The vault field holding a user's OAuth access token; not a valid credential name, so it never collides. */
export const OAUTH_ACCESS_TOKEN = 'oauth:access_token';

const CREDENTIAL_REFERENCE = /\{\{credential:([A-Za-z0-9_]+)\}\}/g;

/** Names referenced as `{{credential:NAME}}` in one configured value. */
export const referencedCredentials = (value: string): string[] =>
  [...value.matchAll(CREDENTIAL_REFERENCE)].map((match) => match[1] ?? '');

/** Replaces every reference; unknown or unset names become empty so a literal placeholder never leaks out. */
export const resolveTemplate = (value: string, credentials: Readonly<Record<string, string>>): string =>
  value.replace(CREDENTIAL_REFERENCE, (_, name: string) => credentials[name] ?? '');

const resolveAll = (values: Record<string, string>, credentials: Readonly<Record<string, string>>) =>
  Object.fromEntries(
    Object.entries(values).map(([key, value]) => [key, resolveTemplate(value, credentials)]),
  );

/** Variables a stdio downstream inherits from Gatehouse; nothing else of our environment reaches it. */
const INHERITED_ENV = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMPDIR',
  'USER',
  'LOGNAME',
  'TERM',
];

export interface ResolvedLaunch {
  env: Record<string, string>;
  headers: Record<string, string>;
}

/**
 * The environment (stdio) or headers (HTTP) for one start: the allow-listed parent variables, the MCP's own
 * values with credential references filled in, then credentials injected directly as env vars or headers.
 */
export function resolveLaunch(
  config: Pick<McpConfig, 'connection' | 'credentials' | 'oauth'>,
  credentials: Readonly<Record<string, string>>,
  parentEnv: NodeJS.ProcessEnv = process.env,
): ResolvedLaunch {
  const { connection } = config;
  const injected = { env: {} as Record<string, string>, headers: {} as Record<string, string> };
  for (const field of config.credentials) {
    const value = credentials[field.name];
    if (field.inject && value !== undefined) {
      injected[field.inject.into === 'env' ? 'env' : 'headers'][field.inject.name] = value;
    }
  }
  const accessToken = credentials[OAUTH_ACCESS_TOKEN];
  if (config.oauth && accessToken !== undefined) {
    const { inject } = config.oauth;
    if (inject.into === 'env') injected.env[inject.name] = accessToken;
    else
      injected.headers[inject.name] =
        inject.name.toLowerCase() === 'authorization' ? `Bearer ${accessToken}` : accessToken;
  }
  if (connection.transport === 'stdio') {
    const inherited: Record<string, string> = {};
    for (const name of INHERITED_ENV) {
      const value = parentEnv[name];
      if (value !== undefined) inherited[name] = value;
    }
    return {
      env: { ...inherited, ...resolveAll(connection.env, credentials), ...injected.env },
      headers: {},
    };
  }
  return { env: {}, headers: { ...resolveAll(connection.headers, credentials), ...injected.headers } };
}
