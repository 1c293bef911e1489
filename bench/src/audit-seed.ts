import type { AuditRecord } from '../../server/src/audit/chain.js';
import { AuditBatcher } from '../../server/src/audit/group-commit.js';

/** A small deterministic PRNG (mulberry32), so every seeded trail has the same shape. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface SeedPopulation {
  users: string[];
  clients: { id: string; userId: string; label: string }[];
  mcps: { id: string; slug: string; tools: { name: string; medianMs: number }[] }[];
}

export interface SeedOptions {
  events: number;
  /** Events are spread over the last `days` days, in time order (ids grow with time, as in production). */
  days: number;
  now?: Date;
  population?: { users: number; mcps: number; toolsPerMcp: number };
  onProgress?: (written: number) => void;
}

const id = (prefix: string, index: number) => `${prefix}_seed${String(index).padStart(10, '0')}`;

export function seedPopulation(
  size: { users: number; mcps: number; toolsPerMcp: number },
  next: () => number,
): SeedPopulation {
  const users = Array.from({ length: size.users }, (_, index) => id('usr', index));
  const clients = users.flatMap((userId, index) =>
    Array.from({ length: 1 + (index % 2) }, (_, n) => ({
      id: id('cli', index * 2 + n),
      userId,
      label: `user${index}/client${n}`,
    })),
  );
  const mcps = Array.from({ length: size.mcps }, (_, index) => ({
    id: id('mcp', index),
    slug: `mcp${index}`,
    tools: Array.from({ length: size.toolsPerMcp }, (_, n) => ({
      name: `tool_${index}_${n}`,
      medianMs: 2 + next() * 400,
    })),
  }));
  return { users, clients, mcps };
}

/** Picks with a skew: a few users, clients and tools make most calls, as in real fleets. */
const skewed = <T>(items: T[], next: () => number): T => items[Math.floor(items.length * next() ** 2.5)] as T;

/** Box-Muller: log-normal latencies around a tool's median, with a long tail. */
function latency(medianMs: number, next: () => number): number {
  const normal = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return Math.round(medianMs * Math.exp(0.6 * normal) * 100) / 100;
}

const CONTROL_ACTIONS = [
  'auth.login',
  'subscription.update',
  'mcp_session.start',
  'mcp_session.end',
] as const;

function realisticRecord(
  population: SeedPopulation,
  occurredAt: Date,
  index: number,
  next: () => number,
): AuditRecord {
  const client = skewed(population.clients, next);
  const mcp = skewed(population.mcps, next);
  const tool = skewed(mcp.tools, next);
  const base = {
    occurredAt,
    actorType: 'client' as const,
    actorUserId: client.userId,
    actorTokenId: null,
    actorClientId: client.id,
    actorLabel: client.label,
    targetType: 'mcp',
    targetId: mcp.id,
    targetLabel: mcp.slug,
    ip: `10.0.${index % 250}.${(index >> 8) % 250}`,
    requestId: `seed-${index}`,
  };
  const roll = next();
  if (roll < 0.02) {
    return {
      ...base,
      action: CONTROL_ACTIONS[index % CONTROL_ACTIONS.length] ?? 'auth.login',
      outcome: 'success',
      reason: null,
      details: {},
    };
  }
  if (roll < 0.04) {
    return {
      ...base,
      action: 'tool.denied',
      outcome: 'denied',
      reason: next() < 0.5 ? 'tool not selected' : 'mcp killed by an admin',
      details: { tool: tool.name, argsBytes: 40, argsDigest: 'd'.repeat(64) },
    };
  }
  const status = roll < 0.05 ? 'failed' : roll < 0.09 ? 'tool_error' : 'ok';
  return {
    ...base,
    action: 'tool.call',
    outcome: status === 'failed' ? 'failure' : 'success',
    reason: status === 'failed' ? (next() < 0.5 ? 'DOWNSTREAM_TIMEOUT' : 'DOWNSTREAM_UNAVAILABLE') : null,
    details: {
      tool: tool.name,
      status,
      durationMs: latency(tool.medianMs, next),
      resultBytes: Math.round(200 + next() * 8000),
      definitionHash: 'e'.repeat(64),
      argsBytes: Math.round(20 + next() * 400),
      argsDigest: 'f'.repeat(64),
    },
  };
}

/**
 * Appends `events` realistic audit events through the production writer (hash chain, group commit,
 * usage rollup trigger), spread over the last `days` days: tool calls with log-normal latencies per tool,
 * tool errors, failures, refusals and some control-plane events, from skewed users, clients and tools.
 */
export async function seedAuditEvents(databaseUrl: string, options: SeedOptions): Promise<SeedPopulation> {
  const next = random(7);
  const population = seedPopulation(options.population ?? { users: 200, mcps: 8, toolsPerMcp: 5 }, next);
  const now = (options.now ?? new Date()).getTime();
  const span = options.days * 86_400_000;
  const step = span / options.events;
  const writer = new AuditBatcher(databaseUrl);
  const inFlight = new Set<Promise<void>>();
  try {
    for (let index = 0; index < options.events; index++) {
      const occurredAt = new Date(now - span + index * step);
      const pending = writer.append(realisticRecord(population, occurredAt, index, next));
      inFlight.add(pending);
      void pending.finally(() => inFlight.delete(pending));
      if (inFlight.size >= 4000) await Promise.race(inFlight);
      if (index % 50_000 === 0) options.onProgress?.(index);
    }
    await Promise.all(inFlight);
  } finally {
    await writer.close();
  }
  options.onProgress?.(options.events);
  return population;
}
