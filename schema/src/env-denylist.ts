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
  | 'package manager';

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
  // `npx`/`uvx`/`pip` fetch and run packages: redirecting their index or config runs someone else's code.
  ...rule('package manager', 'NPM_CONFIG_*', 'UV_INDEX*', 'UV_EXTRA_INDEX_URL', 'UV_DEFAULT_INDEX', 'PIP_*'),
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

/** The family that denies `name`, or null when the name may be set. */
export function deniedEnvFamily(name: string): DeniedEnvFamily | null {
  const upper = name.toUpperCase();
  if (PYTHON_ALLOWED.includes(upper)) return null;
  for (const { pattern, family } of DENIED_ENV_RULES) {
    const matches = pattern.endsWith('*') ? upper.startsWith(pattern.slice(0, -1)) : upper === pattern;
    if (matches) return family;
  }
  return null;
}

/**
 * Names an admin may set to a literal value but that must never carry a user's credential: whoever controls
 * `PATH` chooses which program runs for each command name.
 */
export const CREDENTIAL_DENIED_ENV: readonly string[] = ['PATH'];

/** The message shown for a denied name, on the form and in validation problems. */
export const deniedEnvMessage = (name: string, family: DeniedEnvFamily) =>
  `"${name}" changes how the downstream program is loaded or run (${family}), so Gatehouse never sets it`;
