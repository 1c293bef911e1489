import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acquireDataDirLock,
  DataDirBusyError,
  type DataDirOwner,
  processStartTime,
} from '../../src/platform/server-lock.js';

const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

describe('the data dir lock', () => {
  const dirs: string[] = [];
  const children: number[] = [];
  afterEach(() => {
    for (const pid of children.splice(0)) process.kill(pid, 'SIGKILL');
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  const dataDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-lock-'));
    dirs.push(dir);
    return dir;
  };
  const writeLock = (dir: string, owner: DataDirOwner) =>
    writeFileSync(path.join(dir, 'gatehouse.lock'), JSON.stringify(owner));
  const lockOf = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'gatehouse.lock'), 'utf8'));

  /** Another live process, as a running Gatehouse would be. */
  async function liveProcess(): Promise<number> {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const pid = child.pid ?? 0;
    children.push(pid);
    for (let tries = 0; tries < 100 && !processStartTime(pid); tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return pid;
  }

  it('records this process as owner and removes the file on release', () => {
    const dir = dataDir();
    const lock = acquireDataDirLock(dir, 'server');
    expect(lockOf(dir)).toEqual({
      pid: process.pid,
      startTime: processStartTime(process.pid),
      bootId,
      role: 'server',
    });
    lock.release();
    expect(existsSync(path.join(dir, 'gatehouse.lock'))).toBe(false);
  });

  it('refuses while the recorded owner runs, naming it, and leaves its lock alone', async () => {
    const dir = dataDir();
    const pid = await liveProcess();
    const owner: DataDirOwner = { pid, startTime: processStartTime(pid) ?? null, bootId, role: 'server' };
    writeLock(dir, owner);
    let refusal: unknown;
    try {
      acquireDataDirLock(dir, 'command');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(DataDirBusyError);
    expect((refusal as DataDirBusyError).owner).toEqual(owner);
    expect((refusal as Error).message).toBe(
      `a Gatehouse server (pid ${pid}) is already serving this data dir`,
    );
    expect(lockOf(dir)).toEqual(owner);
  });

  it('takes over a lock whose owner is gone: dead, its pid reused, an earlier boot, or our own pid', async () => {
    const live = await liveProcess();
    const stale: DataDirOwner[] = [
      { pid: 2 ** 22 + 1, startTime: '1', bootId, role: 'server' },
      { pid: live, startTime: 'not-its-start-time', bootId, role: 'server' },
      { pid: live, startTime: processStartTime(live) ?? null, bootId: 'an-earlier-boot', role: 'server' },
      { pid: process.pid, startTime: processStartTime(process.pid) ?? null, bootId, role: 'command' },
    ];
    for (const owner of stale) {
      const dir = dataDir();
      writeLock(dir, owner);
      const lock = acquireDataDirLock(dir, 'server');
      expect(lockOf(dir)).toMatchObject({ pid: process.pid, role: 'server' });
      lock.release();
    }
  });
});
