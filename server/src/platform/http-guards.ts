import type { FastifyInstance } from 'fastify';
import { DomainError } from './errors.js';

/** Sent with a 429 that names no better time (a concurrency limit, say): retrying at once would not help. */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

/**
 * Every request body must arrive within `timeoutMs` of the request's start, or the connection is closed:
 * a client that sends headers and then trickles (or never sends) the body cannot hold a socket forever.
 * Requests without a body (GET streams included) are not affected.
 */
export function enforceBodyDeadline(app: FastifyInstance, timeoutMs: number): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const raw = request.raw;
    const length = raw.headers['content-length'];
    const hasBody =
      raw.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (hasBody && !raw.complete) {
      const timer = setTimeout(() => {
        if (raw.complete) return;
        request.log.info({ timeoutMs }, 'request body not received in time; closing the connection');
        raw.socket?.destroy();
      }, timeoutMs);
      const clear = () => clearTimeout(timer);
      raw.once('end', clear);
      raw.once('close', clear);
    }
    done();
  });
}

/** Every 429 carries Retry-After; a route that knows better sets its own before this runs. */
export function retryAfterOnEvery429(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode === 429 && !reply.hasHeader('retry-after')) {
      reply.header('retry-after', String(DEFAULT_RETRY_AFTER_SECONDS));
    }
    return payload;
  });
}

/** The Retry-After a failed tRPC response should carry: the longest any of its domain errors asks for. */
export function retryAfterOfErrors(errors: readonly { cause?: unknown }[]): number | undefined {
  let seconds: number | undefined;
  for (const error of errors) {
    const cause = error.cause;
    if (cause instanceof DomainError && cause.retryAfterSeconds !== undefined) {
      seconds = Math.max(seconds ?? 0, cause.retryAfterSeconds);
    }
  }
  return seconds;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
  // PostgreSQL: admin shutdown, crash shutdown, cannot connect now, connection failures.
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
]);

/** Whether an error means the database cannot be reached (as opposed to a bug or a bad statement). */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let cause = error, depth = 0; cause && depth < 5; depth++) {
    const { code, message } = cause as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    if (
      typeof message === 'string' &&
      /Connection terminated|timeout exceeded when trying to connect/i.test(message)
    )
      return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}
