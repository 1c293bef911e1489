import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpAdmin, startTestGatehouse, type TestGatehouse } from '../support/gatehouse.js';

const CONFORMANCE = '@modelcontextprotocol/conformance@0.1.16';
/** Marked pending in 0.1.16 (see docs/conformance.md); every other server scenario must pass. */
const PENDING = new Set(['json-schema-2020-12', 'server-sse-polling']);
const fixturePath = path.join(import.meta.dirname, '../fixtures/conformance-server.ts');
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;

/**
 * The suite's client sends no Authorization header and has no option for one, so it talks to a loopback
 * relay that adds the client key and passes everything else (Host, Origin, bodies, streams) through.
 * Gatehouse itself runs with authentication on, as in production.
 */
function keyRelay(target: () => URL, key: () => string): Promise<Server> {
  const relay = createServer((incoming, outgoing) => {
    const upstream = target();
    const forwarded = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, authorization: `Bearer ${key()}` },
      },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(outgoing);
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
    outgoing.on('close', () => forwarded.destroy());
  });
  return new Promise((resolve) => relay.listen(0, '127.0.0.1', () => resolve(relay)));
}

function runSuite(url: string, outputDir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'npx',
      [
        '-y',
        '-p',
        'node@22',
        '-p',
        CONFORMANCE,
        'conformance',
        'server',
        '--url',
        url,
        '--output-dir',
        outputDir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
    );
    let log = '';
    child.stdout.on('data', (chunk) => {
      log += chunk;
    });
    child.stderr.on('data', (chunk) => {
      log += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === null) reject(new Error(`conformance suite was killed\n${log}`));
      else resolve(code);
    });
  });
}

describe('MCP conformance through Gatehouse', () => {
  let gh: TestGatehouse;
  let relay: Server;
  let outputDir: string;

  beforeAll(async () => {
    let gatehouseUrl: URL | undefined;
    let key = '';
    outputDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-conformance-'));
    // The relay learns the target and key once Gatehouse is up.
    relay = await keyRelay(
      () => gatehouseUrl as URL,
      () => key,
    );
    // The default configuration: no GATEHOUSE_MCP_ALLOWED_ORIGINS or _HOSTS. The relay keeps the suite's
    // Host and Origin (127.0.0.1 at the relay's port, or evil.example.com), and Gatehouse, bound to
    // loopback, must tell them apart by itself.
    gh = await startTestGatehouse();
    gatehouseUrl = new URL(gh.clientUrl);
    const admin = await setUpAdmin(gh);
    const everyone = (await admin.groups.list.query()).items.find((group) => group.builtIn)?.id ?? '';
    const mcp = await admin.catalog.create.mutate({
      slug: 'conformance',
      name: 'Conformance fixture',
      config: {
        connection: {
          transport: 'stdio',
          command: process.execPath,
          args: ['--import', tsxLoader, fixturePath, 'stdio'],
        },
        timeouts: { connectMs: 20_000, callMs: 30_000 },
      },
      groupIds: [everyone],
    });
    await admin.catalog.validate.mutate({ id: mcp.id });
    await admin.catalog.discover.mutate({ id: mcp.id });
    await admin.catalog.publish.mutate({ id: mcp.id });
    const client = await admin.clients.create.mutate({ name: 'conformance suite', kind: 'agent' });
    await admin.subscriptions.create.mutate({ clientId: client.client.id, mcpId: mcp.id });
    key = client.key;
  }, 120_000);

  afterAll(async () => {
    await new Promise<void>((resolve) => relay.close(() => resolve()));
    await gh.stop();
    rmSync(outputDir, { recursive: true, force: true });
  });

  it('passes every applicable 0.1.16 server scenario via the passthrough endpoint /mcp/<slug>', async () => {
    const port = (relay.address() as AddressInfo).port;
    await runSuite(`http://127.0.0.1:${port}/mcp/conformance`, outputDir);
    const results = new Map<string, string[]>();
    for (const dir of readdirSync(outputDir)) {
      const scenario = dir.replace(/^server-/, '').replace(/-\d{4}-\d{2}-\d{2}T.*$/, '');
      const checks = JSON.parse(readFileSync(path.join(outputDir, dir, 'checks.json'), 'utf8')) as {
        status: string;
        id: string;
        errorMessage?: string;
      }[];
      results.set(
        scenario,
        checks
          .filter((check) => check.status === 'FAILURE')
          .map((check) => `${check.id}: ${check.errorMessage}`),
      );
    }
    const applicable = [...results.keys()].filter((scenario) => !PENDING.has(scenario));
    expect(applicable).toEqual(
      expect.arrayContaining([
        'server-initialize',
        'tools-call-sampling',
        'tools-call-elicitation',
        'tools-call-with-logging',
        'resources-subscribe',
        'completion-complete',
        'dns-rebinding-protection',
      ]),
    );
    expect(applicable.length).toBeGreaterThanOrEqual(30);
    const failures = Object.fromEntries(
      applicable.filter((s) => (results.get(s) ?? []).length > 0).map((s) => [s, results.get(s)]),
    );
    expect(failures).toEqual({});
  }, 300_000);
});
