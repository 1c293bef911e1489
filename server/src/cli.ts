import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { MikroORM } from '@mikro-orm/postgresql';
import { verifyAuditChain } from './audit/verify.js';
import { startGatehouse } from './main.js';
import { ChangeBus } from './platform/change-bus.js';
import { ConfigError, loadConfig } from './platform/config.js';
import { systemContext } from './platform/context.js';
import { openDatabase, ormConfig } from './platform/db.js';
import { createLogger } from './platform/logger.js';
import { Keyring } from './vault/keyring.js';
import { retireKey, rotateVault, vaultStatus } from './vault/rotation.js';
import { Vault } from './vault/vault.js';

const usage = `Usage: gatehouse <command>

Commands:
  start           start the server (default)
  migrate         apply pending database migrations and exit
  migration:create  (development) write a migration for the difference between entities and the database
  audit verify    walk the audit hash chain and report the first broken link
  vault status    show the master key ids and how many secrets each one seals
  vault rotate    add a new active master key and re-seal every secret with it (keyring file only);
                  with --resume, only re-seal what is not on the active key yet
  vault retire <key id>  remove a master key that no secret uses any more
`;

async function run(args: string[]): Promise<number> {
  const [command = 'start', sub, argument] = args;
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
    case 'vault': {
      if (!['status', 'rotate', 'retire'].includes(sub ?? '')) break;
      const keyring = Keyring.load(config, log);
      const database = await openDatabase(config, log, { migrate: false });
      try {
        const ctx = systemContext(database.orm.em.fork() as EntityManager, config, new ChangeBus());
        if (sub === 'retire') {
          if (!argument) break;
          await retireKey(ctx, keyring, argument);
          process.stdout.write(`retired key ${argument}\n`);
        } else if (sub === 'rotate') {
          const result = await rotateVault(ctx, keyring, new Vault(keyring), {
            addKey: argument !== '--resume',
            afterBatch: (count) => void process.stdout.write(`re-sealed ${count} secret(s)\n`),
          });
          process.stdout.write(
            `active key ${result.activeKeyId}: re-sealed ${result.reencrypted} secret(s), ${result.remaining} left\n`,
          );
          if (result.remaining > 0) return 1;
        }
        const status = await vaultStatus(ctx, keyring);
        process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
        return 0;
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
