import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectMcp,
  type GatehouseProcess,
  postmasterPidOf,
  prepareToolAccess,
  runCli,
  spawnGatehouse,
  textOf,
} from '../support/gatehouse-process.js';
import { descendantPids, isAlive, waitFor } from '../support/processes.js';

/** The embedded PostgreSQL of a serving Gatehouse: CLI commands beside it, supervision, bounded readiness. */
describe('a serving Gatehouse on embedded PostgreSQL', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-embedded-'));
  let gh: GatehouseProcess;
  let mcp: Client;
  let echoes = 0;

  const echo = async () => {
    echoes += 1;
    const result = await mcp.callTool({ name: 'fx__echo', arguments: { message: `call ${echoes}` } });
    expect(result.isError ?? false).toBe(false);
    expect(textOf(result)).toContain(`call ${echoes}`);
  };

  beforeAll(async () => {
    gh = await spawnGatehouse(dataDir, 'direct');
    mcp = await connectMcp(gh.clientUrl, (await prepareToolAccess(gh.portalUrl)).key);
    await echo();
  }, 120_000);

  afterAll(async () => {
    await mcp?.close().catch(() => undefined);
    if (gh && gh.child.exitCode === null) {
      gh.child.kill('SIGTERM');
      await gh.exited;
    }
    const postmaster = postmasterPidOf(dataDir);
    if (postmaster && isAlive(postmaster)) process.kill(postmaster, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('keeps serving tool calls while every CLI command runs beside it, on its database', async () => {
    const postmaster = postmasterPidOf(dataDir) ?? 0;
    const keyring = JSON.parse(readFileSync(path.join(dataDir, 'keyring.json'), 'utf8')) as {
      active: string;
    };
    const commands: { args: string[]; code: number; says: RegExp }[] = [
      { args: ['migrate'], code: 0, says: /migrations applied/ },
      { args: ['migration:create'], code: 0, says: /no schema difference/ },
      { args: ['audit', 'verify'], code: 0, says: /audit chain intact/ },
      { args: ['audit', 'export', '--out', path.join(dataDir, 'export.jsonl')], code: 0, says: /exported/ },
      { args: ['audit', 'retention'], code: 0, says: /\{|\[/ },
      { args: ['vault', 'status'], code: 0, says: /"activeKeyId"/ },
      { args: ['vault', 'rotate'], code: 0, says: /active key/ },
      { args: ['vault', 'retire', keyring.active], code: 0, says: /retired key/ },
      // A second server on the same data dir is refused, naming the one that serves.
      {
        args: ['start'],
        code: 1,
        says: new RegExp(`Gatehouse server \\(pid ${gh.serverPid}\\) is already serving`),
      },
    ];
    for (const command of commands) {
      const ran = await runCli(dataDir, command.args);
      expect({ args: command.args, code: ran.code }).toEqual({ args: command.args, code: command.code });
      expect(ran.output).toMatch(command.says);
      expect(ran.output).not.toMatch(/orphaned/);
      if (command.code === 0)
        expect(ran.output).toMatch(/using the embedded PostgreSQL of the running Gatehouse/);
      // The server's database was neither stopped nor replaced, and the same session keeps working.
      expect(postmasterPidOf(dataDir)).toBe(postmaster);
      expect(isAlive(postmaster)).toBe(true);
      await echo();
    }
    // An export to stdout is JSONL only (the command logs to stderr), and it holds the commands' own
    // audited mutations: they wrote to the server's database.
    const exported = await runCli(dataDir, ['audit', 'export']);
    expect(exported.code).toBe(0);
    const events = exported.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { action: string });
    expect(events.map((event) => event.action)).toEqual(
      expect.arrayContaining(['audit.export', 'vault.rotate', 'vault.retire_key']),
    );
    expect(exported.output).toMatch(/using the embedded PostgreSQL of the running Gatehouse/);
    const verify = await runCli(dataDir, ['audit', 'verify']);
    expect(verify.output).toMatch(/audit chain intact/);
    expect(gh.output()).not.toMatch(/embedded PostgreSQL exited unexpectedly/);
  }, 240_000);

  it('answers /readyz 503 within its bound while the database is frozen, and 200 once it thaws', async () => {
    const postmaster = postmasterPidOf(dataDir) ?? 0;
    // Every PostgreSQL process: backends call setsid(), so they are not in the postmaster's group.
    const frozen = [postmaster, ...descendantPids(postmaster)];
    expect(frozen.length).toBeGreaterThan(1);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      for (const url of [gh.clientUrl, gh.portalUrl]) {
        const started = performance.now();
        const response = await fetch(`${url}/readyz`);
        const elapsed = performance.now() - started;
        expect(response.status).toBe(503);
        expect(await response.json()).toEqual({ status: 'not-ready', reason: 'database not answering' });
        // The bound is 2 s; the margin absorbs a loaded machine.
        expect(elapsed).toBeLessThan(5_000);
      }
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    await waitFor(async () => (await fetch(`${gh.portalUrl}/readyz`)).status === 200, 'ready again', 20_000);
    await echo();
  }, 60_000);

  it('restarts its postmaster after kill -9 and serves again without a Gatehouse restart', async () => {
    const postmaster = postmasterPidOf(dataDir) ?? 0;
    process.kill(postmaster, 'SIGKILL');
    await waitFor(() => !isAlive(postmaster), 'the postmaster to die');
    const restarted = await waitFor(
      () => {
        const pid = postmasterPidOf(dataDir);
        return pid && pid !== postmaster && isAlive(pid) ? pid : undefined;
      },
      'a new postmaster',
      60_000,
    );
    await waitFor(async () => (await fetch(`${gh.portalUrl}/readyz`)).status === 200, 'ready again', 30_000);
    // The same MCP session, on the same Gatehouse process: the connection pools reconnected by themselves.
    await waitFor(
      async () => {
        try {
          await echo();
          return true;
        } catch {
          return false;
        }
      },
      'a tool call to succeed again',
      30_000,
    );
    await echo();
    expect(gh.child.exitCode).toBeNull();
    expect(isAlive(gh.serverPid)).toBe(true);
    expect(gh.output()).toMatch(/embedded PostgreSQL exited unexpectedly; restarting it/);
    expect(gh.output()).toMatch(/embedded PostgreSQL restarted/);
    const verify = await runCli(dataDir, ['audit', 'verify']);
    expect(verify.output).toMatch(/audit chain intact/);
    expect(postmasterPidOf(dataDir)).toBe(restarted);
  }, 120_000);

  it('recovers only a truly orphaned postmaster: a command after the server was killed stops it', async () => {
    const postmaster = postmasterPidOf(dataDir) ?? 0;
    process.kill(gh.serverPid, 'SIGKILL');
    await gh.exited;
    expect(isAlive(postmaster)).toBe(true);
    const status = await runCli(dataDir, ['vault', 'status']);
    expect(status.code).toBe(0);
    expect(status.output).toMatch(/stopping an orphaned embedded PostgreSQL whose Gatehouse is gone/);
    expect(isAlive(postmaster)).toBe(false);
    // The command stopped the database it started for itself, and left the data dir unlocked.
    expect(isAlive(postmasterPidOf(dataDir) ?? 0)).toBe(false);
    const again = await runCli(dataDir, ['vault', 'status']);
    expect(again.code).toBe(0);
    expect(again.output).not.toMatch(/orphaned/);
  }, 120_000);
});
