import { describe, expect, it } from 'vitest';
import {
  definitionText,
  diffLines,
  diffStats,
  diffValues,
  splitLines,
} from '../../../src/features/catalog/line-diff.js';

const render = (before: string, after: string) =>
  diffLines(before, after).map((line) => `${{ same: ' ', added: '+', removed: '-' }[line.kind]}${line.text}`);

describe('line diff', () => {
  it('splits on any line end, and an empty text has no lines', () => {
    expect(splitLines('')).toEqual([]);
    expect(splitLines('a\r\nb\rc\nd')).toEqual(['a', 'b', 'c', 'd']);
    expect(splitLines('a\n')).toEqual(['a', '']);
  });

  it('marks nothing when both sides are equal', () => {
    expect(render('a\nb', 'a\nb')).toEqual([' a', ' b']);
    expect(diffLines('', '')).toEqual([]);
  });

  it('shows a replaced line as removed, then added, between unchanged context', () => {
    expect(render('one\ntwo\nthree', 'one\n2\nthree')).toEqual([' one', '-two', '+2', ' three']);
  });

  it('finds insertions and deletions in the middle', () => {
    expect(render('a\nb\nc\nd', 'a\nc\nx\nd')).toEqual([' a', '-b', ' c', '+x', ' d']);
  });

  it('treats a missing side as all added or all removed', () => {
    expect(render('', 'x\ny')).toEqual(['+x', '+y']);
    expect(render('x\ny', '')).toEqual(['-x', '-y']);
  });

  it('keeps the longest common subsequence', () => {
    const lines = diffLines('a\nb\nc\na\nb\nb\na', 'c\nb\na\nb\na\nc');
    const kept = lines.filter((line) => line.kind === 'same').length;
    expect(kept).toBe(4);
    // Reading the "same" and "removed" lines gives the old text; "same" and "added" the new one.
    expect(lines.filter((l) => l.kind !== 'added').map((l) => l.text)).toEqual([
      'a',
      'b',
      'c',
      'a',
      'b',
      'b',
      'a',
    ]);
    expect(lines.filter((l) => l.kind !== 'removed').map((l) => l.text)).toEqual([
      'c',
      'b',
      'a',
      'b',
      'a',
      'c',
    ]);
  });

  it('falls back to removed-then-added for very large changes, still reconstructing both sides', () => {
    const before = Array.from({ length: 700 }, (_, i) => `old ${i}`).join('\n');
    const after = Array.from({ length: 700 }, (_, i) => `new ${i}`).join('\n');
    const lines = diffLines(`head\n${before}\ntail`, `head\n${after}\ntail`);
    expect(lines[0]).toEqual({ kind: 'same', text: 'head' });
    expect(lines.at(-1)).toEqual({ kind: 'same', text: 'tail' });
    expect(diffStats(lines)).toEqual({ added: 700, removed: 700 });
  });

  it('counts added and removed lines', () => {
    expect(diffStats(diffLines('a\nb\nc', 'a\nB\nc\nd'))).toEqual({ added: 2, removed: 1 });
  });
});

describe('definition text', () => {
  it('shows strings as they are and nothing for a missing value', () => {
    expect(definitionText('Echoes the message')).toBe('Echoes the message');
    expect(definitionText(null)).toBe('');
    expect(definitionText(undefined)).toBe('');
  });

  it('shows other values as indented JSON with sorted keys', () => {
    expect(definitionText({ type: 'object', properties: { b: 1, a: 2 } })).toBe(
      '{\n  "properties": {\n    "a": 2,\n    "b": 1\n  },\n  "type": "object"\n}',
    );
    expect(definitionText([{ z: 1, y: 2 }])).toBe('[\n  {\n    "y": 2,\n    "z": 1\n  }\n]');
  });

  it('diffs a reordered schema as unchanged and a new property as one added line', () => {
    const before = { type: 'object', properties: { message: { type: 'string' } } };
    const reordered = { properties: { message: { type: 'string' } }, type: 'object' };
    expect(diffStats(diffValues(before, reordered))).toEqual({ added: 0, removed: 0 });
    const after = { type: 'object', properties: { message: { type: 'string' }, url: { type: 'string' } } };
    const lines = diffValues(before, after);
    expect(
      lines.filter((line) => line.kind !== 'same').map((line) => `${line.kind} ${line.text.trim()}`),
    ).toEqual(['added },', 'added "url": {', 'added "type": "string"']);
  });

  it('diffs a changed description line by line', () => {
    const lines = diffValues('Echoes the message.', 'Echoes the message.\nAlso phones home.');
    expect(lines).toEqual([
      { kind: 'same', text: 'Echoes the message.' },
      { kind: 'added', text: 'Also phones home.' },
    ]);
  });
});
