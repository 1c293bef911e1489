import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestGatehouse } from '../support/gatehouse.js';
import { isAlive } from '../support/processes.js';

const serverDir = path.resolve(import.meta.dirname, '../..');

interface Started {
  child: ChildProcess;
  portalUrl: string;
  output: () => string;
}

/** Runs `gatehouse start` as its own process, exactly as the README's start command does. */
async function startCli(dataDir: string): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    cwd: serverDir,
    env: {
      ...process.env,
      DATABASE_URL: '',
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_CLIENT_PORT: '0',
      GATEHOUSE_PORTAL_PORT: '0',
      GATEHOUSE_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += String(chunk);
  });
  child.stderr?.on('data', (chunk) => {
    output += String(chunk);
  });
  const portalUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start within 60 s:\n${output}`)), 60_000);
    const check = () => {
      const match = /Portal:\s+(http:\/\/\S+?)\/?\s/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1].replace('localhost', '127.0.0.1'));
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
  return { child, portalUrl, output: () => output };
}

const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

const postmasterPid = (dataDir: string) => {
  const file = path.join(dataDir, 'postgres', 'postmaster.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').split('\n')[0]) : undefined;
};

// A stopped orphan is reparented to init, which may reap it late: a zombie counts as gone.
const alive = isAlive;

describe('loading embedded PostgreSQL', () => {
  it("leaves the process's exit code and signals to Gatehouse (its exit hook is removed)", async () => {
    const script = `
      const { loadEmbeddedPostgres } = await import('./src/platform/db.ts');
      await loadEmbeddedPostgres();
      process.exitCode = 3;`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: serverDir,
      stdio: 'ignore',
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(3);
  });
});

describe('the gatehouse process on embedded PostgreSQL', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-cli-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts with no DATABASE_URL, completes setup, survives kill -9 and stops cleanly on SIGTERM', async () => {
    const first = await startCli(dataDir);
    expect((await fetch(`${first.portalUrl}/readyz`)).status).toBe(200);
    const keyringFile = path.join(dataDir, 'keyring.json');
    expect(statSync(keyringFile).mode & 0o777).toBe(0o600);
    const keyring = JSON.parse(readFileSync(keyringFile, 'utf8'));
    expect(keyring.keys).toHaveLength(1);
    expect(keyring.keys[0]).toMatchObject({
      id: keyring.active,
      key: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/),
    });
    const setup = await fetch(`${first.portalUrl}/trpc/setup.createFirstAdmin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: first.portalUrl, 'x-gatehouse-csrf': 'setup' },
      body: JSON.stringify({
        username: 'admin',
        displayName: 'Admin',
        email: 'a@example.test',
        password: 'Process-test-passphrase-1',
      }),
    });
    expect(setup.status).toBe(200);
    expect(first.output()).toMatch(/generated a new master key/);

    const orphan = postmasterPid(dataDir);
    expect(orphan).toBeGreaterThan(0);
    first.child.kill('SIGKILL');
    await exitOf(first.child);
    expect(alive(orphan ?? 0)).toBe(true);

    const second = await startCli(dataDir);
    expect(alive(orphan ?? 0)).toBe(false);
    expect((await fetch(`${second.portalUrl}/readyz`)).status).toBe(200);
    const status = await (await fetch(`${second.portalUrl}/trpc/setup.status`)).json();
    expect(status).toEqual({ result: { data: { setupRequired: false } } });
    expect(second.output()).not.toMatch(/generated a new master key/);

    const postmaster = postmasterPid(dataDir);
    second.child.kill('SIGTERM');
    expect(await exitOf(second.child)).toBe(0);
    expect(alive(postmaster ?? 0)).toBe(false);
  }, 120_000);
});

describe('TLS=self-signed', () => {
  it('serves HTTPS with a persisted certificate and a __Host- Secure session cookie', async () => {
    const gh = await startTestGatehouse({ TLS: 'self-signed' });
    try {
      expect(gh.portalUrl).toMatch(/^https:/);
      const certFile = path.join(gh.config.dataDir, 'tls', 'self-signed.crt');
      const ca = readFileSync(certFile, 'utf8');
      const url = new URL(`${gh.portalUrl}/trpc/setup.createFirstAdmin`);
      const body = JSON.stringify({
        username: 'tls-admin',
        displayName: 'T',
        email: 't@example.test',
        password: 'Tls-test-passphrase-42',
      });
      const { status, setCookie, hsts } = await new Promise<{
        status: number;
        setCookie: string[];
        hsts: string;
      }>((resolve, reject) => {
        const req = request(
          url,
          {
            method: 'POST',
            ca,
            headers: { 'content-type': 'application/json', origin: url.origin, 'x-gatehouse-csrf': 'setup' },
          },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                setCookie: res.headers['set-cookie'] ?? [],
                hsts: String(res.headers['strict-transport-security']),
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      expect(status).toBe(200);
      expect(setCookie[0]).toMatch(/^__Host-gh_session=[^;]+;.*Secure/);
      expect(setCookie[0]).toMatch(/HttpOnly/);
      expect(hsts).toMatch(/max-age=31536000/);
    } finally {
      await gh.stop();
    }
  });
});
