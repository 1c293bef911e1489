import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { type RunningGatehouse, startGatehouse } from '../../src/main.js';
import type { Clock } from '../../src/platform/clock.js';
import { loadConfig } from '../../src/platform/config.js';
import type { TestDatabase } from './database.js';

/** A clock a test sets and moves by hand. */
export interface ClusterMember extends RunningGatehouse {
  logs: string[];
  /** Stops this process; the database is left to the test. */
  stop(): Promise<void>;
}

/**
 * Starts a Gatehouse on an existing database, so a test can run several processes side by side on one
 * database (as replicas would), each with its own listeners, caches and in-process throttle front.
 */
export async function startGatehouseOn(
  databaseUrl: string,
  options: { env?: Record<string, string>; clock?: Clock } = {},
): Promise<ClusterMember> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-cluster-data-'));
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_CLIENT_PORT: '0',
    GATEHOUSE_PORTAL_PORT: '0',
    GATEHOUSE_LOG_LEVEL: 'debug',
    GATEHOUSE_SHUTDOWN_GRACE_SECONDS: '5',
    // Fixed, known master key: every member must open what another sealed.
    GATEHOUSE_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
    ...options.env,
  });
  const running = await startGatehouse(config, { logDestination, clock: options.clock });
  return Object.assign(running, {
    logs,
    stop: async () => {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

export const throttleHits = async (db: TestDatabase, bucket: string) =>
  Number(
    (await db.query<{ hits: number }>('select hits from auth_throttle where bucket = $1', [bucket]))[0]
      ?.hits ?? 0,
  );

/**
 * Sends a request's head and then whatever `body` does with the socket; resolves with everything the server
 * wrote and when the socket closed (ms after the head was sent).
 */
export function rawRequest(
  url: string,
  head: string,
  body: (socket: import('node:net').Socket) => void = () => undefined,
  waitMs = 10_000,
): Promise<{ response: string; firstByteMs: number | null; closedMs: number | null }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let response = '';
    let firstByteMs: number | null = null;
    let started = 0;
    const finish = (closedMs: number | null) => {
      clearTimeout(timer);
      resolve({ response, firstByteMs, closedMs });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      finish(null);
    }, waitMs);
    socket.on('connect', () => {
      started = performance.now();
      socket.write(head);
      body(socket);
    });
    socket.on('data', (chunk) => {
      firstByteMs ??= performance.now() - started;
      response += chunk.toString('utf8');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => finish(performance.now() - started));
  });
}
