import { Readable } from 'node:stream';
import { AuditExportParams, httpStatusOfCode } from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyInstance } from 'fastify';
import { requireRole, withTransaction } from '../platform/context.js';
import { DomainError, fieldErrorsOf, validationFailed } from '../platform/errors.js';
import { type PortalDeps, portalRequestContext } from '../trpc/context.js';
import { emitAudit } from './emit.js';
import { exportLines, exportRange } from './export.js';

export const AUDIT_EXPORT_PATH = '/api/audit/export';

/**
 * Streams a time range of the trail as JSONL for auditors and admins. Every line carries `hash` and
 * `prevHash`, so the receiver verifies it with `gatehouse audit verify --file`. The export itself is audited
 * (who took which range) before the first byte leaves. A portal session may download only by navigating
 * from our own pages or the address bar, never from another site.
 */
export function registerAuditExport(portal: FastifyInstance, deps: PortalDeps): void {
  portal.get(AUDIT_EXPORT_PATH, async (req, reply) => {
    reply.header('cache-control', 'no-store');
    try {
      const { ctx, authentication } = await portalRequestContext(deps, req);
      const em = ctx.em;
      requireRole(ctx, 'auditor', 'admin');
      const fetchSite = req.headers['sec-fetch-site'];
      if (
        authentication.kind === 'session' &&
        fetchSite !== undefined &&
        !['same-origin', 'none'].includes(String(fetchSite))
      ) {
        throw new DomainError('CSRF_REJECTED', 'Request refused: cross-site download');
      }
      const parsed = AuditExportParams.safeParse(req.query ?? {});
      if (!parsed.success) throw validationFailed(fieldErrorsOf(parsed.error.issues));
      const query = {
        since: parsed.data.since ? new Date(parsed.data.since) : undefined,
        until: parsed.data.until ? new Date(parsed.data.until) : undefined,
      };
      if (query.since && query.until && query.since >= query.until) {
        throw validationFailed({ since: ['must be before until'] });
      }
      const range = await exportRange(em, query);
      await withTransaction(ctx, (tx) =>
        emitAudit(tx, {
          action: 'audit.export',
          details: {
            since: parsed.data.since ?? null,
            until: parsed.data.until ?? null,
            fromId: range.fromId,
            throughId: range.throughId,
          },
        }),
      );
      const name = `gatehouse-audit-${range.fromId ?? 0}-${range.throughId ?? 0}.jsonl`;
      return reply
        .type('application/x-ndjson; charset=utf-8')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(Readable.from(exportLines(em.fork() as EntityManager, range)));
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
      return reply.code(httpStatusOfCode[error.code]).send({
        error: { code: error.code, message: error.message, fieldErrors: error.fieldErrors },
      });
    }
  });
}
