import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * Who owns the embedded database of a data dir: the Gatehouse server, or a CLI command that started the
 * database because no server was running. The owner's pid and kernel start time sit in
 * `<data dir>/gatehouse.lock`; a pid alone could be reused by an unrelated process after a crash.
 */
export type OwnerRole = 'server' | 'command';

export interface DataDirOwner {
  pid: number;
  /** Kernel start time of the process (clock ticks since boot, from /proc), or null off Linux. */
  startTime: string | null;
  /** The kernel's boot id: after a reboot, the same pid and start time are another process. */
  bootId: string | null;
  role: OwnerRole;
}

function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

const LOCK_FILE = 'gatehouse.lock';

/** The start time field of /proc/<pid>/stat, or undefined when the process is gone (or not Linux). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields start after the last ')'. Field 22 overall.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie answers signal 0 but runs nothing.
  return existsSync('/proc/self/stat') ? processStartTime(pid) !== undefined : true;
}

/** True while the very process recorded as owner (same pid, same start time) is running. */
export function ownerAlive(owner: DataDirOwner): boolean {
  // Our own pid in a lock we have not written: left by an earlier run that had the same pid (PID 1 in a
  // container).
  if (owner.pid === process.pid || !pidAlive(owner.pid)) return false;
  if (owner.bootId !== null && owner.bootId !== bootId()) return false;
  return owner.startTime === null || processStartTime(owner.pid) === owner.startTime;
}

export function readOwner(dataDir: string): DataDirOwner | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')) as Partial<DataDirOwner>;
    if (typeof parsed.pid !== 'number' || (parsed.role !== 'server' && parsed.role !== 'command'))
      return undefined;
    return {
      pid: parsed.pid,
      startTime: parsed.startTime ?? null,
      bootId: parsed.bootId ?? null,
      role: parsed.role,
    };
  } catch {
    return undefined;
  }
}

export class DataDirBusyError extends Error {
  constructor(readonly owner: DataDirOwner) {
    super(
      owner.role === 'server'
        ? `a Gatehouse server (pid ${owner.pid}) is already serving this data dir`
        : `a gatehouse command (pid ${owner.pid}) is using this data dir's embedded database; retry when it ends`,
    );
  }
}

export interface DataDirLock {
  readonly owner: DataDirOwner;
  release(): void;
}

/**
 * Takes ownership of the data dir's embedded database, or throws `DataDirBusyError` naming the live owner.
 * A lock left by a dead process (kill -9, power loss) is taken over: its postmaster is an orphan.
 */
export function acquireDataDirLock(dataDir: string, role: OwnerRole): DataDirLock {
  const file = path.join(dataDir, LOCK_FILE);
  const owner: DataDirOwner = {
    pid: process.pid,
    startTime: processStartTime(process.pid) ?? null,
    bootId: bootId(),
    role,
  };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const current = readOwner(dataDir);
      if (current && ownerAlive(current)) throw new DataDirBusyError(current);
      rmSync(file, { force: true });
      continue;
    }
    writeSync(fd, JSON.stringify(owner));
    closeSync(fd);
    return {
      owner,
      release: () => {
        const current = readOwner(dataDir);
        if (current?.pid === process.pid) rmSync(file, { force: true });
      },
    };
  }
  throw new Error(`could not take the lock file ${file}`);
}
