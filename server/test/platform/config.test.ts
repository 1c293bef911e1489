import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/platform/config.js';

const problemsOf = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('configuration', () => {
  it('has production-ready defaults: loopback, plain HTTP, default profile, standard ports', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      clientPort: 8443,
      portalPort: 9443,
      profile: 'default',
      tls: { mode: 'off' },
      secureTransport: false,
      databaseUrl: undefined,
      masterKeyBase64: undefined,
      previousMasterKeysBase64: [],
      oauth: { allowHttp: false, allowPrivateNetworks: false, refreshMarginMs: 300_000 },
    });
    expect(config.timings).toEqual({
      sessionTtlSeconds: 28800,
      idleTimeoutSeconds: 1800,
      heartbeatSeconds: 120,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('applies the profiles', () => {
    expect(loadConfig({ GATEHOUSE_PROFILE: 'high-security' }).timings).toEqual({
      sessionTtlSeconds: 14400,
      idleTimeoutSeconds: 900,
      heartbeatSeconds: 60,
    });
    expect(loadConfig({ GATEHOUSE_PROFILE: 'development' }).timings.heartbeatSeconds).toBe(30);
  });

  it('lists every problem at once, readably', () => {
    const problems = problemsOf({
      GATEHOUSE_PROFILE: 'lax',
      GATEHOUSE_PORTAL_PORT: 'ninety',
      DATABASE_URL: 'mysql://x',
    });
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/GATEHOUSE_PROFILE/);
    expect(problems.join('\n')).toMatch(/GATEHOUSE_PORTAL_PORT/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL/);
  });

  it('refuses a non-loopback address over plain HTTP unless TLS or a TLS proxy is declared', () => {
    expect(problemsOf({ GATEHOUSE_HOST: '0.0.0.0' })[0]).toMatch(
      /refusing to listen on non-loopback address 0\.0\.0\.0/,
    );
    expect(loadConfig({ GATEHOUSE_HOST: '0.0.0.0', TRUST_PROXY_TLS: 'true' }).secureTransport).toBe(true);
    expect(loadConfig({ GATEHOUSE_HOST: '0.0.0.0', TLS: 'self-signed' }).tls.mode).toBe('self-signed');
    expect(problemsOf({ TLS: 'files', TLS_CERT_FILE: '/x.crt' })[0]).toMatch(/TLS_KEY_FILE/);
  });

  it('reads an optional JSON file, with the environment taking precedence', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'gh-config-')), 'gatehouse.json');
    writeFileSync(file, JSON.stringify({ GATEHOUSE_PORTAL_PORT: 9999, GATEHOUSE_PROFILE: 'development' }));
    const config = loadConfig({ GATEHOUSE_CONFIG_FILE: file, GATEHOUSE_PROFILE: 'high-security' });
    expect(config.portalPort).toBe(9999);
    expect(config.profile).toBe('high-security');
    expect(problemsOf({ GATEHOUSE_CONFIG_FILE: '/does/not/exist.json' })[0]).toMatch(/cannot read/);
  });
});
