/**
 * Environment variables that change how a downstream program is loaded or run: whoever sets one can make the
 * process execute code of their choosing (a preloaded library, an interpreter option, a startup file). An
 * admin's config must not set them, and a user's credential must never become one. The one list, read by
 * the server (validation on write, and again at spawn for configs stored earlier) and by the portal's form.
 *
 * Names are compared case-insensitively: some platforms and tools (npm's `npm_config_*`) read either case.
 */
export interface DeniedEnvRule {
  /** An exact name, or a prefix when it ends with `*`. */
  readonly pattern: string;
  readonly family: DeniedEnvFamily;
}

export type DeniedEnvFamily =
  | 'dynamic linker'
  | 'Node.js'
  | 'Python'
  | 'Perl'
  | 'Ruby'
  | 'shell'
  | 'JVM'
  | 'package manager'
  | 'Git'
  | 'helper program'
  | 'library loading';

const rule = (family: DeniedEnvFamily, ...patterns: string[]): DeniedEnvRule[] =>
  patterns.map((pattern) => ({ pattern, family }));

export const DENIED_ENV_RULES: readonly DeniedEnvRule[] = [
  ...rule('dynamic linker', 'LD_*', 'DYLD_*', '_RLD*'),
  ...rule('Node.js', 'NODE_OPTIONS', 'NODE_PATH', 'NODE_REPL_EXTERNAL_MODULE'),
  // Every PYTHON* variable except the few that only tune output and hashing (see PYTHON_ALLOWED).
  ...rule('Python', 'PYTHON*'),
  ...rule('Perl', 'PERL5OPT', 'PERL5LIB', 'PERLLIB', 'PERL5DB'),
  ...rule('Ruby', 'RUBYOPT', 'RUBYLIB', 'RUBYSHELL'),
  ...rule('shell', 'BASH_ENV', 'ENV', 'BASH_FUNC_*', 'SHELLOPTS', 'BASHOPTS', 'PS4', 'PROMPT_COMMAND'),
  ...rule('JVM', 'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH'),
  // `npx`/`uvx`/`pip`/`bunx`/`deno run` fetch and run packages: redirecting their index, cache, config or
  // the package manager itself (Corepack, `YARN_YARN_PATH`) runs someone else's code.
  ...rule('package manager', 'NPM_CONFIG_*', 'UV_*', 'PIP_*', 'COREPACK_*', 'YARN_*', 'BUN_*', 'DENO_*'),
  // Every GIT_* except a few labels (see GIT_ALLOWED): `GIT_SSH_COMMAND`, `GIT_ASKPASS`, `GIT_PROXY_COMMAND`,
  // `GIT_EXTERNAL_DIFF`, `GIT_EDITOR`, `GIT_CONFIG_COUNT`/`_KEY_n`/`_VALUE_n` (any `core.*` hook) run a command,
  // and `GIT_DIR`, `GIT_EXEC_PATH`, `GIT_TEMPLATE_DIR`, `GIT_CONFIG_GLOBAL` pick where hooks and programs come from.
  ...rule('Git', 'GIT_*'),
  // Commands that Git, SSH and other tools run from the value when they need an editor or a passphrase.
  ...rule('helper program', 'SSH_ASKPASS', 'SSH_ASKPASS_REQUIRE', 'EDITOR', 'VISUAL'),
  // Loaded by the C library or OpenSSL from a path in the value: a gconv module, an OpenSSL config that loads
  // a provider or engine (shared objects), tunables that have turned into exploits (CVE-2023-4911).
  ...rule(
    'library loading',
    'GCONV_PATH',
    'GLIBC_TUNABLES',
    'OPENSSL_CONF',
    'OPENSSL_MODULES',
    'OPENSSL_ENGINES',
  ),
];

/** `PYTHON*` variables that change neither what is imported nor what runs. */
export const PYTHON_ALLOWED: readonly string[] = [
  'PYTHONUNBUFFERED',
  'PYTHONIOENCODING',
  'PYTHONDONTWRITEBYTECODE',
  'PYTHONUTF8',
  'PYTHONHASHSEED',
  'PYTHONFAULTHANDLER',
  'PYTHONLEGACYWINDOWSSTDIO',
];

/** `GIT_*` variables that only label commits or turn prompting off; none names a program, path or config. */
export const GIT_ALLOWED: readonly string[] = [
  'GIT_TERMINAL_PROMPT',
  'GIT_AUTHOR_NAME',
  'GIT_AUTHOR_EMAIL',
  'GIT_COMMITTER_NAME',
  'GIT_COMMITTER_EMAIL',
];

const matchesPattern = (upper: string, pattern: string) =>
  pattern.endsWith('*')
    ? upper.startsWith(pattern.slice(0, -1))
    : pattern.startsWith('*')
      ? upper.endsWith(pattern.slice(1))
      : upper === pattern;

/** The family that denies `name`, or null when the name may be set. */
export function deniedEnvFamily(name: string): DeniedEnvFamily | null {
  const upper = name.toUpperCase();
  if (PYTHON_ALLOWED.includes(upper) || GIT_ALLOWED.includes(upper)) return null;
  for (const { pattern, family } of DENIED_ENV_RULES) {
    if (matchesPattern(upper, pattern)) return family;
  }
  return null;
}

/**
 * Names an admin may set to a literal value but that must never carry a user's credential. They run no code,
 * but whoever controls them chooses which program runs for each command name (`PATH`), or where the
 * downstream's traffic goes and which certificates it trusts (proxies, CA bundles): a user could route their
 * instance's requests, and the admin's own secrets in them, through a host of their choosing.
 * `*` at the start is a suffix (`*_PROXY`: `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, ...).
 */
export const CREDENTIAL_DENIED_ENV: readonly string[] = [
  'PATH',
  '*_PROXY',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'NODE_EXTRA_CA_CERTS',
  'NODE_TLS_REJECT_UNAUTHORIZED',
  'REQUESTS_CA_BUNDLE',
  'CURL_CA_BUNDLE',
];

/** Whether `name` must not receive a user's credential (see `CREDENTIAL_DENIED_ENV`). */
export const credentialDeniedEnv = (name: string): boolean =>
  CREDENTIAL_DENIED_ENV.some((pattern) => matchesPattern(name.toUpperCase(), pattern));

/** The message shown for a denied name, on the form and in validation problems. */
export const deniedEnvMessage = (name: string, family: DeniedEnvFamily) =>
  `"${name}" changes how the downstream program is loaded or run (${family}), so Gatehouse never sets it`;
