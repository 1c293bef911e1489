import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { waitFor } from '../support/processes.js';

const serverDir = path.resolve(import.meta.dirname, '../..');

/** A TCP relay in front of PostgreSQL that a test can cut, as a database outage would. */
class DatabaseLink {
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  port = 0;

  async open(target: { host: string; port: number }): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** New connections are refused and open ones are dropped. */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server?.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

describe('a database outage as clients see it', () => {
  let db: TestDatabase;
  let child: ChildProcess;
  let dataDir: string;
  const link = new DatabaseLink();
  let output = '';

  beforeAll(async () => {
    db = await createTestDatabase();
    const direct = new URL(db.url);
    await link.open({ host: direct.hostname, port: Number(direct.port || 5432) });
    const relayed = new URL(db.url);
    relayed.port = String(link.port);
    dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-outage-'));
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
      cwd: serverDir,
      env: {
        ...process.env,
        DATABASE_URL: relayed.toString(),
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_CLIENT_PORT: '0',
        GATEHOUSE_PORTAL_PORT: '0',
        GATEHOUSE_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk) => {
      output += String(chunk);
    });
    child.stderr?.on('data', (chunk) => {
      output += String(chunk);
    });
  }, 30_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers an unknown key with a typed 503 and no internal text, and logs only JSON lines', async () => {
    const clientUrl = await waitFor(
      () => /"clientUrl":"(http:\/\/[^"]+)"/.exec(output)?.[1],
      'the server to start',
      60_000,
    );
    await link.cut();

    const response = await fetch(`${clientUrl}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: 'Bearer gh_ck_unknownunknownunknownunknownunknownunknown1',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    const text = await response.text();
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(JSON.parse(text)).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32000, message: 'Gatehouse is temporarily unavailable; retry later' },
    });
    expect(text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|connect|postgres/i);

    // Still serving (not crashed by the dropped connections), and every line it wrote is a JSON record.
    expect((await fetch(`${clientUrl}/healthz`)).status).toBe(200);
    const lines = output.split('\n').filter((line) => line.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
  }, 90_000);
});
