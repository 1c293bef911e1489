import { DomainError } from '../platform/errors.js';
import { type DatabaseFailure, databaseFailureOf } from '../platform/log-errors.js';

/**
 * The audit record of a change could not be written, so the change rolled back with it. Answered as 503
 * `AUDIT_UNAVAILABLE` (the caller may retry; nothing was changed), and logged with the database's SQLSTATE
 * only: the failed statement's text never reaches the log.
 */
export class AuditUnavailableError extends DomainError {
  readonly logMessage = 'the audit trail could not be written; the change was rolled back';

  constructor(readonly failure: DatabaseFailure | { type: string }) {
    super(
      'AUDIT_UNAVAILABLE',
      'The audit trail cannot be written right now, so nothing was changed; try again later',
    );
    this.name = 'AuditUnavailableError';
  }
}

/** Domain errors (already typed) pass through; any other failure of an audit append becomes `AUDIT_UNAVAILABLE`. */
export const auditWriteFailed = (error: unknown): DomainError =>
  error instanceof DomainError
    ? error
    : new AuditUnavailableError(
        databaseFailureOf(error) ?? { type: error instanceof Error ? error.name : typeof error },
      );
