import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses; the fields after the last ')' are fixed.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of one process (0 once it is gone). */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return fields ? (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND : 0;
}

export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/**
 * The CPU PostgreSQL spends for one database: the postmaster's children whose title names that database (its
 * backends). The server on 127.0.0.1:5432 is shared with other work on this machine, so its background
 * processes (WAL writer, checkpointer) are left out: they cannot be attributed to the bench. The postmaster
 * is found from a backend's parent pid.
 */
export class PostgresCpu {
  private constructor(
    private readonly postmaster: number,
    private readonly database: string,
  ) {}

  static async of(sql: pg.Pool): Promise<PostgresCpu | undefined> {
    const { rows } = await sql.query<{ pid: number; db: string }>(
      'select pg_backend_pid() as pid, current_database() as db',
    );
    const row = rows[0];
    const parent = row ? Number(statFields(row.pid)?.[1]) : Number.NaN;
    // Without /proc access to the server (another host, another pid namespace) there is nothing to read.
    return row && parent > 1 ? new PostgresCpu(parent, row.db) : undefined;
  }

  private backends(): number[] {
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || Number(statFields(pid)?.[1]) !== this.postmaster) continue;
      try {
        const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        if (title.split(' ').includes(this.database)) pids.push(pid);
      } catch {
        // The backend ended between the two reads.
      }
    }
    return pids;
  }

  /** CPU seconds by backend pid now; a delta over a window needs two snapshots (backends come and go). */
  snapshot(): Map<number, number> {
    return new Map(this.backends().map((pid) => [pid, cpuSeconds(pid)]));
  }

  /** CPU seconds spent between `before` and now. A backend that ended in between loses its share. */
  since(before: Map<number, number>): number {
    let total = 0;
    for (const [pid, seconds] of this.snapshot()) total += seconds - (before.get(pid) ?? 0);
    return total;
  }
}
