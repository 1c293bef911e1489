import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fixtureStdioCommand } from '../../server/test/fixtures/fixture-launch.js';

/**
 * The peer gateways, run from npm at the exact versions pinned in `bench/package.json`, each as its own
 * process so its CPU and memory are read from /proc like Gatehouse's:
 * - `mcp-proxy` fronting the stdio fixture (one child it spawns), with its API-key check on (`X-API-Key`);
 * - `@civic/passthrough-mcp-server` passing HTTP through to the same Streamable HTTP fixture Gatehouse uses,
 *   started by `peers/civic-passthrough.mjs` (the package is a library; it has no auth and no audit).
 */

export interface PeerProcess {
  name: 'mcp-proxy' | 'civic-passthrough';
  /** Its MCP endpoint. */
  url: string;
  /** Headers every request to it needs. */
  headers: Record<string, string>;
  pid: number;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);
const START_TIMEOUT_MS = 60_000;

/** A port nothing listens on right now (the peers take a port number, not 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts `args` under Node.js and waits until `port` accepts connections (or the process dies). */
async function startListening(args: string[], port: number, label: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4096);
  });
  const started = performance.now();
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${label} exited before listening:\n${stderr}`);
    }
    if (performance.now() - started > START_TIMEOUT_MS) {
      child.kill('SIGKILL');
      throw new Error(`${label} did not listen within ${START_TIMEOUT_MS / 1000} s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return child;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  };
}

/** `mcp-proxy` (stateful Streamable HTTP at /mcp) in front of one stdio fixture, API key required. */
export async function startMcpProxy(): Promise<PeerProcess> {
  const bin = path.join(path.dirname(require.resolve('mcp-proxy')), 'bin/mcp-proxy.mjs');
  const port = await freePort();
  const apiKey = randomBytes(24).toString('base64url');
  const fixture = fixtureStdioCommand();
  const args = [bin, '--port', String(port), '--host', '127.0.0.1', '--apiKey', apiKey, '--server', 'stream'];
  const child = await startListening([...args, '--', fixture.command, ...fixture.args], port, 'mcp-proxy');
  return {
    name: 'mcp-proxy',
    url: `http://127.0.0.1:${port}/mcp`,
    headers: { 'x-api-key': apiKey },
    pid: child.pid ?? 0,
    stop: stopper(child),
  };
}

/** `@civic/passthrough-mcp-server` at /mcp, passing every session through to `targetUrl`. */
export async function startCivicPassthrough(targetUrl: string): Promise<PeerProcess> {
  const launcher = path.join(import.meta.dirname, 'peers/civic-passthrough.mjs');
  const port = await freePort();
  const child = await startListening([launcher, String(port), targetUrl], port, 'civic passthrough');
  return {
    name: 'civic-passthrough',
    url: `http://127.0.0.1:${port}/mcp`,
    headers: {},
    pid: child.pid ?? 0,
    stop: stopper(child),
  };
}
