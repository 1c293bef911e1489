import type { FieldDiff, PinKind } from '@gatehouse/schema';
import { canonicalJson, sha256Hex } from '../crypto/index.js';

/** The parts of a definition a model reads or a call depends on; anything else may vary without re-approval. */
const PINNED_FIELDS: Record<PinKind, readonly string[]> = {
  tool: ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations', 'execution'],
  prompt: ['name', 'title', 'description', 'arguments'],
};

export type Definition = Record<string, unknown>;

export function pinnedDefinition(kind: PinKind, item: object): Definition {
  const source = item as Record<string, unknown>;
  const definition: Definition = {};
  for (const field of PINNED_FIELDS[kind]) {
    if (source[field] !== undefined) definition[field] = source[field];
  }
  return definition;
}

/** SHA-256 over the canonical JSON (sorted keys, no whitespace) of the pinned fields. */
export const definitionHash = (definition: Definition): string => sha256Hex(canonicalJson(definition));

/** Field-level differences between the approved and the observed definition, for the admin's review. */
export function diffDefinitions(
  kind: PinKind,
  before: Definition | null,
  after: Definition | null,
): FieldDiff[] {
  const diffs: FieldDiff[] = [];
  for (const field of PINNED_FIELDS[kind]) {
    const was = before?.[field];
    const now = after?.[field];
    if (canonicalJson(was) !== canonicalJson(now))
      diffs.push({ field, before: was ?? null, after: now ?? null });
  }
  return diffs;
}

/**
 * Why a downstream's listing cannot be pinned, or null: duplicate or out-of-range names and NUL characters
 * (which PostgreSQL cannot store) are refused instead of failing later with a storage error.
 */
export function listingProblem(
  items: readonly { kind: PinKind; name: unknown; definition: Definition }[],
): string | null {
  const seen = new Set<string>();
  for (const item of items) {
    if (typeof item.name !== 'string' || item.name.length < 1 || item.name.length > 128) {
      return `it listed a ${item.kind} whose name is not 1 to 128 characters`;
    }
    const key = `${item.kind}:${item.name}`;
    if (seen.has(key)) return `it listed the ${item.kind} "${item.name}" twice`;
    seen.add(key);
    if (canonicalJson(item.definition).includes('\\u0000')) {
      return `the ${item.kind} "${item.name}" contains a NUL character`;
    }
  }
  return null;
}
