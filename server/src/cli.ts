import path from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import { verifyAuditChain } from './audit/verify.js';
import { startGatehouse } from './main.js';
import { ConfigError, loadConfig } from './platform/config.js';
import { openDatabase, ormConfig } from './platform/db.js';
import { createLogger } from './platform/logger.js';

const usage = `Usage: gatehouse <command>

Commands:
  start           start the server (default)
  migrate         apply pending database migrations and exit
  migration:create  (development) write a migration for the difference between entities and the database
  audit verify    walk the audit hash chain and report the first broken link
`;

async function run(args: string[]): Promise<number> {
  const [command = 'start', sub] = args;
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  switch (command) {
    case 'start': {
      const running = await startGatehouse(config);
      const portal = running.portalUrl.replace('127.0.0.1', 'localhost');
      process.stdout.write(
        `\nGatehouse is running.\n  Portal:      ${portal}/\n  Client port: ${running.clientUrl}\n\n`,
      );
      const shutdown = (signal: string) => {
        log.info({ signal }, 'shutting down');
        running.close().then(
          () => process.exit(0),
          (error) => {
            log.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
      return -1;
    }
    case 'migrate': {
      const database = await openDatabase(config, log, { migrate: true });
      await database.close();
      process.stdout.write('migrations applied\n');
      return 0;
    }
    case 'migration:create': {
      const database = await openDatabase(config, log, { migrate: true });
      const migrationsPath = path.resolve(import.meta.dirname, '../../migrations/src');
      const orm = await MikroORM.init(ormConfig(database.url, { log, migrationsPath }));
      try {
        const created = await orm.getMigrator().createMigration(migrationsPath);
        process.stdout.write(
          created.fileName
            ? `wrote ${created.fileName}: review its SQL, then add it to migrations/src/index.ts\n`
            : 'no schema difference\n',
        );
        return 0;
      } finally {
        await orm.close();
        await database.close();
      }
    }
    case 'audit': {
      if (sub !== 'verify') break;
      const database = await openDatabase(config, log, { migrate: false });
      try {
        const result = await verifyAuditChain(database.orm.em.fork());
        if (result.ok) {
          process.stdout.write(`audit chain intact: ${result.verifiedThrough} event(s) verified\n`);
          return 0;
        }
        process.stdout.write(
          `audit chain BROKEN at event ${result.brokenAt}: ${result.problem} (verified through ${result.verifiedThrough})\n`,
        );
        return 1;
      } finally {
        await database.close();
      }
    }
  }
  process.stderr.write(usage);
  return 2;
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error) => {
    if (error instanceof ConfigError) process.stderr.write(`${error.message}\n`);
    else process.stderr.write(`gatehouse: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
