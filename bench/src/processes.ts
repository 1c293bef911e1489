import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import pino from 'pino';
import { startEmbeddedPostgres } from '../../server/src/platform/db.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;

export interface BenchDatabase {
  url: string;
  close(): Promise<void>;
}

/**
 * A fresh database for one run: on the configured server (`DATABASE_URL`) a new database that is dropped
 * afterwards, otherwise embedded PostgreSQL in a temporary folder. The bench owns it, so it can check the
 * audit trail and restart Gatehouse on it.
 */
export async function benchDatabase(configuredUrl: string | undefined): Promise<BenchDatabase> {
  if (configuredUrl) {
    const name = `gatehouse_bench_${Date.now()}_${process.pid}`;
    const admin = new pg.Client({ connectionString: configuredUrl });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(configuredUrl);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      async close() {
        const dropper = new pg.Client({ connectionString: configuredUrl });
        await dropper.connect();
        await dropper.query(`drop database if exists ${name} with (force)`);
        await dropper.end();
      },
    };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-pg-'));
  const postgres = await startEmbeddedPostgres(dir, pino({ level: 'warn' }));
  return {
    url: postgres.url,
    async close() {
      await postgres.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface GatehouseProcess {
  portal: string;
  client: string;
  pid: number;
  /** SIGTERM: a graceful shutdown. */
  stop(): Promise<void>;
  /** SIGKILL: nothing gets a chance to flush. */
  kill(): Promise<void>;
}

/** Gatehouse as its own process, so its CPU and memory are measured apart from the load generator. */
export async function startGatehouseProcess(databaseUrl: string, dataDir: string): Promise<GatehouseProcess> {
  // GATEHOUSE_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the Gatehouse process there, on exit.
  const profile = process.env.GATEHOUSE_BENCH_CPU_PROF;
  const profileArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profile)}`] : [];
  const child = spawn(
    process.execPath,
    [...profileArgs, '--import', tsxLoader, path.join(repoRoot, 'server/src/cli.ts'), 'start'],
    {
      cwd: path.join(repoRoot, 'server'),
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_CLIENT_PORT: '0',
        GATEHOUSE_PORTAL_PORT: '0',
        GATEHOUSE_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const urls = await new Promise<{ portal: string; client: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Gatehouse did not start:\n${output}`));
    }, 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // The start record is a JSON log line with the two addresses as fields.
      const portal = /"portalUrl":"(\S+?)\/?"/.exec(output)?.[1];
      const client = /"clientUrl":"(\S+?)"/.exec(output)?.[1];
      if (portal && client) {
        clearTimeout(timer);
        resolve({ portal: portal.replace('localhost', '127.0.0.1'), client });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`Gatehouse exited with ${code}:\n${output}`)));
  });
  return {
    ...urls,
    pid: child.pid ?? 0,
    stop: () => stopProcess(child, 'SIGTERM'),
    kill: () => stopProcess(child, 'SIGKILL'),
  };
}

export const temporaryDataDir = () => mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-data-'));

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** CPU seconds (user + system) and RSS of a process, from /proc. */
export function processUsage(pid: number): { cpuSeconds: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, rssMiB: rssKiB / 1024 };
}
