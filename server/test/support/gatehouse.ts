import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import type { AppRouter } from '../../src/index.js';
import { type RunningGatehouse, startGatehouse } from '../../src/main.js';
import type { Clock } from '../../src/platform/clock.js';
import { loadConfig } from '../../src/platform/config.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface TestGatehouse extends RunningGatehouse {
  db: TestDatabase;
  /** Every log line the server wrote, as text. */
  logs: string[];
  stop(): Promise<void>;
}

/**
 * Starts a real Gatehouse (both listeners on free ports) on its own fresh database. Suites whose assertions
 * depend on the time pass a `clock` (see support/clock.ts); the others run on the system clock.
 */
export async function startTestGatehouse(
  env: Record<string, string> = {},
  options: { clock?: Clock } = {},
): Promise<TestGatehouse> {
  const db = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-test-data-'));
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const config = loadConfig({
    DATABASE_URL: db.url,
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_CLIENT_PORT: '0',
    GATEHOUSE_PORTAL_PORT: '0',
    GATEHOUSE_LOG_LEVEL: 'debug',
    GATEHOUSE_SHUTDOWN_GRACE_SECONDS: '5',
    ...env,
  });
  const running = await startGatehouse(config, { logDestination, clock: options.clock });
  return Object.assign(running, {
    db,
    logs,
    stop: async () => {
      await running.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

export interface PortalClientOptions {
  /** Send a matching Origin header (a browser on our own page would). */
  origin?: boolean;
  /** Send the CSRF header with the session's token. */
  csrf?: boolean;
  bearer?: string;
}

/**
 * A typed tRPC client that behaves like the portal in a browser: it keeps the session cookie and sends
 * Origin and the CSRF header, each of which a test can switch off.
 */
export function portalClient(baseUrl: string, options: PortalClientOptions = {}) {
  const state = { cookie: '', csrfToken: '' as string | null, setCookies: [] as string[] };
  const opts = { origin: true, csrf: true, ...options };
  const client = createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${baseUrl}/trpc`,
        headers: () => ({
          ...(opts.origin && { origin: baseUrl }),
          ...(opts.csrf && { 'x-gatehouse-csrf': state.csrfToken || 'login' }),
          ...(state.cookie && { cookie: state.cookie }),
          ...(opts.bearer && { authorization: `Bearer ${opts.bearer}` }),
        }),
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          const cookies = response.headers.getSetCookie();
          if (cookies.length > 0) state.setCookies = cookies;
          for (const cookie of cookies) {
            const [pair = ''] = cookie.split(';');
            const [name, value] = pair.split('=');
            if (name?.includes('gh_session')) state.cookie = value ? `${name}=${value}` : '';
          }
          return response;
        },
      }),
    ],
  });
  const extras = {
    state,
    async signIn(username: string, password: string) {
      const me = await client.auth.login.mutate({ username, password });
      state.csrfToken = me.csrfToken;
      return me;
    },
  };
  // The tRPC client is a Proxy that treats every property as a procedure path, so extras live beside it.
  return new Proxy(client, {
    get: (target, property) =>
      property in extras ? extras[property as keyof typeof extras] : Reflect.get(target, property),
  }) as typeof client & typeof extras;
}
export type PortalClient = ReturnType<typeof portalClient>;

export const ADMIN = {
  username: 'root-admin',
  displayName: 'Root Admin',
  email: 'root@example.test',
  password: 'tEst-admin-passw0rd!',
};

/** Completes first-run setup and returns a signed-in admin client. */
export async function setUpAdmin(gh: TestGatehouse): Promise<PortalClient> {
  const admin = portalClient(gh.portalUrl);
  const me = await admin.setup.createFirstAdmin.mutate(ADMIN);
  admin.state.csrfToken = me.csrfToken;
  return admin;
}

/** A user created by an admin, and a portal client signed in as them. */
export async function createSignedInUser(
  gh: TestGatehouse,
  admin: PortalClient,
  username: string,
  password: string,
): Promise<{ id: string; portal: PortalClient }> {
  const user = await admin.users.create.mutate({
    username,
    displayName: username,
    email: `${username}@example.test`,
    password,
    role: 'user',
  });
  const portal = portalClient(gh.portalUrl);
  await portal.signIn(username, password);
  return { id: user.id, portal };
}

/** A real MCP SDK client on the endpoint, authenticated with a client key. */
export async function connectMcpClient(
  gh: TestGatehouse,
  key: string,
  name = 'gatehouse-test',
): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${gh.clientUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

/** The gatehouse error code and HTTP status of a failed call. */
export async function failureOf(
  promise: Promise<unknown>,
): Promise<{ code: string; status: number; message: string; fieldErrors?: Record<string, string[]> }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCClientError) {
      const data = error.data as {
        gatehouseCode: string;
        httpStatus: number;
        fieldErrors?: Record<string, string[]>;
      };
      return {
        code: data.gatehouseCode,
        status: data.httpStatus,
        message: error.message,
        fieldErrors: data.fieldErrors,
      };
    }
    throw error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export interface AuditRowView {
  id: string;
  action: string;
  actor_type: string;
  actor_user_id: string | null;
  actor_token_id: string | null;
  target_id: string | null;
  outcome: string;
  reason: string | null;
  ip: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
}

export const auditRows = (gh: TestGatehouse, action?: string) =>
  gh.db.query<AuditRowView>(
    `select * from audit_event ${action ? 'where action = $1' : ''} order by id`,
    action ? [action] : [],
  );
