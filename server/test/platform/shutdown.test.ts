import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { setUpAdmin, startTestGatehouse } from '../support/gatehouse.js';
import {
  connectMcp,
  type GatehouseProcess,
  type Launch,
  postmasterPidOf,
  prepareToolAccess,
  spawnGatehouse,
  textOf,
} from '../support/gatehouse-process.js';
import { descendantPids, isAlive, waitFor } from '../support/processes.js';

interface StopCase {
  name: string;
  launch: Launch;
  startTimeoutMs: number;
  stop(gh: GatehouseProcess): void;
}

const cases: StopCase[] = [
  {
    name: 'SIGTERM to the server process',
    launch: 'direct',
    startTimeoutMs: 60_000,
    stop: (gh) => process.kill(gh.serverPid, 'SIGTERM'),
  },
  {
    name: 'Ctrl-C: SIGINT to the whole process group of `npx pnpm gatehouse start`',
    launch: 'pnpm-gatehouse',
    startTimeoutMs: 90_000,
    stop: (gh) => process.kill(-(gh.child.pid ?? 0), 'SIGINT'),
  },
  {
    name: "SIGTERM to the launcher of the README's start command (`npx pnpm … start`)",
    launch: 'pnpm-start',
    startTimeoutMs: 90_000,
    stop: (gh) => process.kill(gh.child.pid ?? 0, 'SIGTERM'),
  },
];

describe('stopping Gatehouse on embedded PostgreSQL', () => {
  for (const stopCase of cases) {
    it(`${stopCase.name} drains the call in flight, exits 0 and leaves no process behind`, async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-stop-'));
      let gh: GatehouseProcess | undefined;
      let tree: number[] = [];
      try {
        gh = await spawnGatehouse(
          dataDir,
          stopCase.launch,
          { GATEHOUSE_SHUTDOWN_GRACE_SECONDS: '120' },
          stopCase.startTimeoutMs,
        );
        const started = gh;
        const mcp = await connectMcp(started.clientUrl, (await prepareToolAccess(started.portalUrl)).key);
        expect(textOf(await mcp.callTool({ name: 'fx__echo', arguments: { message: 'warm' } }))).toBe('warm');
        const postmaster = postmasterPidOf(dataDir) ?? 0;
        // The launcher chain, the server, its downstream instance and the postmaster with its backends.
        tree = [started.child.pid ?? 0, ...descendantPids(started.child.pid)];
        expect(tree).toContain(postmaster);
        expect(tree).toContain(started.serverPid);
        let signalled = false;
        // The signal goes out once the downstream is working on the call (its first progress notification).
        const result = await mcp.callTool(
          { name: 'fx__progress', arguments: { steps: 15, intervalMs: 200 } },
          undefined,
          {
            timeout: 60_000,
            onprogress: () => {
              if (signalled) return;
              signalled = true;
              stopCase.stop(started);
            },
          },
        );
        expect(signalled).toBe(true);
        expect(result.isError ?? false).toBe(false);
        expect(textOf(result)).toBe('done 15');
        await mcp.close().catch(() => undefined);
        const launcherExit = await started.exited;
        await waitFor(() => tree.every((pid) => !isAlive(pid)), 'every process of the tree to end', 30_000);
        expect(isAlive(postmaster)).toBe(false);
        const output = started.output();
        expect(output).toMatch(/"msg":"Gatehouse stopped"/);
        expect(output).not.toMatch(/shutdown failed|grace period elapsed/);
        // The signal never reached the database: it was not restarted during the drain, Gatehouse stopped it.
        expect(output).not.toMatch(/embedded PostgreSQL exited unexpectedly/);
        expect(output).toMatch(/"exitCode":0,"msg":"exiting"/);
        if (stopCase.launch === 'direct') expect(launcherExit).toBe(0);
        // npm re-raises the Ctrl-C it got on itself (so a shell sees the job was interrupted); otherwise the
        // launcher chain passes the server's 0 on.
        else if (stopCase.launch === 'pnpm-gatehouse')
          expect(String(started.child.signalCode ?? launcherExit)).toMatch(/^(SIGINT|0)$/);
        else expect(String(started.child.signalCode ?? launcherExit)).toMatch(/^(SIGTERM|0)$/);
      } catch (error) {
        // What the launcher chain and Gatehouse said is the only trace of a failed stop.
        throw new Error(`${String(error)}\n--- output ---\n${gh?.output() ?? ''}`);
      } finally {
        // A failed run must not leave its processes to the next suites.
        if (gh && gh.child.exitCode === null && gh.child.signalCode === null) tree.push(gh.child.pid ?? 0);
        for (const pid of tree.filter(isAlive)) process.kill(pid, 'SIGKILL');
        rmSync(dataDir, { recursive: true, force: true });
      }
    }, 420_000);
  }
});

describe('shutdown with an open GET stream on /mcp', () => {
  it('closes the idle stream at once instead of waiting the grace period', async () => {
    const gh = await startTestGatehouse({ GATEHOUSE_SHUTDOWN_GRACE_SECONDS: '60' });
    let stopped = false;
    try {
      const admin = await setUpAdmin(gh);
      const { key } = await admin.clients.create.mutate({ name: 'stream holder', kind: 'agent' });
      const headers = {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      };
      const init = await fetch(`${gh.clientUrl}/mcp`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'get', version: '1' },
          },
        }),
      });
      expect(init.status).toBe(200);
      const session = init.headers.get('mcp-session-id') ?? '';
      await init.text();
      const sessionHeaders = { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' };
      await fetch(`${gh.clientUrl}/mcp`, {
        method: 'POST',
        headers: sessionHeaders,
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
      }).then((response) => response.text());
      const stream = await fetch(`${gh.clientUrl}/mcp`, {
        method: 'GET',
        headers: { ...sessionHeaders, accept: 'text/event-stream' },
      });
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
      const streamEnded = stream.text().then(
        () => 'ended',
        () => 'ended',
      );

      // A real SDK client too: it holds its own GET stream and reconnects it when the server closes it.
      const sdkClient = await connectMcp(gh.clientUrl, key);
      await sdkClient.ping();

      const started = performance.now();
      await gh.close();
      stopped = true;
      const elapsed = performance.now() - started;
      expect(await streamEnded).toBe('ended');
      // The grace is 60 s: a shutdown that waited for the stream would take all of it.
      expect(elapsed).toBeLessThan(10_000);
      expect(gh.logs.join('')).not.toMatch(/grace period elapsed/);
      await sdkClient.close();
    } finally {
      if (stopped) {
        await gh.db.drop();
        rmSync(gh.config.dataDir, { recursive: true, force: true });
      } else {
        await gh.stop();
      }
    }
  }, 120_000);
});
