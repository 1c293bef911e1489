/**
 * A small line diff for reviewing a changed tool definition: the approved text against the observed one.
 * Pure and dependency-free, so it is unit-tested without a DOM.
 */

export type DiffLineKind = 'same' | 'added' | 'removed';

export interface DiffLine {
  kind: DiffLineKind;
  text: string;
}

/** Above this many comparisons the middle part is shown as "all removed, then all added" instead. */
const MAX_CELLS = 250_000;

/** Lines of a text; an empty text has none, and CRLF or CR line ends count as LF. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  return text.replace(/\r\n?/g, '\n').split('\n');
}

const line =
  (kind: DiffLineKind) =>
  (text: string): DiffLine => ({ kind, text });

/** Longest-common-subsequence diff; on a tie removals come first, so a replaced line reads "- old, + new". */
function lcsDiff(a: readonly string[], b: readonly string[]): DiffLine[] {
  const width = b.length + 1;
  // lengths[i * width + j] is the length of the LCS of a[i..] and b[j..].
  const lengths = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i * width + j] =
        a[i] === b[j]
          ? (lengths[(i + 1) * width + j + 1] as number) + 1
          : Math.max(lengths[(i + 1) * width + j] as number, lengths[i * width + j + 1] as number);
    }
  }
  const result: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      result.push({ kind: 'same', text: a[i] as string });
      i++;
      j++;
    } else if ((lengths[(i + 1) * width + j] as number) >= (lengths[i * width + j + 1] as number)) {
      result.push({ kind: 'removed', text: a[i] as string });
      i++;
    } else {
      result.push({ kind: 'added', text: b[j] as string });
      j++;
    }
  }
  for (; i < a.length; i++) result.push({ kind: 'removed', text: a[i] as string });
  for (; j < b.length; j++) result.push({ kind: 'added', text: b[j] as string });
  return result;
}

/** The lines of `before` and `after`, each marked as unchanged, removed (only before) or added (only after). */
export function diffLines(before: string, after: string): DiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const middleA = a.slice(start, endA);
  const middleB = b.slice(start, endB);
  const middle =
    middleA.length * middleB.length > MAX_CELLS
      ? [...middleA.map(line('removed')), ...middleB.map(line('added'))]
      : lcsDiff(middleA, middleB);
  return [...a.slice(0, start).map(line('same')), ...middle, ...a.slice(endA).map(line('same'))];
}

export function diffStats(lines: readonly DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const entry of lines) {
    if (entry.kind === 'added') added++;
    else if (entry.kind === 'removed') removed++;
  }
  return { added, removed };
}

const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
};

/**
 * A definition field as reviewable text: strings as they are (a description diffs line by line), anything else
 * as indented JSON with sorted keys (so a reordering alone shows no change), and a missing value as nothing.
 */
export function definitionText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(sortKeys(value), null, 2);
}

/** The line diff of one field of a definition, from its approved to its observed value. */
export function diffValues(before: unknown, after: unknown): DiffLine[] {
  return diffLines(definitionText(before), definitionText(after));
}
