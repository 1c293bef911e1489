import { type DestinationStream, type Logger, pino } from 'pino';
import { serializeLoggedError } from './log-errors.js';

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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: redactedPaths, censor: '[redacted]' },
      // A failed statement's SQL (and the values in it) never reaches the log.
      serializers: { err: serializeLoggedError },
    },
    destination,
  );
}
