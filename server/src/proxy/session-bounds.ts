import { DomainError } from '../platform/errors.js';

/** MCP logging levels, least severe first (the `logging/setLevel` values). */
export const SESSION_LOG_LEVELS = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
] as const;
export type SessionLogLevel = (typeof SESSION_LOG_LEVELS)[number];

/** Limits on what a session row may hold; the migration's checks repeat them as a backstop. */
export const SESSION_LIMITS = {
  /** A session id longer than this is not one Gatehouse issued: refused without a lookup. */
  idLength: 256,
  keyHashLength: 64,
  entityIdLength: 48,
  viewLength: 24,
  protocolVersionLength: 32,
  /** Serialized JSON, UTF-8 bytes. */
  clientCapabilitiesBytes: 16_384,
  clientInfoBytes: 4_096,
  subscriptions: 100,
  subscriptionUriLength: 2_048,
} as const;

/** A session value over its bound: refused before anything is written (a 400, never a 500). */
export class SessionBoundsError extends DomainError {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super('VALIDATION_FAILED', `Session ${field} ${detail}`, { [field]: [detail] });
    this.name = 'SessionBoundsError';
  }
}

/** NUL or a lone surrogate: PostgreSQL refuses them in text and jsonb (a 500 if they reached it). */
const unstorable = (value: string) => value.includes('\u0000') || /\p{Cs}/u.test(value);
/** The same in JSON text, as escapes (a literal backslash before `u0000` is refused too, harmlessly). */
const UNSTORABLE_ESCAPE = /\\u(?:0000|d[89a-f])/i;

export function boundedString(field: string, value: unknown, max: number, nullable = false): string | null {
  if (value === null && nullable) return null;
  if (typeof value !== 'string' || value.length === 0)
    throw new SessionBoundsError(field, 'must be a non-empty string');
  if (value.length > max) throw new SessionBoundsError(field, `must be at most ${max} characters`);
  if (unstorable(value)) throw new SessionBoundsError(field, 'must not contain NUL or lone surrogates');
  return value;
}

/** The JSON text of a plain object, refused when over `maxBytes`. */
export function boundedJson(field: string, value: unknown, maxBytes: number): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SessionBoundsError(field, 'must be an object');
  }
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    throw new SessionBoundsError(field, 'must be JSON');
  }
  if (Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new SessionBoundsError(field, `must be at most ${maxBytes} bytes`);
  }
  if (UNSTORABLE_ESCAPE.test(text))
    throw new SessionBoundsError(field, 'must not contain NUL or lone surrogates');
  return text;
}

export function boundedLogLevel(value: unknown): SessionLogLevel {
  if (!SESSION_LOG_LEVELS.includes(value as SessionLogLevel)) {
    throw new SessionBoundsError('logLevel', 'must be an MCP logging level');
  }
  return value as SessionLogLevel;
}

/** Distinct subscription URIs, refused when too many or too long. */
export function boundedSubscriptions(value: unknown): readonly string[] {
  if (!Array.isArray(value)) throw new SessionBoundsError('subscriptions', 'must be a list');
  const unique = [...new Set(value)];
  if (unique.length > SESSION_LIMITS.subscriptions) {
    throw new SessionBoundsError('subscriptions', `must hold at most ${SESSION_LIMITS.subscriptions} URIs`);
  }
  for (const uri of unique) boundedString('subscriptions', uri, SESSION_LIMITS.subscriptionUriLength);
  return Object.freeze(unique as string[]);
}
