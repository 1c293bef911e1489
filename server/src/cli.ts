import { createWriteStream, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AuditExportParams, AuditPartitionsParams } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import { MikroORM } from '@mikro-orm/postgresql';
import { pino } from 'pino';
import type { z } from 'zod';
import { emitAudit } from './audit/emit.js';
import { ExportFormatError, exportLines, exportRange, verifyExportFile } from './audit/export.js';
import { createAuditPartitions, enforceAuditRetention } from './audit/maintenance.js';
import { type ChainVerification, verifyAuditChain } from './audit/verify.js';
import { startGatehouse } from './main.js';
import { ChangeBus } from './platform/change-bus.js';
import { systemClock } from './platform/clock.js';
import { ConfigError, loadConfig } from './platform/config.js';
import { type ServiceContext, systemContext, withTransaction } from './platform/context.js';
import { openDatabase, ormConfig } from './platform/db.js';
import { watchLauncher } from './platform/launcher-watch.js';
import { createLogger } from './platform/logger.js';
import { routeProcessOutputToLog } from './platform/process-output.js';
import { Keyring } from './vault/keyring.js';
import { retireKey, rotateVault, vaultStatus } from './vault/rotation.js';
import { auditUnreadableValues } from './vault/unreadable-audit.js';
import { Vault } from './vault/vault.js';

const usage = `Usage: gatehouse <command>

Commands:
  start           start the server (default)
  migrate         apply pending database migrations and exit
  migration:create  (development) write a migration for the difference between entities and the database
  audit verify [--file F]   walk the audit hash chain (or a JSONL export) and report the first broken link
  audit export [--since ISO] [--until ISO] [--format jsonl] [--out F]
                  write the events of a time range as JSONL (stdout by default), verifiable on their own
  audit retention apply the retention period now (GATEHOUSE_AUDIT_RETENTION_DAYS, _ARCHIVE_DIR)
  audit partitions --since ISO [--until ISO]
                  create the month partitions of a past range (before an import or a restore)
  vault status    show the master key ids and how many secrets each one seals
  vault rotate    add a new active master key and re-seal every secret with it (keyring file only);
                  with --resume, only re-seal what is not on the active key yet
  vault retire <key id>  remove a master key that no secret uses any more
`;

/** `--name value` pairs after the subcommand; any flag the subcommand does not know is refused. */
function flags(rest: string[], known: readonly string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (let index = 0; index < rest.length; index += 2) {
    const name = rest[index];
    const value = rest[index + 1];
    if (!name?.startsWith('--') || value === undefined || !known.includes(name.slice(2))) {
      throw new UsageError(`unexpected argument ${name ?? ''}`);
    }
    result[name.slice(2)] = value;
  }
  return result;
}

const auditFlags: Record<string, readonly string[]> = {
  verify: ['file'],
  export: ['since', 'until', 'format', 'out'],
  retention: [],
  partitions: ['since', 'until'],
};

class UsageError extends Error {}

function reportVerification(result: ChainVerification, events?: number): number {
  const from =
    result.anchor.id === 0 ? 'the genesis' : `event ${result.anchor.id} (hash ${result.anchor.hash})`;
  if (result.ok) {
    const count = events ?? result.verifiedThrough - result.anchor.id;
    process.stdout.write(
      `audit chain intact: ${count} event(s) verified, from ${from} through event ${result.verifiedThrough}\n` +
        `last hash ${result.lastHash}\n`,
    );
    return 0;
  }
  process.stdout.write(
    `audit chain BROKEN at event ${result.brokenAt}: ${result.problem} (verified through ${result.verifiedThrough}, from ${from})\n`,
  );
  return 1;
}

async function verifyFile(file: string): Promise<number> {
  try {
    const result = await verifyExportFile(file);
    return reportVerification(result, result.events);
  } catch (error) {
    if (error instanceof ExportFormatError) {
      process.stdout.write(`audit export ${file} is not valid: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/** The subcommand's flags checked against their schema; each problem is named by its flag. */
function parsedFlags<T>(schema: z.ZodType<T>, options: Record<string, string>): T {
  const parsed = schema.safeParse(options);
  if (!parsed.success)
    throw new UsageError(
      parsed.error.issues.map((issue) => `--${issue.path.join('.')}: ${issue.message}`).join('; '),
    );
  return parsed.data;
}

async function exportToFile(ctx: ServiceContext, options: Record<string, string>): Promise<number> {
  const params = parsedFlags(AuditExportParams, options);
  const range = await exportRange(ctx.em, {
    since: params.since ? new Date(params.since) : undefined,
    until: params.until ? new Date(params.until) : undefined,
  });
  await withTransaction(ctx, (tx) =>
    emitAudit(tx, {
      action: 'audit.export',
      details: { since: params.since ?? null, until: params.until ?? null, ...range, via: 'cli' },
    }),
  );
  const lines = Readable.from(exportLines(ctx.em, range));
  if (options.out) {
    // A failed export leaves no file that could pass for a complete one.
    const partial = `${options.out}.partial`;
    try {
      await pipeline(lines, createWriteStream(partial, { mode: 0o600 }));
      renameSync(partial, options.out);
    } catch (error) {
      rmSync(partial, { force: true });
      throw error;
    }
  } else {
    await pipeline(lines, process.stdout);
  }
  process.stderr.write(`exported events ${range.fromId ?? '-'} through ${range.throughId ?? '-'}\n`);
  return 0;
}

async function run(args: string[]): Promise<number> {
  const [command = 'start', sub, argument] = args;
  const config = loadConfig();
  // Commands keep stdout for their output (`audit export` writes JSONL there); their log goes to stderr.
  const log = createLogger(config.logLevel, command === 'start' ? undefined : pino.destination(2));
  switch (command) {
    case 'start': {
      routeProcessOutputToLog(log);
      let running: Awaited<ReturnType<typeof startGatehouse>>;
      try {
        running = await startGatehouse(config);
      } catch (error) {
        log.fatal({ err: error }, 'Gatehouse could not start');
        return 1;
      }
      const portal = running.portalUrl.replace('127.0.0.1', 'localhost');
      // A log record like every other line the server writes; the text keeps the addresses easy to spot.
      // Written whatever the log level (a quiet `warn` server still says where it listens).
      log
        .child({}, { level: 'info' })
        .info(
          { portalUrl: `${portal}/`, clientUrl: running.clientUrl },
          `Gatehouse is running. Portal: ${portal}/ Client port: ${running.clientUrl} `,
        );
      let stopping = false;
      const shutdown = (reason: Record<string, unknown>) => {
        if (stopping) return void log.info(reason, 'already shutting down');
        stopping = true;
        log.info(reason, 'shutting down');
        running.close().then(
          () => {
            // Under npm/pnpm the exit code is not visible to whoever pressed Ctrl-C: the log says it.
            log.info({ exitCode: 0 }, 'exiting');
            process.exit(0);
          },
          (error) => {
            log.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const)
        process.on(signal, () => shutdown({ signal }));
      // npm and pnpm end on SIGTERM without passing it on: a launcher that is gone stops Gatehouse too.
      watchLauncher((launcher) => shutdown({ launcherGone: launcher.pid }));
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
      const known = auditFlags[sub ?? ''];
      if (!known) break;
      const options = flags(args.slice(2), known);
      if (sub === 'verify' && options.file) return verifyFile(options.file);
      const database = await openDatabase(config, log, { migrate: false });
      try {
        const ctx = systemContext(
          database.orm.em.fork() as EntityManager,
          config,
          new ChangeBus(),
          systemClock,
        );
        if (sub === 'export') return await exportToFile(ctx, options);
        if (sub === 'partitions') {
          const range = parsedFlags(AuditPartitionsParams, options);
          const created = await createAuditPartitions(ctx, {
            since: new Date(range.since),
            until: range.until ? new Date(range.until) : undefined,
          });
          process.stdout.write(`${JSON.stringify({ created }, null, 2)}\n`);
          return 0;
        }
        if (sub === 'retention') {
          const dropped = await enforceAuditRetention(ctx, config.audit);
          process.stdout.write(`${JSON.stringify(dropped, null, 2)}\n`);
          return 0;
        }
        const result = await verifyAuditChain(ctx.em);
        return reportVerification(result);
      } finally {
        await database.close();
      }
    }
    case 'vault': {
      if (!['status', 'rotate', 'retire'].includes(sub ?? '')) break;
      const keyring = Keyring.load(config, log);
      const database = await openDatabase(config, log, { migrate: false });
      try {
        const ctx = systemContext(
          database.orm.em.fork() as EntityManager,
          config,
          new ChangeBus(),
          systemClock,
        );
        if (sub === 'retire') {
          if (!argument) break;
          await retireKey(ctx, keyring, argument);
          process.stdout.write(`retired key ${argument}\n`);
        } else if (sub === 'rotate') {
          // A value that fails to open during rotation is a security event, as on the server.
          const audited = auditUnreadableValues({
            em: () => database.orm.em.fork() as EntityManager,
            config,
            changes: ctx.changes,
            clock: ctx.clock,
            log,
          });
          const result = await rotateVault(ctx, keyring, new Vault(keyring, audited), {
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
    else if (error instanceof UsageError) process.stderr.write(`gatehouse: ${error.message}\n${usage}`);
    else process.stderr.write(`gatehouse: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
