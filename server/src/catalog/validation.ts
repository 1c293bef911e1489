import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import type { McpConfig, ValidationProblem } from '@gatehouse/schema';
import { deniedEnvProblems } from '../runtime/env-policy.js';
import { referencedCredentials } from '../runtime/templating.js';

/** Names that carry secrets by convention; their values must come from credential fields, never literals. */
const SECRET_ENV_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY|ACCESS_KEY)/i;
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'api-key']);
const LITERAL_SECRET =
  'looks like a secret but is a literal value, which every admin and auditor can read: define a credential field and reference it as {{credential:NAME}}';

const COMMAND_LINE_SECRET =
  'credentials must not appear on the command line, where any local user can read them with ps; pass them through env';

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const info = await stat(file);
    if (!info.isFile()) return false;
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where `command` resolves: absolute paths as given, bare names through PATH, like a shell would (but without one). */
async function commandProblem(command: string, searchPath: string): Promise<string | null> {
  if (path.isAbsolute(command)) {
    return (await isExecutableFile(command))
      ? null
      : `"${command}" does not exist or is not an executable file`;
  }
  if (command.includes('/') || command.includes('\\')) {
    return 'must be an absolute path or a command name found on PATH';
  }
  for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
    if (await isExecutableFile(path.join(dir, command))) return null;
  }
  return `command "${command}" was not found on PATH`;
}

/**
 * Where secrets must never be: on the command line (`ps` shows it), in the URL (logs show it), or as literal
 * values in secret-looking env vars and auth headers (every admin and auditor can read a config). Checked
 * when a config is written, so such a config is never stored, and again by `validate`. Environment names
 * that change how the program runs are refused here too (`deniedEnvProblems`).
 */
export function secretPlacementProblems(config: McpConfig): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const problem = (at: string, message: string) => problems.push({ path: at, message });
  const { connection } = config;
  const isLiteral = (value: string) => value !== '' && referencedCredentials(value).length === 0;
  problems.push(...deniedEnvProblems(config));
  if (connection.transport === 'stdio') {
    if (referencedCredentials(connection.command).length > 0)
      problem('connection.command', COMMAND_LINE_SECRET);
    connection.args.forEach((arg, index) => {
      if (referencedCredentials(arg).length > 0) problem(`connection.args.${index}`, COMMAND_LINE_SECRET);
    });
    for (const [name, value] of Object.entries(connection.env)) {
      if (SECRET_ENV_NAME.test(name) && isLiteral(value)) problem(`connection.env.${name}`, LITERAL_SECRET);
    }
  } else {
    if (referencedCredentials(connection.url).length > 0) {
      problem(
        'connection.url',
        'credentials must not appear in the URL, which ends up in logs; use a header',
      );
    }
    if (URL.canParse(connection.url)) {
      const url = new URL(connection.url);
      if (url.username || url.password) {
        problem(
          'connection.url',
          'must not contain credentials; use a credential field injected as a header',
        );
      }
    }
    for (const [name, value] of Object.entries(connection.headers)) {
      if (SECRET_HEADERS.has(name.toLowerCase()) && isLiteral(value)) {
        problem(`connection.headers.${name}`, LITERAL_SECRET);
      }
    }
  }
  return problems;
}

/**
 * Checks a config beyond its shape: secrets are placed safely, the command resolves, the URL is http(s),
 * every `{{credential:NAME}}` names a field, injections fit the transport and do not collide, and every field
 * is used. Returns every problem with its path; an empty list means valid.
 */
export async function validateConfig(
  config: McpConfig,
  searchPath: string = process.env.PATH ?? '',
): Promise<ValidationProblem[]> {
  const problems: ValidationProblem[] = secretPlacementProblems(config);
  const problem = (at: string, message: string) => problems.push({ path: at, message });
  const { connection, credentials } = config;
  const fieldNames = new Set<string>();
  const used = new Set<string>();
  const injected = new Map<string, string>();

  credentials.forEach((field, index) => {
    if (fieldNames.has(field.name))
      problem(`credentials.${index}.name`, `duplicate credential name "${field.name}"`);
    fieldNames.add(field.name);
    if (!field.inject) return;
    used.add(field.name);
    const wanted = connection.transport === 'stdio' ? 'env' : 'header';
    if (field.inject.into !== wanted) {
      problem(
        `credentials.${index}.inject`,
        `a ${connection.transport} MCP receives credentials as ${wanted === 'env' ? 'environment variables' : 'headers'}`,
      );
    }
    const target = field.inject.into === 'header' ? field.inject.name.toLowerCase() : field.inject.name;
    const other = injected.get(target);
    if (other)
      problem(`credentials.${index}.inject`, `"${field.inject.name}" is already injected by "${other}"`);
    injected.set(target, field.name);
  });

  if (config.oauth) {
    const { oauth } = config;
    if (config.isolation !== 'per-user') {
      problem('oauth', "OAuth connects each user's own account, so the MCP must run per user");
    }
    const wanted = connection.transport === 'stdio' ? 'env' : 'header';
    if (oauth.inject.into !== wanted) {
      problem(
        'oauth.inject',
        `a ${connection.transport} MCP receives the access token as ${wanted === 'env' ? 'an environment variable' : 'a header'}`,
      );
    }
    const target = oauth.inject.into === 'header' ? oauth.inject.name.toLowerCase() : oauth.inject.name;
    if (injected.has(target))
      problem('oauth.inject', `"${oauth.inject.name}" is already injected by "${injected.get(target)}"`);
    const explicit = oauth.authorizationEndpoint !== null && oauth.tokenEndpoint !== null;
    if (!explicit && !oauth.issuer && connection.transport === 'stdio') {
      problem('oauth', 'give the authorization and token endpoints, or an issuer to discover them from');
    }
  }

  const checkReferences = (at: string, value: string) => {
    for (const name of referencedCredentials(value)) {
      used.add(name);
      if (!fieldNames.has(name)) problem(at, `references unknown credential "${name}"`);
    }
  };

  if (connection.transport === 'stdio') {
    if (referencedCredentials(connection.command).length === 0) {
      const commandIssue = await commandProblem(connection.command, connection.env.PATH ?? searchPath);
      if (commandIssue) problem('connection.command', commandIssue);
    }
    for (const [name, value] of Object.entries(connection.env)) {
      checkReferences(`connection.env.${name}`, value);
      if (injected.has(name))
        problem(`connection.env.${name}`, `is also injected by credential "${injected.get(name)}"`);
    }
    if (connection.cwd !== null) {
      const isDirectory = await stat(connection.cwd).then(
        (info) => info.isDirectory(),
        () => false,
      );
      if (!path.isAbsolute(connection.cwd)) problem('connection.cwd', 'must be an absolute path');
      else if (!isDirectory) problem('connection.cwd', `"${connection.cwd}" is not an existing directory`);
    }
  } else {
    if (!URL.canParse(connection.url)) problem('connection.url', 'is not a valid URL');
    else {
      const { protocol } = new URL(connection.url);
      if (protocol !== 'http:' && protocol !== 'https:') problem('connection.url', 'must use http or https');
    }
    for (const [name, value] of Object.entries(connection.headers)) {
      checkReferences(`connection.headers.${name}`, value);
      if (injected.has(name.toLowerCase())) {
        problem(
          `connection.headers.${name}`,
          `is also injected by credential "${injected.get(name.toLowerCase())}"`,
        );
      }
    }
  }

  credentials.forEach((field, index) => {
    if (!used.has(field.name)) {
      problem(`credentials.${index}`, `credential "${field.name}" is never used: inject it or reference it`);
    }
  });
  return problems;
}
