import type { Logger } from 'pino';
import type { Clock } from '../platform/clock.js';
import { throttleSourceOf } from '../platform/ip-source.js';
import type { AuditRecord } from './chain.js';
import { toAuditRecord } from './emit.js';

/** Why an unauthenticated or mismatched request was refused. */
export type RefusalKind =
  /** An unknown or malformed client key on `/mcp`. */
  | 'unknown_key'
  /** A request refused by a failed-authentication throttle without being checked. */
  | 'throttled'
  /** A session id presented with another client's key. */
  | 'session_mismatch'
  /** A credential in the query string (refused: URLs end up in logs and histories). */
  | 'query_token'
  /** A body that is not a JSON-RPC message, or one the endpoint refuses to parse. */
  | 'protocol_error'
  /** An unknown or revoked API token on the portal port. */
  | 'unknown_api_token'
  /** A portal sign-in refused by the sign-in throttles. */
  | 'login_throttled'
  /** A single sign-on start refused: too many sign-ins in flight from one source. */
  | 'sso_throttled'
  /** A single sign-on start or callback for a provider that does not exist or is disabled. */
  | 'sso_unknown_provider'
  /** A single sign-on callback whose `state` Gatehouse never issued. */
  | 'sso_unknown_state'
  /** An anonymous client registration (DCR, or a first CIMD use) refused by its throttles. */
  | 'oauth_registration_throttled'
  /** A token request the authorization server refused (bad code, verifier, client...). */
  | 'oauth_token_refused';

interface Pending {
  readonly kind: RefusalKind;
  /** The first address seen from the source (a record's `ip`); OVERFLOW_IP for the overflow bucket. */
  readonly ip: string;
  /** What refusals are counted under: the address, or its /64 for IPv6 (see `throttleSourceOf`). */
  readonly source: string;
  readonly windowStart: number;
  /** Refusals since the record written for this window, not yet written. */
  count: number;
  requestId: string;
}

const MAX_KEYS = 10_000;
const COUNTED: Promise<void> = Promise.resolve();
/**
 * At most this many sources per kind and window get a record of their own at once; the rest of that window
 * are counted together under OVERFLOW_IP, so spreading an attack over many addresses cannot flood the trail.
 */
export const MAX_IMMEDIATE_PER_KIND = 100;
/** The source "IP" under which refusals are counted once a kind's or the memory's budget is spent. */
export const OVERFLOW_IP = '*';

/**
 * Audits refusals without letting an attack flood the trail (ADR 0018): per (kind, source) and window (a
 * source is an IPv4 address or an IPv6 /64), the first refusal is written at once as one `auth.refused`
 * record, for at most MAX_IMMEDIATE_PER_KIND sources per kind; the rest of that window are counted and
 * written as one more record per source (or one for all overflowing sources) when the window is flushed.
 * Records go through the durable group-commit writer; a failed write is logged, never thrown at a caller.
 */
export class RefusalAudit {
  private readonly pending = new Map<string, Pending>();
  private readonly immediate = new Map<RefusalKind, { windowStart: number; written: number }>();
  private readonly writes = new Set<Promise<void>>();
  /** The flush, armed only while some (kind, source) is remembered: an unattacked Gatehouse has no timer. */
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      append(record: AuditRecord): Promise<void>;
      clock: Clock;
      windowMs: number;
      log: Logger;
    },
  ) {}

  /** Whether the periodic flush is armed (exactly while refusals are remembered). */
  get flushArmed(): boolean {
    return this.timer !== undefined;
  }

  private syncTimer(): void {
    if (this.pending.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    } else if (!this.timer) {
      this.timer = setInterval(() => this.flush(), this.deps.windowMs);
      this.timer.unref();
    }
  }

  /**
   * Counts one refusal; cheap (a map lookup) except for the first of its (kind, source) in a window, whose
   * record is written at once. The promise settles when that record is durable (at once when the refusal was
   * only counted) and never rejects: callers await it before answering, so a client that has seen its refusal
   * can find it in the trail.
   */
  record(
    kind: RefusalKind,
    ip: string,
    requestId = '',
    details: Record<string, unknown> = {},
  ): Promise<void> {
    const now = this.deps.clock.now().getTime();
    const windowStart = Math.floor(now / this.deps.windowMs) * this.deps.windowMs;
    let source = throttleSourceOf(ip);
    let key = `${kind}\u0000${source}`;
    const current = this.pending.get(key);
    if (!(current && current.windowStart === windowStart)) {
      // A new source this window: written at once only while the kind has budget for it (and memory allows).
      const full = !current && this.pending.size >= MAX_KEYS;
      if (full || !this.takeImmediate(kind, windowStart)) {
        source = OVERFLOW_IP;
        key = `${kind}\u0000${source}`;
      }
    }
    const entry = this.pending.get(key);
    if (entry && entry.windowStart === windowStart) {
      entry.count += 1;
      entry.requestId = requestId;
      return COUNTED;
    }
    if (entry) this.write(entry);
    const at = source === OVERFLOW_IP ? OVERFLOW_IP : ip;
    this.pending.set(key, { kind, ip: at, source, windowStart, count: 0, requestId });
    this.syncTimer();
    return this.write({ kind, ip: at, source, windowStart, count: 1, requestId }, details);
  }

  /** Whether one more (kind, source) may be written at once in this window; counts it if so. */
  private takeImmediate(kind: RefusalKind, windowStart: number): boolean {
    const used = this.immediate.get(kind);
    if (!used || used.windowStart !== windowStart) {
      this.immediate.set(kind, { windowStart, written: 1 });
      return true;
    }
    if (used.written >= MAX_IMMEDIATE_PER_KIND) return false;
    used.written += 1;
    return true;
  }

  /** Writes the counted refusals of every (kind, IP); forgets sources whose window is over. */
  flush(): Promise<void> {
    const now = this.deps.clock.now().getTime();
    for (const [key, entry] of this.pending) {
      if (entry.count > 0) {
        this.write(entry);
        entry.count = 0;
      }
      if (entry.windowStart + this.deps.windowMs <= now) this.pending.delete(key);
    }
    this.syncTimer();
    return this.settled();
  }

  /** Flushes and waits for every write; later refusals are still accepted (and flushed by the caller). */
  async close(): Promise<void> {
    for (const entry of this.pending.values()) {
      if (entry.count > 0) this.write(entry);
    }
    this.pending.clear();
    this.syncTimer();
    await this.settled();
  }

  private async settled(): Promise<void> {
    await Promise.all([...this.writes]);
  }

  private write(entry: Pending, details: Record<string, unknown> = {}): Promise<void> {
    const ctx = {
      actor: { type: 'anonymous' as const },
      requestId: entry.requestId,
      ip: entry.ip === OVERFLOW_IP ? '' : entry.ip,
      clock: this.deps.clock,
    };
    const record = toAuditRecord(ctx, {
      action: 'auth.refused',
      outcome: 'denied',
      reason: entry.kind,
      details: {
        ...details,
        kind: entry.kind,
        count: entry.count,
        windowStart: new Date(entry.windowStart).toISOString(),
        windowSeconds: this.deps.windowMs / 1000,
        ...(entry.ip === OVERFLOW_IP && { sources: 'many' }),
        ...(entry.source !== entry.ip && entry.ip !== OVERFLOW_IP && { source: entry.source }),
      },
    });
    const write = this.deps
      .append(record)
      .catch((error: unknown) =>
        this.deps.log.error({ err: error, kind: entry.kind }, 'could not audit refused requests'),
      )
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
    return write;
  }
}
