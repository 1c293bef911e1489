import type { IncomingMessage } from 'node:http';
import { type DestinationStream, type Logger, pino } from 'pino';
import { serializeLoggedError } from './log-errors.js';
import { clientPortUrl, redactUrl } from './url-redaction.js';

/** Paths pino blanks out wherever they appear, so credentials cannot reach the log by accident. */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-gatehouse-csrf"]',
  'res.headers["set-cookie"]',
  'password',
  '*.password',
  'newPassword',
  '*.newPassword',
  'token',
  '*.token',
];

/**
 * The request as Fastify logs it (its own serializer's fields), with the query string of a request that
 * carries a credential in it redacted (platform/url-redaction.ts).
 */
const requestSerializer = (req: IncomingMessage & { ip?: string; host?: string }) => ({
  method: req.method,
  url: redactUrl(req.url ?? ''),
  version: req.headers?.['accept-version'],
  host: req.host,
  remoteAddress: req.ip,
  remotePort: req.socket?.remotePort,
});

/** The client port's logger: it never logs a query string (`/mcp` takes none; ADR 0017). */
export const clientPortLogger = (logger: Logger): Logger =>
  logger.child(
    {},
    {
      serializers: {
        req: (req: IncomingMessage & { ip?: string; host?: string }) => ({
          ...requestSerializer(req),
          url: clientPortUrl(req.url ?? ''),
        }),
      },
    },
  );

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: redactedPaths, censor: '[redacted]' },
      // Credentials in a query string, and a failed statement's SQL (and the values in it), never reach the log.
      serializers: { req: requestSerializer, err: serializeLoggedError },
    },
    destination,
  );
}
