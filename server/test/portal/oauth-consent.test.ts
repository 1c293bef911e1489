import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_TOOL_NAMES, fixtureStdioCommand } from '../fixtures/fixture-launch.js';
import {
  auditRows,
  createSignedInUser,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { type CimdServer, cimdDocument, startCimdServer, TestOAuthClient } from '../support/oauth.js';
import { LoopbackRedirect } from './oauth-client.js';

const PASSWORD = 'Consent-e2e-passphrase-7';
const screenshots = path.resolve(import.meta.dirname, '../../../web/test-results');
const CLIENT_NAME = 'Acme Assistant';
const DCR_NAME = 'Scratch DCR client';
const INSPECTOR = '@modelcontextprotocol/inspector@2.12.0';

const textOf = (result: unknown) =>
  (((result as { content?: unknown }).content ?? []) as { text?: string }[])
    .map((block) => block.text ?? '')
    .join('');

/**
 * The MCP SDK's own OAuth client support against a real Gatehouse, with the consent given by a person in the
 * portal in Debian's Chromium: discovery from the 401, CIMD registration, consent with a chosen MCP and
 * tools, the token, exactly the chosen tools, and revocation from "My clients". Deny ends in access_denied.
 */
describe('an MCP client connects through OAuth, consent given in the portal', () => {
  let gh: TestGatehouse;
  let cimd: CimdServer;
  let admin: PortalClient;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let redirect: LoopbackRedirect;
  let aliceId: string;
  let clientId: string;
  const open: Client[] = [];

  const oauthClientRows = () =>
    gh.db.query<{ id: string; status: string; oauth_client_id: string }>(
      'select id, status, oauth_client_id from mcp_client where oauth_client_id is not null order by created_at',
    );

  /** The consent screen for `url`, after signing alice in if the portal asks (it does in a fresh browser). */
  async function consentScreenFor(url: string) {
    await page.goto(url);
    const heading = page.getByRole('heading', { name: /^Allow .+ to use your MCPs\?$/ });
    const username = page.getByLabel('Username');
    await heading.or(username).waitFor();
    if (await username.isVisible()) {
      await username.fill('alice');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
    }
    await heading.waitFor();
  }

  /** A consent URL whose request cannot be shown: the page after sign-in, if the portal asks for it. */
  async function consentScreenOrError(url: string) {
    await page.goto(url);
    const alert = page.getByRole('alert');
    const username = page.getByLabel('Username');
    await alert.or(username).first().waitFor();
    if (await username.isVisible()) {
      await username.fill('alice');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await alert.waitFor();
    }
  }

  /** The authorization response at the loopback redirect, once the browser has finished landing there. */
  async function answered() {
    const result = await redirect.next();
    await page.waitForURL((url) => url.pathname === '/callback');
    return result;
  }

  const authorizationUrlOf = (provider: TestOAuthClient): string => {
    if (!provider.authorizationUrl) throw new Error('the SDK never asked to open an authorization URL');
    return provider.authorizationUrl.href;
  };

  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    redirect = await new LoopbackRedirect().start();
    cimd = await startCimdServer();
    clientId = cimd.publish('/acme/client.json', cimdDocument(redirect.url, { client_name: CLIENT_NAME }));
    gh = await startTestGatehouse(cimd.env);
    admin = await setUpAdmin(gh);
    const team = (await admin.groups.create.mutate({ name: 'team', description: '' })).id;
    const alice = await createSignedInUser(gh, admin, 'alice', PASSWORD);
    aliceId = alice.id;
    await admin.groups.addMember.mutate({ groupId: team, userId: aliceId });
    const created = await admin.catalog.create.mutate({
      slug: 'fx',
      name: 'Fixture',
      config: { connection: { transport: 'stdio', ...fixtureStdioCommand() } },
      groupIds: [team],
    });
    await admin.catalog.validate.mutate({ id: created.id });
    await admin.catalog.discover.mutate({ id: created.id });
    await admin.catalog.publish.mutate({ id: created.id });

    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
  });

  afterAll(async () => {
    await Promise.all(open.map((client) => client.close().catch(() => undefined)));
    await context?.close();
    await browser?.close();
    await gh?.stop();
    await cimd?.close();
    await redirect?.close();
  });

  it('discovers, registers by CIMD, gets consent for one MCP and two tools, calls one, and is revoked in the portal', async () => {
    const provider = new TestOAuthClient(redirect.url, { clientMetadataUrl: clientId });
    const mcpUrl = new URL(`${gh.clientUrl}/mcp`);
    const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    // No token yet: the 401 leads the SDK to the metadata, the authorization server and the authorize URL.
    await expect(new Client({ name: 'acme', version: '1.0.0' }).connect(first)).rejects.toThrow(
      /unauthorized/i,
    );
    const authorizationUrl = new URL(authorizationUrlOf(provider));
    expect(authorizationUrl.searchParams.get('client_id')).toBe(clientId);
    expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');

    // Not signed in: the portal's sign-in screen first, then the consent screen again.
    await page.goto(authorizationUrl.href);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: `Allow ${CLIENT_NAME} to use your MCPs?` }).waitFor();
    expect(page.url()).toMatch(/#\/consent\//);
    const card = page.locator('main');
    const domain = new URL(cimd.origin).host;
    await card.getByText(`Verified by its domain ${domain}`).waitFor();
    await card.getByText(new URL(redirect.url).host, { exact: true }).waitFor();
    await card.getByText('Anyone on this machine could claim this name', { exact: false }).waitFor();

    await page.screenshot({ path: path.join(screenshots, 'oauth-consent.png'), fullPage: true });

    // Approve waits for a choice; then Fixture with two of its tools.
    const approve = page.getByRole('button', { name: 'Approve' });
    expect(await approve.isDisabled()).toBe(true);
    await page.getByRole('checkbox', { name: 'Use Fixture' }).check();
    const tools = page.getByRole('group', { name: 'Tools of Fixture' });
    await tools.getByRole('button', { name: 'Select none' }).click();
    expect(await approve.isDisabled()).toBe(true);
    await tools.getByRole('checkbox', { name: 'echo', exact: true }).check();
    await tools.getByRole('checkbox', { name: 'whoami', exact: true }).check();
    expect(await approve.isEnabled()).toBe(true);
    await page.screenshot({ path: path.join(screenshots, 'oauth-consent-chosen.png'), fullPage: true });
    await approve.click();

    const answer = await answered();
    expect(answer.error).toBeNull();
    expect(answer.code).toBeTruthy();
    await first.finishAuth(answer.code ?? '');
    const token = provider.tokens()?.access_token ?? '';
    expect(token).not.toBe('');

    const mcp = new Client({ name: 'acme', version: '1.0.0' });
    await mcp.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
    open.push(mcp);
    expect((await mcp.listTools()).tools.map((tool) => tool.name).sort()).toEqual(['fx__echo', 'fx__whoami']);
    expect(textOf(await mcp.callTool({ name: 'fx__echo', arguments: { message: 'via oauth' } }))).toContain(
      'via oauth',
    );
    const [row] = await oauthClientRows();
    expect(row).toMatchObject({ status: 'active', oauth_client_id: clientId });

    // Asking again: the screen says it was allowed before and starts from the current choice.
    const again = new TestOAuthClient(redirect.url, { clientMetadataUrl: clientId });
    await expect(
      new Client({ name: 'acme', version: '1.0.0' }).connect(
        new StreamableHTTPClientTransport(mcpUrl, { authProvider: again }),
      ),
    ).rejects.toThrow(/unauthorized/i);
    await consentScreenFor(authorizationUrlOf(again));
    await page.getByText('You allowed this app before').waitFor();
    expect(await page.getByRole('checkbox', { name: 'Use Fixture' }).isChecked()).toBe(true);
    const current = page.getByRole('group', { name: 'Tools of Fixture' });
    expect(await current.getByRole('checkbox', { name: 'echo', exact: true }).isChecked()).toBe(true);
    expect(await current.getByRole('checkbox', { name: 'sleep', exact: true }).isChecked()).toBe(false);
    await page.getByRole('button', { name: 'Deny' }).click();
    expect((await answered()).error).toBe('access_denied');

    // Its page in "My clients": how it connected, and the URL-only way to connect.
    await page.goto(`${gh.portalUrl}/#/my/clients/${row?.id ?? ''}`);
    await page.getByText(`Connected through OAuth as`, { exact: false }).waitFor();
    await page
      .getByText(`claude mcp add --transport http gatehouse ${gh.clientUrl}/mcp`, { exact: true })
      .waitFor();
    expect(await page.getByRole('button', { name: 'Rotate key' }).count()).toBe(0);
    await page.screenshot({ path: path.join(screenshots, 'oauth-my-client.png'), fullPage: true });

    // "My clients" shows how it connected, offers no key rotation, and revokes its access.
    await page.goto(`${gh.portalUrl}/#/my/clients`);
    const entry = page.getByRole('row').filter({ hasText: CLIENT_NAME });
    await entry.getByText(`OAuth · verified by its domain ${domain}`).waitFor();
    expect(await entry.getByRole('button', { name: /Rotate key/ }).count()).toBe(0);
    await entry.getByRole('button', { name: `Revoke access of ${CLIENT_NAME}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('it will have to ask you again', { exact: false }).waitFor();
    await page.screenshot({ path: path.join(screenshots, 'oauth-my-clients-revoke.png'), fullPage: true });
    await dialog.getByRole('button', { name: 'Revoke access' }).click();
    await page.getByText(`${CLIENT_NAME} no longer has access`, { exact: false }).waitFor();

    // The token the client holds is refused at once.
    const refused = await fetch(mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"');
    // The SDK client itself: on the 401 it tries its refresh token, which is refused too (invalid_grant).
    expect(provider.tokens()?.refresh_token).toBeTruthy();
    await expect(mcp.listTools()).rejects.toThrow(/grant request is invalid/);
    expect((await oauthClientRows())[0]?.status).toBe('revoked');
    expect((await auditRows(gh, 'oauth.consent_revoked')).map((entry) => entry.actor_user_id)).toEqual([
      aliceId,
    ]);
  });

  it('Deny: a self-registered client gets access_denied, and no Gatehouse client is created', async () => {
    // A request that does not exist (or expired) says so with the portal's error notice.
    await consentScreenOrError(`${gh.portalUrl}/#/consent/no-such-request`);
    await page.getByRole('alert').getByText('This request cannot be answered').waitFor();

    const before = await oauthClientRows();
    const auditBefore = (await auditRows(gh)).length;
    // No CIMD URL: the SDK falls back to dynamic client registration.
    const provider = new TestOAuthClient(redirect.url, { name: DCR_NAME });
    const transport = new StreamableHTTPClientTransport(new URL(`${gh.clientUrl}/mcp`), {
      authProvider: provider,
    });
    await expect(new Client({ name: 'acme', version: '1.0.0' }).connect(transport)).rejects.toThrow(
      /unauthorized/i,
    );
    await consentScreenFor(authorizationUrlOf(provider));
    await page.getByRole('heading', { name: `Allow ${DCR_NAME} to use your MCPs?` }).waitFor();
    await page.getByText('Self-registered', { exact: true }).waitFor();
    // "Not you?": signing out keeps the request; a sign-in that comes back to the portal's root (as single
    // sign-on does) resumes it.
    await page.getByRole('button', { name: 'Not you? Sign out' }).click();
    await page.getByLabel('Username').waitFor();
    await page.goto(`${gh.portalUrl}/`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: `Allow ${DCR_NAME} to use your MCPs?` }).waitFor();
    await page.getByRole('button', { name: 'Deny' }).click();

    const answer = await answered();
    expect(answer).toMatchObject({ error: 'access_denied', code: null });
    expect(await oauthClientRows()).toEqual(before);
    // The refusal is audited; nothing was granted or issued.
    const since = (await auditRows(gh)).slice(auditBefore).map((row) => row.action);
    expect(since).toContain('oauth.consent_denied');
    expect(
      since.filter((action) => ['oauth.consent_granted', 'oauth.token_issued'].includes(action)),
    ).toEqual([]);
  });

  it('the MCP Inspector CLI (v2) connects through OAuth, with the consent given in Chromium', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'gatehouse-inspector-'));
    const callbackPort = await freePort();
    const inspector = spawn(
      'npx',
      [
        '-y',
        '-p',
        'node@22',
        '-p',
        INSPECTOR,
        'mcp-inspector',
        '--cli',
        `${gh.clientUrl}/mcp`,
        '--transport',
        'http',
        '--method',
        'tools/list',
        '--format',
        'json',
        '--callback-url',
        `http://127.0.0.1:${callbackPort}/oauth/callback`,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          // Its own HOME: the Inspector keeps its OAuth state and catalog there.
          HOME: home,
          // Interactive OAuth without a TTY, as a person at a terminal would get it. The URL it prints is
          // opened by the test's Chromium; the browser it would launch itself is `true`, which opens nothing.
          MCP_AUTO_OPEN_ENABLED: 'true',
          BROWSER: 'true',
          DISPLAY: '',
        },
      },
    );
    let stdout = '';
    let stderr = '';
    inspector.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    const exited = new Promise<number | null>((resolve) => inspector.on('close', resolve));
    try {
      // It prints the authorization URL for a person to open; the person here is Chromium, signed in as alice.
      const authorizationUrl = await new Promise<string>((resolve, reject) => {
        inspector.stderr.on('data', (chunk) => {
          stderr += chunk;
          const found = /Please navigate to: (\S+)/.exec(stderr);
          if (found?.[1]) resolve(found[1]);
        });
        void exited.then((code) => reject(new Error(`the Inspector exited (${code}) first:\n${stderr}`)));
      });
      await consentScreenFor(authorizationUrl);
      await page.getByText('Self-registered', { exact: true }).waitFor();
      // By keyboard this time: Space ticks the MCP, Enter approves.
      await page.getByRole('checkbox', { name: 'Use Fixture' }).focus();
      await page.keyboard.press('Space');
      await page.getByRole('button', { name: 'Approve' }).focus();
      await page.keyboard.press('Enter');
      expect(await exited).toBe(0);
      const listed = JSON.parse(stdout) as { result?: { tools?: { name: string }[] } };
      // "Use Fixture" with all its tools: every fixture tool, nothing else.
      expect((listed.result?.tools ?? []).map((tool) => tool.name).sort()).toEqual(
        FIXTURE_TOOL_NAMES.map((name) => `fx__${name}`),
      );
    } finally {
      inspector.kill();
      rmSync(home, { recursive: true, force: true });
    }
  }, 180_000);
});

/** A TCP port free right now on 127.0.0.1 (the Inspector's loopback callback listens there). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
