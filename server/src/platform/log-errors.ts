import { stdSerializers } from 'pino';

/** What may be logged about a failed SQL statement: its SQLSTATE and names, never its text or values. */
export interface DatabaseFailure {
  type: string;
  sqlState: string;
  severity?: string;
  table?: string;
  constraint?: string;
  routine?: string;
}

const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * A PostgreSQL error (from `pg`, or MikroORM's wrapper of one) reduced to what is safe to log. The driver puts
 * the whole statement in `message` (`insert into … - permission denied`), and `detail`/`where` can quote
 * values or SQL, so none of those are kept. Undefined for errors that did not come from the database.
 */
export function databaseFailureOf(error: unknown): DatabaseFailure | undefined {
  if (!(error instanceof Error)) return undefined;
  const fields = error as Error & Record<string, unknown>;
  const code = text(fields.sqlState) ?? text(fields.code);
  if (!code || !/^[0-9A-Z]{5}$/.test(code) || !text(fields.severity)) return undefined;
  return {
    type: error.name,
    sqlState: code,
    severity: text(fields.severity),
    table: text(fields.table),
    constraint: text(fields.constraint),
    routine: text(fields.routine),
  };
}

/** pino's `err` serializer: database errors lose their statement text; everything else is logged as usual. */
export const serializeLoggedError = (error: unknown) =>
  databaseFailureOf(error) ?? stdSerializers.err(error as Error);
