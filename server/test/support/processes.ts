import { readdirSync, readFileSync } from 'node:fs';

/** Parent pid of every live process, read from /proc (zombies excluded: they hold no resources but a slot). */
function parentMap(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: fields start after the last ')'.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z') parents.set(Number(entry), Number(ppid));
    } catch {
      // The process ended while we looked.
    }
  }
  return parents;
}

/** Every live descendant of `pid`, including processes that moved into their own process group. */
export function descendantPids(pid: number = process.pid): number[] {
  const parents = parentMap();
  const found: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const current = frontier.pop() as number;
    for (const [child, parent] of parents) {
      if (parent === current) {
        found.push(child);
        frontier.push(child);
      }
    }
  }
  return found;
}

export const isAlive = (pid: number) => parentMap().has(pid);

export async function waitFor<T>(
  probe: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
