import type { Logger } from 'pino';

/**
 * In the server process every line on stdout and stderr is a JSON log record. Node itself would print
 * warnings and uncaught errors as text, so they are routed through the logger instead; an uncaught error
 * still ends the process (as Node's default does), after it is logged.
 */
export function routeProcessOutputToLog(log: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => log.warn({ err: warning }, 'process warning'));
  const fatal = (what: string) => (error: unknown) => {
    log.fatal({ err: error }, `${what}; exiting`);
    process.exit(1);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled promise rejection'));
}
