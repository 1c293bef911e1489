import type { McpMessageLimits } from '../platform/config.js';
import { checkEnvelope, type EnvelopeProblem } from './jsonrpc-errors.js';

/** Which bound a message broke; the body-size bound is enforced earlier, while the body is read. */
export type LimitBreach =
  | { limit: 'depth'; max: number }
  | { limit: 'string'; max: number }
  | { limit: 'array'; max: number }
  | { limit: 'values'; max: number };

const QUOTE = 34;
const COMMA = 44;
const COLON = 58;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;
const LOWER_U = 117;

const isDelimiter = (code: number) =>
  code === COMMA ||
  code === COLON ||
  code === CLOSE_ARRAY ||
  code === CLOSE_OBJECT ||
  code === QUOTE ||
  code === OPEN_ARRAY ||
  code === OPEN_OBJECT ||
  code === 32 ||
  code === 9 ||
  code === 10 ||
  code === 13;

/**
 * Checks a JSON text against the limits in one iterative pass, before it is parsed: nothing here recurses,
 * allocates per value or runs longer than the text, and the scan stops at the first bound broken (so a
 * million-element array costs as much as the first `maxArrayLength` elements). It does not validate the
 * JSON: malformed text is left for `JSON.parse`, which runs only once the bounds hold.
 */
export function checkJsonLimits(text: string, limits: McpMessageLimits): LimitBreach | null {
  // Per open container: is it an object, how many members so far, is a key expected next.
  const isObject: boolean[] = [];
  const members: number[] = [];
  let expectKey = false;
  let depth = 0;
  let values = 0;
  const length = text.length;
  let i = 0;
  while (i < length) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      const end = endOfString(text, i, limits.maxStringLength);
      if (end < 0) return { limit: 'string', max: limits.maxStringLength };
      const isKey = depth > 0 && isObject[depth - 1] === true && expectKey;
      if (!isKey && ++values > limits.maxValues) return { limit: 'values', max: limits.maxValues };
      i = end + 1;
      continue;
    }
    if (code === OPEN_ARRAY || code === OPEN_OBJECT) {
      if (++values > limits.maxValues) return { limit: 'values', max: limits.maxValues };
      if (++depth > limits.maxDepth) return { limit: 'depth', max: limits.maxDepth };
      isObject[depth - 1] = code === OPEN_OBJECT;
      members[depth - 1] = 1;
      expectKey = code === OPEN_OBJECT;
      i++;
      continue;
    }
    if (code === CLOSE_ARRAY || code === CLOSE_OBJECT) {
      if (depth > 0) depth--;
      expectKey = false;
      i++;
      continue;
    }
    if (code === COMMA) {
      if (depth > 0) {
        const count = (members[depth - 1] ?? 0) + 1;
        if (count > limits.maxArrayLength) return { limit: 'array', max: limits.maxArrayLength };
        members[depth - 1] = count;
        expectKey = isObject[depth - 1] === true;
      }
      i++;
      continue;
    }
    if (code === COLON) {
      expectKey = false;
      i++;
      continue;
    }
    if (code === 32 || code === 9 || code === 10 || code === 13) {
      i++;
      continue;
    }
    // A number, true, false or null (or garbage, which JSON.parse will refuse): one value up to a delimiter.
    if (++values > limits.maxValues) return { limit: 'values', max: limits.maxValues };
    i++;
    while (i < length && !isDelimiter(text.charCodeAt(i))) i++;
  }
  return null;
}

/**
 * The index of the quote that closes the string opening at `start` (the text's length when unterminated),
 * or -1 as soon as its unescaped length exceeds `max`. Long runs without escapes are skipped by `indexOf`.
 */
function endOfString(text: string, start: number, max: number): number {
  let i = start + 1;
  let decoded = 0;
  let quote = text.indexOf('"', i);
  let backslash = text.indexOf('\\', i);
  for (;;) {
    if (quote < 0) return text.length - i + decoded > max ? -1 : text.length;
    if (backslash < 0 || backslash > quote) return quote - i + decoded > max ? -1 : quote;
    decoded += backslash - i + 1;
    if (decoded > max) return -1;
    i = backslash + (text.charCodeAt(backslash + 1) === LOWER_U ? 6 : 2);
    backslash = text.indexOf('\\', i);
    if (quote < i) quote = text.indexOf('"', i);
  }
}

/** One line for the client: which bound, and its value. */
export function describeBreach(breach: LimitBreach): string {
  switch (breach.limit) {
    case 'depth':
      return `the message is nested deeper than ${breach.max} levels`;
    case 'string':
      return `a string in the message is longer than ${breach.max} characters`;
    case 'array':
      return `an array or object in the message has more than ${breach.max} entries`;
    case 'values':
      return `the message has more than ${breach.max} values`;
  }
}

export type ReadMessage = { ok: true; message: unknown } | { ok: false; problem: EnvelopeProblem };

/**
 * The body of a POST to `/mcp` as a checked JSON-RPC message: bounds first (nothing allocated or recursive
 * runs on a body that breaks one), then `JSON.parse`, then the envelope and the params.
 */
export function readMessage(text: string, limits: McpMessageLimits): ReadMessage {
  const breach = checkJsonLimits(text, limits);
  if (breach) return { ok: false, problem: { kind: 'LIMIT_EXCEEDED', detail: describeBreach(breach) } };
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { ok: false, problem: { kind: 'PARSE_ERROR' } };
  }
  const problem = checkEnvelope(message);
  return problem ? { ok: false, problem } : { ok: true, message };
}
