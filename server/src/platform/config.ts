import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SessionProfile } from '@gatehouse/schema';
import { z } from 'zod';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Session and heartbeat timings per profile; see docs/decisions/0003-config-profiles.md. */
export const profileTimings = {
  default: { sessionTtlSeconds: 8 * 3600, idleTimeoutSeconds: 30 * 60, heartbeatSeconds: 120 },
  'high-security': { sessionTtlSeconds: 4 * 3600, idleTimeoutSeconds: 15 * 60, heartbeatSeconds: 60 },
  development: { sessionTtlSeconds: 24 * 3600, idleTimeoutSeconds: 8 * 3600, heartbeatSeconds: 30 },
} as const satisfies Record<SessionProfile, unknown>;

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');
const port = z.coerce.number().int().min(0).max(65535);
const commaList = z
  .string()
  .max(4000)
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  );

/** Every setting Gatehouse reads, by its environment variable name. The optional config file uses the same keys. */
const RawConfig = z.object({
  GATEHOUSE_PROFILE: SessionProfile.default('default'),
  GATEHOUSE_DATA_DIR: z.string().min(1).default(path.join(repoRoot, '.data')),
  GATEHOUSE_HOST: z.string().min(1).default('127.0.0.1'),
  GATEHOUSE_CLIENT_PORT: port.default(8443),
  GATEHOUSE_PORTAL_PORT: port.default(9443),
  GATEHOUSE_PUBLIC_PORTAL_URL: z.url({ protocol: /^https?$/ }).optional(),
  GATEHOUSE_PUBLIC_MCP_URL: z.url({ protocol: /^https?$/ }).optional(),
  GATEHOUSE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  GATEHOUSE_MASTER_KEY: z.string().optional(),
  GATEHOUSE_MASTER_KEYS_PREVIOUS: commaList.optional(),
  GATEHOUSE_DB_APP_ROLE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a plain PostgreSQL role name')
    .optional(),
  GATEHOUSE_SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(1).max(600).default(15),
  GATEHOUSE_WEB_DIST: z.string().optional(),
  GATEHOUSE_RUNTIME_HEALTH_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3600).default(120),
  GATEHOUSE_RUNTIME_IDLE_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
  GATEHOUSE_RUNTIME_MAX_INSTANCES: z.coerce.number().int().min(1).max(100_000).default(200),
  GATEHOUSE_RUNTIME_MAX_RESPONSE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(4 * 1024 * 1024),
  GATEHOUSE_RUNTIME_RESTART_BACKOFF_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
  GATEHOUSE_RUNTIME_RESTART_BACKOFF_MAX_MS: z.coerce.number().int().min(1000).max(3_600_000).default(300_000),
  GATEHOUSE_RUNTIME_CIRCUIT_BREAKER_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
  GATEHOUSE_RUNTIME_STOP_GRACE_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  GATEHOUSE_RUNTIME_CIRCUIT_COOLDOWN_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  GATEHOUSE_MCP_MAX_SESSIONS_PER_CLIENT: z.coerce.number().int().min(1).max(1000).default(32),
  GATEHOUSE_MCP_REPLAY_BYTES_PER_CLIENT: z.coerce
    .number()
    .int()
    .min(0)
    .max(1024 * 1024 * 1024)
    .default(16 * 1024 * 1024),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  TLS: z.enum(['off', 'self-signed', 'files']).optional(),
  TLS_CERT_FILE: z.string().optional(),
  TLS_KEY_FILE: z.string().optional(),
  TRUST_PROXY_TLS: booleanString.default(false),
  GATEHOUSE_TRUSTED_PROXIES: commaList.optional(),
  GATEHOUSE_MCP_ALLOWED_ORIGINS: commaList.optional(),
  GATEHOUSE_MCP_ALLOWED_HOSTS: commaList.optional(),
  GATEHOUSE_MCP_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(4 * 1024 * 1024),
  GATEHOUSE_MCP_MAX_DEPTH: z.coerce.number().int().min(8).max(1000).default(64),
  GATEHOUSE_MCP_MAX_STRING_LENGTH: z.coerce
    .number()
    .int()
    .min(256)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  GATEHOUSE_MCP_MAX_ARRAY_LENGTH: z.coerce.number().int().min(16).max(1_000_000).default(10_000),
  GATEHOUSE_MCP_MAX_VALUES: z.coerce.number().int().min(64).max(10_000_000).default(20_000),
  GATEHOUSE_OAUTH_ALLOW_HTTP: booleanString.default(false),
  GATEHOUSE_OAUTH_ALLOW_PRIVATE_NETWORKS: booleanString.default(false),
  GATEHOUSE_OAUTH_REFRESH_MARGIN_SECONDS: z.coerce.number().int().min(0).max(3600).default(300),
  // The authorization server for MCP clients (ADR 0033).
  GATEHOUSE_OAUTH_ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
  GATEHOUSE_OAUTH_REFRESH_TOKEN_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  /** PEM file of extra CAs trusted when fetching Client ID Metadata Documents (an internal CA; tests). */
  GATEHOUSE_OAUTH_CA_FILE: z.string().min(1).optional(),
  GATEHOUSE_OAUTH_CIMD_ALLOW_PRIVATE_NETWORKS: booleanString.default(false),
  GATEHOUSE_OAUTH_REGISTRATIONS_PER_IP: z.coerce.number().int().min(1).max(1_000_000).default(20),
  GATEHOUSE_OAUTH_REGISTRATIONS_GLOBAL: z.coerce.number().int().min(1).max(10_000_000).default(500),
  GATEHOUSE_OAUTH_REGISTRATION_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(3600),
  GATEHOUSE_AUDIT_RETENTION_DAYS: z.coerce.number().int().min(31).max(36_500).default(365),
  GATEHOUSE_AUDIT_ARCHIVE_DIR: z.string().min(1).optional(),
  // Failed authentication (ADR 0018; docs/operations.md, "Throttling failed authentication").
  GATEHOUSE_MCP_AUTH_FAILURES_PER_IP: z.coerce.number().int().min(1).max(1_000_000).default(30),
  GATEHOUSE_MCP_AUTH_FAILURES_GLOBAL: z.coerce.number().int().min(1).max(10_000_000).default(1000),
  GATEHOUSE_MCP_AUTH_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  GATEHOUSE_LOGIN_FAILURES_PER_PAIR: z.coerce.number().int().min(1).max(1000).default(5),
  GATEHOUSE_LOGIN_FAILURES_PER_IP: z.coerce.number().int().min(1).max(100_000).default(20),
  GATEHOUSE_LOGIN_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).max(100_000).default(10),
  GATEHOUSE_LOGIN_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
  GATEHOUSE_LOGIN_KNOWN_ADDRESS_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  GATEHOUSE_LOGIN_SLOW_ATTEMPT_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  GATEHOUSE_AUTH_AUDIT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  GATEHOUSE_REQUEST_BODY_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
});

export type TlsMode = 'off' | 'self-signed' | 'files';

/** How downstream instances are run; see docs/decisions/0009-runtime-supervision.md. */
export interface RuntimeSettings {
  readonly healthIntervalMs: number;
  readonly idleTimeoutMs: number;
  readonly maxInstances: number;
  readonly maxResponseBytes: number;
  readonly restartBackoffMs: number;
  readonly restartBackoffMaxMs: number;
  readonly circuitBreakerFailures: number;
  /** How long an open circuit refuses calls before one probe call may try; doubles while probes fail. */
  readonly circuitCooldownMs: number;
  readonly stopGraceMs: number;
  readonly stderrLines: number;
  /** The longest a downstream call may run while progress keeps resetting its timeout (default 10 × callMs). */
  readonly callMaxTotalMs?: number;
}

/** See docs/decisions/0017-mcp-endpoint-hostile-input.md. */
export interface McpMessageLimits {
  readonly maxBodyBytes: number;
  /** Nesting of arrays and objects, counted from the message itself (its `params` are at depth 2). */
  readonly maxDepth: number;
  /** UTF-16 code units of one string (keys included), after unescaping. */
  readonly maxStringLength: number;
  /** Elements of one array, or members of one object. */
  readonly maxArrayLength: number;
  /** Every value in the message: objects, arrays, strings, numbers, booleans and nulls. */
  readonly maxValues: number;
}

export interface Config {
  readonly profile: SessionProfile;
  readonly timings: (typeof profileTimings)[SessionProfile];
  readonly dataDir: string;
  readonly host: string;
  readonly clientPort: number;
  readonly portalPort: number;
  readonly publicPortalUrl: string | undefined;
  /** The MCP endpoint as clients reach it (behind a proxy); otherwise derived from the portal request. */
  readonly publicMcpUrl: string | undefined;
  readonly logLevel: string;
  readonly masterKeyBase64: string | undefined;
  /** Older master keys, still accepted for opening what they sealed (with `GATEHOUSE_MASTER_KEY` only). */
  readonly previousMasterKeysBase64: readonly string[];
  readonly dbAppRole: string | undefined;
  readonly shutdownGraceMs: number;
  readonly webDist: string;
  readonly databaseUrl: string | undefined;
  readonly tls: { mode: TlsMode; certFile?: string; keyFile?: string };
  /** True when browsers reach us over https, directly or through a TLS-terminating proxy. */
  readonly secureTransport: boolean;
  readonly trustedProxies: readonly string[];
  readonly runtime: RuntimeSettings;
  /** MCP sessions per client key: how many may be open, and the replay memory they share. */
  readonly mcpSessions: { maxPerClient: number; replayBytesPerClient: number };
  /** Browser origins allowed to call `/mcp`; requests without an Origin header (native clients) always pass. */
  readonly mcpAllowedOrigins: readonly string[];
  /** Extra `Host` names `/mcp` answers to, besides its own (see proxy/origin-guard.ts). */
  readonly mcpAllowedHosts: readonly string[];
  /** Bounds on every JSON-RPC message `/mcp` accepts, checked before anything recursive runs. */
  readonly mcpLimits: McpMessageLimits;
  /** Downstream OAuth: which provider URLs Gatehouse may call, and how early tokens are refreshed. */
  readonly oauth: { allowHttp: boolean; allowPrivateNetworks: boolean; refreshMarginMs: number };
  /** The authorization server for MCP clients (ADR 0033): token lifetimes, extra CAs for CIMD fetches. */
  readonly oauthServer: {
    accessTokenTtlSeconds: number;
    refreshTokenTtlSeconds: number;
    caFile: string | undefined;
    /** Whether Client ID Metadata Documents may be fetched from private addresses (tests only; ADR 0033). */
    cimdAllowPrivateNetworks: boolean;
    /** Anonymous registrations (DCR, first CIMD fetches) per source and in all, per window (ADR 0033). */
    registrationsPerIp: number;
    registrationsGlobal: number;
    registrationWindowMs: number;
  };
  /**
   * How long audit events are kept (whole months are dropped once every event in them is older), and where
   * a month is exported as JSONL before it is dropped; without a directory nothing is exported.
   */
  readonly audit: { retentionDays: number; archiveDir: string | undefined };
  /** Failed-authentication limits, shared by every process on the database (ADR 0018). */
  readonly throttle: ThrottleSettings;
  /** A request body must arrive within this time of its headers, or the connection is closed. */
  readonly requestBodyTimeoutMs: number;
}

export interface ThrottleSettings {
  readonly mcpPerIp: number;
  readonly mcpGlobal: number;
  readonly mcpWindowMs: number;
  readonly loginPerPair: number;
  readonly loginPerIp: number;
  readonly loginPerAccount: number;
  readonly loginWindowMs: number;
  readonly knownAddressMs: number;
  /** Over the account limit, an address it never signed in from may try once per this interval. */
  readonly loginSlowMs: number;
  /** Refused authentication is audited once per (kind, source IP) per window, with a count. */
  readonly auditWindowMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const isLoopback = (host: string) =>
  host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

/**
 * Reads the environment (and `GATEHOUSE_CONFIG_FILE`, a JSON object of the same keys; the environment wins),
 * validates it once and returns a frozen Config. Throws ConfigError listing every problem.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  let fileValues: Record<string, unknown> = {};
  if (env.GATEHOUSE_CONFIG_FILE) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(env.GATEHOUSE_CONFIG_FILE, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        problems.push('GATEHOUSE_CONFIG_FILE: must contain a JSON object');
      } else {
        fileValues = Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
      }
    } catch (error) {
      problems.push(
        `GATEHOUSE_CONFIG_FILE: cannot read ${env.GATEHOUSE_CONFIG_FILE} (${(error as Error).message})`,
      );
    }
  }
  const merged: Record<string, unknown> = { ...fileValues };
  for (const key of Object.keys(RawConfig.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') merged[key] = value;
  }
  const result = RawConfig.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(problems);
  }
  const raw = result.data;
  const tlsMode: TlsMode = raw.TLS ?? (raw.TLS_CERT_FILE || raw.TLS_KEY_FILE ? 'files' : 'off');
  if (tlsMode === 'files' && !(raw.TLS_CERT_FILE && raw.TLS_KEY_FILE)) {
    problems.push('TLS_CERT_FILE and TLS_KEY_FILE: both are required for TLS=files');
  }
  if (tlsMode === 'off' && !isLoopback(raw.GATEHOUSE_HOST) && !raw.TRUST_PROXY_TLS) {
    problems.push(
      `GATEHOUSE_HOST: refusing to listen on non-loopback address ${raw.GATEHOUSE_HOST} over plain HTTP. ` +
        'Set TLS=self-signed or TLS_CERT_FILE/TLS_KEY_FILE, or TRUST_PROXY_TLS=true if a TLS-terminating proxy is in front.',
    );
  }
  if (raw.GATEHOUSE_CLIENT_PORT !== 0 && raw.GATEHOUSE_CLIENT_PORT === raw.GATEHOUSE_PORTAL_PORT) {
    problems.push('GATEHOUSE_CLIENT_PORT and GATEHOUSE_PORTAL_PORT: must differ');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return Object.freeze({
    profile: raw.GATEHOUSE_PROFILE,
    timings: profileTimings[raw.GATEHOUSE_PROFILE],
    dataDir: path.resolve(raw.GATEHOUSE_DATA_DIR),
    host: raw.GATEHOUSE_HOST,
    clientPort: raw.GATEHOUSE_CLIENT_PORT,
    portalPort: raw.GATEHOUSE_PORTAL_PORT,
    publicPortalUrl: raw.GATEHOUSE_PUBLIC_PORTAL_URL,
    publicMcpUrl: raw.GATEHOUSE_PUBLIC_MCP_URL,
    logLevel: raw.GATEHOUSE_LOG_LEVEL,
    masterKeyBase64: raw.GATEHOUSE_MASTER_KEY,
    previousMasterKeysBase64: raw.GATEHOUSE_MASTER_KEYS_PREVIOUS ?? [],
    dbAppRole: raw.GATEHOUSE_DB_APP_ROLE,
    shutdownGraceMs: raw.GATEHOUSE_SHUTDOWN_GRACE_SECONDS * 1000,
    webDist: path.resolve(raw.GATEHOUSE_WEB_DIST ?? path.join(repoRoot, 'web/dist')),
    databaseUrl: raw.DATABASE_URL,
    tls: { mode: tlsMode, certFile: raw.TLS_CERT_FILE, keyFile: raw.TLS_KEY_FILE },
    secureTransport: tlsMode !== 'off' || raw.TRUST_PROXY_TLS,
    trustedProxies: raw.GATEHOUSE_TRUSTED_PROXIES ?? [],
    mcpAllowedOrigins: raw.GATEHOUSE_MCP_ALLOWED_ORIGINS ?? [],
    mcpAllowedHosts: raw.GATEHOUSE_MCP_ALLOWED_HOSTS ?? [],
    mcpLimits: Object.freeze({
      maxBodyBytes: raw.GATEHOUSE_MCP_MAX_BODY_BYTES,
      maxDepth: raw.GATEHOUSE_MCP_MAX_DEPTH,
      maxStringLength: raw.GATEHOUSE_MCP_MAX_STRING_LENGTH,
      maxArrayLength: raw.GATEHOUSE_MCP_MAX_ARRAY_LENGTH,
      maxValues: raw.GATEHOUSE_MCP_MAX_VALUES,
    }),
    oauth: {
      allowHttp: raw.GATEHOUSE_OAUTH_ALLOW_HTTP,
      allowPrivateNetworks: raw.GATEHOUSE_OAUTH_ALLOW_PRIVATE_NETWORKS,
      refreshMarginMs: raw.GATEHOUSE_OAUTH_REFRESH_MARGIN_SECONDS * 1000,
    },
    oauthServer: {
      accessTokenTtlSeconds: raw.GATEHOUSE_OAUTH_ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: raw.GATEHOUSE_OAUTH_REFRESH_TOKEN_TTL_DAYS * 86_400,
      caFile: raw.GATEHOUSE_OAUTH_CA_FILE && path.resolve(raw.GATEHOUSE_OAUTH_CA_FILE),
      cimdAllowPrivateNetworks: raw.GATEHOUSE_OAUTH_CIMD_ALLOW_PRIVATE_NETWORKS,
      registrationsPerIp: raw.GATEHOUSE_OAUTH_REGISTRATIONS_PER_IP,
      registrationsGlobal: raw.GATEHOUSE_OAUTH_REGISTRATIONS_GLOBAL,
      registrationWindowMs: raw.GATEHOUSE_OAUTH_REGISTRATION_WINDOW_SECONDS * 1000,
    },
    audit: {
      retentionDays: raw.GATEHOUSE_AUDIT_RETENTION_DAYS,
      archiveDir: raw.GATEHOUSE_AUDIT_ARCHIVE_DIR && path.resolve(raw.GATEHOUSE_AUDIT_ARCHIVE_DIR),
    },
    mcpSessions: {
      maxPerClient: raw.GATEHOUSE_MCP_MAX_SESSIONS_PER_CLIENT,
      replayBytesPerClient: raw.GATEHOUSE_MCP_REPLAY_BYTES_PER_CLIENT,
    },
    throttle: Object.freeze({
      mcpPerIp: raw.GATEHOUSE_MCP_AUTH_FAILURES_PER_IP,
      mcpGlobal: raw.GATEHOUSE_MCP_AUTH_FAILURES_GLOBAL,
      mcpWindowMs: raw.GATEHOUSE_MCP_AUTH_WINDOW_SECONDS * 1000,
      loginPerPair: raw.GATEHOUSE_LOGIN_FAILURES_PER_PAIR,
      loginPerIp: raw.GATEHOUSE_LOGIN_FAILURES_PER_IP,
      loginPerAccount: raw.GATEHOUSE_LOGIN_FAILURES_PER_ACCOUNT,
      loginWindowMs: raw.GATEHOUSE_LOGIN_WINDOW_SECONDS * 1000,
      knownAddressMs: raw.GATEHOUSE_LOGIN_KNOWN_ADDRESS_DAYS * 86_400_000,
      loginSlowMs: raw.GATEHOUSE_LOGIN_SLOW_ATTEMPT_SECONDS * 1000,
      auditWindowMs: raw.GATEHOUSE_AUTH_AUDIT_WINDOW_SECONDS * 1000,
    }),
    requestBodyTimeoutMs: raw.GATEHOUSE_REQUEST_BODY_TIMEOUT_MS,
    runtime: Object.freeze({
      healthIntervalMs: raw.GATEHOUSE_RUNTIME_HEALTH_INTERVAL_SECONDS * 1000,
      idleTimeoutMs: raw.GATEHOUSE_RUNTIME_IDLE_TIMEOUT_SECONDS * 1000,
      maxInstances: raw.GATEHOUSE_RUNTIME_MAX_INSTANCES,
      maxResponseBytes: raw.GATEHOUSE_RUNTIME_MAX_RESPONSE_BYTES,
      restartBackoffMs: raw.GATEHOUSE_RUNTIME_RESTART_BACKOFF_MS,
      restartBackoffMaxMs: raw.GATEHOUSE_RUNTIME_RESTART_BACKOFF_MAX_MS,
      circuitBreakerFailures: raw.GATEHOUSE_RUNTIME_CIRCUIT_BREAKER_FAILURES,
      circuitCooldownMs: raw.GATEHOUSE_RUNTIME_CIRCUIT_COOLDOWN_MS,
      stopGraceMs: raw.GATEHOUSE_RUNTIME_STOP_GRACE_MS,
      stderrLines: 200,
    }),
  });
}
