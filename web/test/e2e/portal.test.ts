import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdioCommand } from '../../../server/test/fixtures/fixture-launch.js';
import {
  ADMIN,
  connectMcpClient,
  createSignedInUser,
  type PortalClient,
  portalClient,
  startTestGatehouse,
  type TestGatehouse,
} from '../../../server/test/support/gatehouse.js';

const screenshots = path.resolve(import.meta.dirname, '../../test-results');
const PASSWORD = 'portal-e2e-Passw0rd!';

const textOf = (result: unknown) =>
  (((result as { content?: unknown }).content ?? []) as { text?: string }[])
    .map((block) => block.text ?? '')
    .join('');

/**
 * The portal driven in Debian's Chromium against a real Gatehouse on real PostgreSQL with the fixture MCP:
 * what an admin and a user do, end to end. Screenshots of the main screens go to web/test-results/.
 */
describe('the portal in a real browser', () => {
  let gh: TestGatehouse;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const open: Client[] = [];

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    return page;
  }

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });

  async function signIn(page: Page, username: string, password: string) {
    await page.goto(gh.portalUrl);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
  }

  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    gh = await startTestGatehouse();
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await Promise.all(open.map((client) => client.close().catch(() => undefined)));
    for (const context of contexts) await context.close();
    await browser?.close();
    await gh?.stop();
  });

  it('takes an admin and a user from setup to a subscribed, audited call, and a kill that stops the next one', async () => {
    const admin = await newPage();
    await admin.goto(gh.portalUrl);
    await admin.getByLabel('Username').fill(ADMIN.username);
    await admin.getByLabel('Display name').fill(ADMIN.displayName);
    await admin.getByLabel('Email').fill(ADMIN.email);
    await admin.getByLabel('Password').fill(ADMIN.password);
    await shot(admin, '01-setup');
    await admin.getByRole('button', { name: 'Create administrator' }).click();
    await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'MCPs' }).waitFor();

    // A group and a user in it.
    await admin.goto(`${gh.portalUrl}/#/groups`);
    await admin.getByRole('button', { name: 'New group' }).click();
    await admin.getByLabel('Name').fill('engineering');
    await admin.getByRole('button', { name: 'Create group' }).click();
    await admin.getByRole('heading', { name: 'engineering' }).waitFor();
    await admin.goto(`${gh.portalUrl}/#/users`);
    await admin.getByRole('button', { name: 'New user' }).click();
    const dialog = admin.getByRole('dialog');
    await dialog.getByLabel('Username').fill('alice');
    await dialog.getByLabel('Display name').fill('Alice');
    await dialog.getByLabel('Email').fill('alice@example.test');
    await dialog.getByLabel('Initial password').fill(PASSWORD);
    await dialog.getByRole('button', { name: 'Create user' }).click();
    await admin.getByRole('cell', { name: 'alice' }).first().waitFor();
    await shot(admin, '02-users');
    await admin.goto(`${gh.portalUrl}/#/groups`);
    await admin.getByRole('link', { name: 'engineering' }).click();
    await admin.getByRole('button', { name: 'Add members' }).click();
    await admin.getByLabel('Find users').and(admin.locator('input')).fill('alice');
    await admin.getByRole('button', { name: 'Add alice' }).click();
    await admin.getByRole('button', { name: 'Done' }).click();

    // The fixture MCP: created, validated, discovered and published for the group.
    const fixture = fixtureStdioCommand();
    await admin.goto(`${gh.portalUrl}/#/mcps/new`);
    await admin.getByLabel('Slug').fill('fx');
    await admin.getByLabel('Name', { exact: true }).fill('Fixture');
    await admin.getByLabel('Transport').selectOption('stdio');
    await admin.getByLabel('Command').fill(fixture.command);
    await admin.getByLabel('Arguments').fill(fixture.args.join('\n'));
    await admin.getByRole('checkbox', { name: 'engineering' }).check();
    await shot(admin, '03-mcp-create');
    await admin.getByRole('button', { name: 'Create MCP' }).click();
    await admin.getByRole('button', { name: 'Validate' }).click();
    await admin.getByRole('button', { name: 'Discover tools' }).click();
    await admin.getByText('whoami').first().waitFor();
    await admin.getByRole('button', { name: 'Publish' }).click();
    await admin.getByText('published').first().waitFor();
    const mcpUrl = admin.url();
    await shot(admin, '04-mcp-detail');

    // Alice subscribes a new client to two tools and takes its key.
    const user = await newPage();
    await signIn(user, 'alice', PASSWORD);
    await user.goto(`${gh.portalUrl}/#/marketplace`);
    await user.getByText('Fixture').first().waitFor();
    await shot(user, '05-marketplace');
    await user.goto(`${gh.portalUrl}/#/my/clients`);
    await user.getByRole('button', { name: 'New client' }).click();
    await user.getByRole('dialog').getByLabel('Name').fill('Alice laptop');
    await user.getByRole('dialog').getByRole('button', { name: 'Create client' }).click();
    const keyField = user.getByLabel('Client key');
    await keyField.waitFor();
    const key = (await keyField.inputValue()).trim();
    expect(key.length).toBeGreaterThan(20);
    // "Copy" puts exactly the key on the clipboard.
    await user.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gh.portalUrl });
    await user.getByRole('button', { name: 'Copy', exact: true }).first().click();
    await expect(user.evaluate(() => navigator.clipboard.readText())).resolves.toBe(key);
    await shot(user, '06-client-key');
    await user.keyboard.press('Escape');
    await user.goto(`${gh.portalUrl}/#/my/clients`);
    await user.getByRole('link', { name: 'Alice laptop' }).click();
    await user.getByRole('button', { name: 'Add MCP' }).click();
    const subscribe = user.getByRole('dialog');
    await subscribe.getByLabel('MCP').selectOption({ label: 'Fixture' });
    await subscribe.getByRole('button', { name: 'Select none' }).click();
    await subscribe.getByRole('checkbox', { name: 'echo', exact: true }).check();
    await subscribe.getByRole('checkbox', { name: 'whoami', exact: true }).check();
    await subscribe.getByRole('button', { name: 'Subscribe' }).click();
    await user.getByText('echo').first().waitFor();
    await shot(user, '07-my-client');

    // A real MCP client with that key sees exactly the two tools and calls one.
    const mcp = await connectMcpClient(gh, key);
    open.push(mcp);
    const tools = (await mcp.listTools()).tools.map((tool) => tool.name).sort();
    expect(tools).toEqual(['fx__echo', 'fx__whoami']);
    expect(
      textOf(await mcp.callTool({ name: 'fx__echo', arguments: { message: 'through the portal' } })),
    ).toContain('through the portal');

    // The call is in the admin's audit explorer and in Alice's activity.
    await admin.goto(`${gh.portalUrl}/#/audit`);
    await admin.getByLabel('Event type').selectOption('tool.call');
    await admin.getByRole('button', { name: 'Apply filters' }).click();
    const row = admin.getByRole('row').filter({ hasText: 'fx · echo' });
    await row.first().waitFor();
    await expect(row.first().textContent()).resolves.toContain('alice');
    await shot(admin, '08-audit');
    await row
      .first()
      .getByRole('button', { name: /Details/ })
      .click();
    await admin.getByRole('dialog').getByText('Previous hash').waitFor();
    await admin.keyboard.press('Escape');
    await user.goto(`${gh.portalUrl}/#/my/activity`);
    await user.getByRole('row').filter({ hasText: 'fx · echo' }).first().waitFor();
    await shot(user, '09-activity');
    await admin.goto(`${gh.portalUrl}/#/overview`);
    await admin.getByRole('heading', { name: 'Calls and error rate, last 24 hours' }).waitFor();
    await admin.locator('canvas').first().waitFor();
    await shot(admin, '10-overview');

    // On a phone-sized screen the pages reflow instead of scrolling sideways.
    await user.setViewportSize({ width: 390, height: 844 });
    for (const [hash, name] of [
      ['#/marketplace', '13-narrow-marketplace'],
      ['#/my/clients', '14-narrow-my-clients'],
      ['#/my/activity', '15-narrow-activity'],
    ] as const) {
      await user.goto(`${gh.portalUrl}/${hash}`);
      await user.getByRole('heading', { level: 1 }).waitFor();
      await shot(user, name);
      const overflow = await user.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, hash).toBeLessThanOrEqual(0);
    }

    // The admin kills the MCP: the next call fails.
    await admin.goto(mcpUrl);
    await admin.getByRole('button', { name: 'Kill…' }).click();
    await admin.getByRole('dialog').getByLabel('Reason').fill('incident 42');
    await admin.getByRole('dialog').getByRole('button', { name: 'Kill MCP' }).click();
    await admin.getByRole('button', { name: 'Un-kill' }).waitFor();
    const after = await mcp.callTool({ name: 'fx__echo', arguments: { message: 'again' } }).then(
      (result) => (result.isError ? textOf(result) : 'succeeded'),
      (error: Error) => error.message,
    );
    expect(after).toMatch(/killed/);
  }, 180_000);

  it('lets a user fill a credential form whose secret reaches only their own instance, write-only', async () => {
    const admin = portalClient(gh.portalUrl);
    await admin.signIn(ADMIN.username, ADMIN.password);
    const everyone = (await admin.groups.list.query()).items.find((group) => group.builtIn)?.id ?? '';
    const created = await admin.catalog.create.mutate({
      slug: 'keyed',
      name: 'Keyed fixture',
      config: {
        isolation: 'per-user',
        connection: { transport: 'stdio', ...fixtureStdioCommand() },
        credentials: [
          {
            name: 'API_TOKEN',
            label: 'API token',
            secret: true,
            required: true,
            inject: { into: 'env', name: 'FIXTURE_CREDENTIAL' },
          },
        ],
      },
      groupIds: [everyone],
    });
    await admin.catalog.validate.mutate({ id: created.id });
    await admin.catalog.discover.mutate({
      id: created.id,
      temporaryCredentials: { API_TOKEN: 'discovery-only' },
    });
    await admin.catalog.publish.mutate({ id: created.id });
    const bob = await createSignedInUser(gh, admin as PortalClient, 'bob', PASSWORD);
    const client = await bob.portal.clients.create.mutate({ name: 'Bob agent', kind: 'agent' });
    await bob.portal.subscriptions.create.mutate({ clientId: client.client.id, mcpId: created.id });

    const page = await newPage();
    await signIn(page, 'bob', PASSWORD);
    await page.goto(`${gh.portalUrl}/#/my/credentials`);
    const secret = 'bob-secret-token-value-123';
    await page.getByLabel('API token').fill(secret);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/set/i).first().waitFor();
    await shot(page, '11-credentials');
    expect(await page.content()).not.toContain(secret);
    await expect(page.getByLabel('API token').inputValue()).resolves.toBe('');

    const mcp = await connectMcpClient(gh, client.key);
    open.push(mcp);
    const me = JSON.parse(textOf(await mcp.callTool({ name: 'keyed__whoami', arguments: {} }))) as {
      credentialHash: string;
    };
    expect(me.credentialHash).toBe(createHash('sha256').update(secret).digest('hex'));
  }, 120_000);

  it('shows a changed tool definition as a readable diff that the admin approves', async () => {
    const admin = portalClient(gh.portalUrl);
    await admin.signIn(ADMIN.username, ADMIN.password);
    const fx = (await admin.catalog.list.query()).items.find((item) => item.slug === 'fx');
    expect(fx).toBeDefined();
    await admin.killSwitches.release.mutate({
      targetType: 'mcp',
      targetId: fx?.id ?? '',
      reason: 'resolved',
    });
    // The fixture is granted to the engineering group only: the admin joins it to subscribe a probe.
    const engineering = (await admin.groups.list.query()).items.find((group) => group.name === 'engineering');
    const me = await admin.auth.me.query();
    await admin.groups.addMember.mutate({ groupId: engineering?.id ?? '', userId: me.user.id });
    // The admin's own client calls the fixture's set-description tool: the downstream changes a definition.
    const own = await admin.clients.create.mutate({ name: 'Admin probe', kind: 'agent' });
    await admin.subscriptions.create.mutate({ clientId: own.client.id, mcpId: fx?.id ?? '' });
    const mcp = await connectMcpClient(gh, own.key);
    open.push(mcp);
    await mcp.callTool({
      name: 'fx__set-description',
      arguments: { tool: 'echo', description: 'Echoes, and now also phones home' },
    });

    const page = await newPage();
    await signIn(page, ADMIN.username, ADMIN.password);
    await page.goto(`${gh.portalUrl}/#/mcps/${fx?.id}`);
    await page.getByText('changed').first().waitFor({ timeout: 30_000 });
    await page.getByText('Echoes, and now also phones home').first().waitFor();
    await shot(page, '12-pin-review');
    await page.getByRole('button', { name: 'Approve' }).first().click();
    await expect
      .poll(
        async () =>
          (await admin.catalog.pins.query({ id: fx?.id ?? '' })).items.find((pin) => pin.name === 'echo')
            ?.state,
      )
      .toBe('approved');
  }, 120_000);
});
