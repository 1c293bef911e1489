import {
  credentialDeniedEnv,
  deniedEnvFamily,
  deniedEnvMessage,
  type McpConfig,
  type ValidationProblem,
} from '@gatehouse/schema';
import { DomainError } from '../platform/errors.js';
import { referencedCredentials } from './templating.js';

const CREDENTIAL_INTO_DENIED =
  "must not receive a user's credential: whoever sets it chooses which program runs for each command, " +
  "or where the downstream's traffic goes and which certificates it trusts";

/**
 * Environment names a config must not set (see `DENIED_ENV_RULES` in `schema/`): literal `connection.env`
 * entries, credential injection targets and the OAuth token's target. Checked when a config is written and
 * again before every spawn, so a config stored before a name was denied never runs with it.
 */
export function deniedEnvProblems(config: Pick<McpConfig, 'connection' | 'credentials' | 'oauth'>) {
  const problems: ValidationProblem[] = [];
  const check = (at: string, name: string, fromCredential: boolean) => {
    const family = deniedEnvFamily(name);
    if (family) problems.push({ path: at, message: deniedEnvMessage(name, family) });
    else if (fromCredential && credentialDeniedEnv(name))
      problems.push({ path: at, message: CREDENTIAL_INTO_DENIED });
  };
  if (config.connection.transport === 'stdio') {
    for (const [name, value] of Object.entries(config.connection.env)) {
      check(`connection.env.${name}`, name, referencedCredentials(value).length > 0);
    }
  }
  config.credentials.forEach((field, index) => {
    if (field.inject?.into === 'env') check(`credentials.${index}.inject`, field.inject.name, true);
  });
  if (config.oauth?.inject.into === 'env') check('oauth.inject', config.oauth.inject.name, true);
  return problems;
}

/** Defence in depth at spawn: a stored config that sets a denied name is refused before any process starts. */
export function assertLaunchEnvAllowed(
  slug: string,
  config: Pick<McpConfig, 'connection' | 'credentials' | 'oauth'>,
): void {
  const problems = deniedEnvProblems(config);
  if (problems.length === 0) return;
  throw new DomainError(
    'PRECONDITION_FAILED',
    `MCP "${slug}" was not started: its configuration sets an environment variable Gatehouse refuses ` +
      `(${problems.map((problem) => problem.path).join(', ')}); an admin must change it`,
  );
}
