import { readFileSync } from 'node:fs';

interface ProcStat {
  ppid: number;
  pgrp: number;
  startTime: string;
}

function procStat(pid: number | 'self'): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined;
    return { ppid: Number(fields[1]), pgrp: Number(fields[2]), startTime: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

export interface LauncherProcess {
  pid: number;
  startTime: string;
}

/**
 * The processes that launched this one, from the parent up to the leader of our process group: for the
 * README's start command `npm exec` → sh → pnpm → sh → pnpm → sh → tsx (see docs/operations.md). A shell
 * puts a job in its own group, so the chain stops at the job and never includes the shell itself.
 * Empty off Linux (no /proc) and when the parent is in another group (a service manager, a container's
 * init).
 */
export function launcherChain(): LauncherProcess[] {
  const self = procStat('self');
  if (!self) return [];
  const chain: LauncherProcess[] = [];
  for (let pid = self.ppid; pid > 1 && chain.length < 32; ) {
    const stat = procStat(pid);
    if (!stat || stat.pgrp !== self.pgrp) break;
    chain.push({ pid, startTime: stat.startTime });
    pid = stat.ppid;
  }
  return chain;
}

/**
 * Calls `onGone` once when any process of the launcher chain has ended. npm and pnpm do not pass a SIGTERM
 * on to their children: a SIGTERM to `npx pnpm start` ends npm and left Gatehouse serving as an orphan.
 * Checking a handful of /proc entries every two seconds costs nothing on the request path and next to nothing
 * idle (ADR 0029); a stop through the launcher is noticed within that period.
 */
export function watchLauncher(onGone: (launcher: LauncherProcess) => void, intervalMs = 2_000): () => void {
  const chain = launcherChain();
  if (chain.length === 0) return () => undefined;
  const timer = setInterval(() => {
    const gone = chain.find((launcher) => procStat(launcher.pid)?.startTime !== launcher.startTime);
    if (gone) {
      clearInterval(timer);
      onGone(gone);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
