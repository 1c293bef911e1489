import { sha256Hex } from '../crypto/index.js';
import type { Clock } from '../platform/clock.js';
import type { Orm } from '../platform/db.js';
import {
  boundedJson,
  boundedLogLevel,
  boundedString,
  boundedSubscriptions,
  SESSION_LIMITS,
  type SessionLogLevel,
} from './session-bounds.js';

export { SessionBoundsError, type SessionLogLevel } from './session-bounds.js';

/** What outlives a request of an MCP session, in a form any Gatehouse process on the database can serve. */
export interface SessionRecord {
  /** The id the client presents (`Mcp-Session-Id`). Held in process memory only; the table has its hash. */
  readonly id: string;
  /** The hash of the client key that opened the session; only that key may use it. */
  readonly keyHash: string;
  readonly clientId: string;
  readonly userId: string;
  /** The passthrough view's MCP slug (`/mcp/<slug>`), or null for the aggregate view (`/mcp`). */
  readonly view: string | null;
  readonly protocolVersion: string;
  readonly clientCapabilities: Readonly<Record<string, unknown>>;
  readonly clientInfo: Readonly<Record<string, unknown>>;
  readonly logLevel: SessionLogLevel;
  /** Resource URIs the session subscribed to, as the client named them. */
  readonly subscriptions: readonly string[];
  readonly createdAt: Date;
  /** As this process knows it; persisted lazily (see {@link SessionStore.touch}). */
  readonly lastActivityAt: Date;
}

export type NewSession = Omit<
  SessionRecord,
  'logLevel' | 'subscriptions' | 'createdAt' | 'lastActivityAt'
> & {
  readonly logLevel?: SessionLogLevel;
  readonly subscriptions?: readonly string[];
};

/** What a session may change after it opened (write-through). */
export interface SessionPatch {
  readonly logLevel?: SessionLogLevel;
  readonly subscriptions?: readonly string[];
}

export interface SessionStoreOptions {
  /** Sessions held in memory at most (least recently used evicted; an evicted one costs one read). */
  readonly maxCached?: number;
  /** A session's last activity is written at most this often (default one minute). */
  readonly touchIntervalMs?: number;
  /** How long touches due to be written wait to be batched into one statement (default 5 s). */
  readonly flushDelayMs?: number;
  /** A background flush failed; the touches are kept and retried with the next one. */
  readonly onFlushError?: (error: unknown) => void;
}

export interface ExpiredSession {
  /** The table's key; the raw id is known only to a process that holds the session (see `local`). */
  readonly idHash: string;
  readonly clientId: string;
  readonly userId: string;
  readonly lastActivityAt: Date;
}

export interface ExpiredSessions {
  /** Rows deleted, every process's sessions included. */
  readonly count: number;
  /** Every session expired, for their audit records (a crashed process's sessions included). */
  readonly sessions: readonly ExpiredSession[];
  /** Ids of the expired sessions this process held (so it can close their streams). */
  readonly local: readonly string[];
}

interface Entry {
  record: { -readonly [K in keyof SessionRecord]: SessionRecord[K] };
  readonly idHash: string;
  /** Last activity as last written to (or read from) the row, ms since the epoch. */
  persistedActivity: number;
}

interface SessionRow {
  key_hash: string;
  client_id: string;
  user_id: string;
  view: string | null;
  protocol_version: string;
  client_capabilities: Record<string, unknown>;
  client_info: Record<string, unknown>;
  log_level: SessionLogLevel;
  subscriptions: string[];
  created_at: Date | string;
  last_activity_at: Date | string;
}

const COLUMNS = `key_hash, client_id, user_id, view, protocol_version, client_capabilities, client_info,
  log_level, subscriptions, created_at, last_activity_at`;

/** The table's key for a session id: a leaked table hands out no live id. */
export const sessionIdHash = (id: string): string => sha256Hex(id);

/**
 * MCP sessions as a row plus a cache (ADR 0030). The row (`mcp_session`) lets another process serve a session
 * this one opened; the cache makes a warm session cost no database statement at all: `getFor` answers from
 * memory, `touch` only records the time, and last activity reaches the row at most once per
 * `touchIntervalMs` per session, batched into one statement. The session id is never authentication:
 * `getFor` answers only when the key hash matches the one that opened the session.
 *
 * Not handled here (issue 17): telling other processes' caches that a session ended or changed.
 */
export class SessionStore {
  private readonly cache = new Map<string, Entry>();
  /** Touches due to be written: id hash → last activity (ms). Independent of the cache's evictions. */
  private readonly dirty = new Map<string, number>();
  private readonly maxCached: number;
  private readonly touchIntervalMs: number;
  private readonly flushDelayMs: number;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Moves on every end and expiry, so a read that raced with one does not put the session back. */
  private endings = 0;

  constructor(
    private readonly orm: Orm,
    private readonly clock: Clock,
    private readonly options: SessionStoreOptions = {},
  ) {
    this.maxCached = options.maxCached ?? 10_000;
    this.touchIntervalMs = options.touchIntervalMs ?? 60_000;
    this.flushDelayMs = options.flushDelayMs ?? 5_000;
  }

  /** Records a new session (one insert), bounded first: a value over its bound throws `SessionBoundsError`. */
  async create(input: NewSession): Promise<SessionRecord> {
    const now = this.clock.now();
    const id = boundedString('id', input.id, SESSION_LIMITS.idLength) as string;
    const record: Entry['record'] = {
      id,
      keyHash: boundedString('keyHash', input.keyHash, SESSION_LIMITS.keyHashLength) as string,
      clientId: boundedString('clientId', input.clientId, SESSION_LIMITS.entityIdLength) as string,
      userId: boundedString('userId', input.userId, SESSION_LIMITS.entityIdLength) as string,
      view: boundedString('view', input.view, SESSION_LIMITS.viewLength, true),
      protocolVersion: boundedString(
        'protocolVersion',
        input.protocolVersion,
        SESSION_LIMITS.protocolVersionLength,
      ) as string,
      clientCapabilities: input.clientCapabilities,
      clientInfo: input.clientInfo,
      logLevel: boundedLogLevel(input.logLevel ?? 'info'),
      subscriptions: boundedSubscriptions(input.subscriptions ?? []),
      createdAt: now,
      lastActivityAt: now,
    };
    const capabilities = boundedJson(
      'clientCapabilities',
      input.clientCapabilities,
      SESSION_LIMITS.clientCapabilitiesBytes,
    );
    const info = boundedJson('clientInfo', input.clientInfo, SESSION_LIMITS.clientInfoBytes);
    // Copies, so a caller mutating what it passed cannot change the cached session.
    record.clientCapabilities = Object.freeze(JSON.parse(capabilities) as Record<string, unknown>);
    record.clientInfo = Object.freeze(JSON.parse(info) as Record<string, unknown>);
    const idHash = sessionIdHash(id);
    await this.orm.em.getConnection().execute(
      `insert into mcp_session (id_hash, ${COLUMNS})
       values (?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?::jsonb, ?, ?)`,
      [
        idHash,
        record.keyHash,
        record.clientId,
        record.userId,
        record.view,
        record.protocolVersion,
        capabilities,
        info,
        record.logLevel,
        JSON.stringify(record.subscriptions),
        now,
        now,
      ],
      'run',
    );
    this.remember({ record, idHash, persistedActivity: now.getTime() });
    return record;
  }

  /**
   * The session `id` if the key with hash `keyHash` opened it; undefined otherwise (unknown, ended, or
   * another key's: the caller cannot tell which). From memory when cached, else one row read.
   */
  async getFor(id: string, keyHash: string): Promise<SessionRecord | undefined> {
    if (typeof id !== 'string' || id.length === 0 || id.length > SESSION_LIMITS.idLength) return undefined;
    const cached = this.cache.get(id);
    if (cached) {
      if (cached.record.keyHash !== keyHash) return undefined;
      // Most recently used last, so eviction takes the coldest.
      this.cache.delete(id);
      this.cache.set(id, cached);
      return cached.record;
    }
    if (
      typeof keyHash !== 'string' ||
      keyHash.length > SESSION_LIMITS.keyHashLength ||
      keyHash.includes('\u0000')
    ) {
      return undefined;
    }
    const endings = this.endings;
    const idHash = sessionIdHash(id);
    const rows = await this.orm.em
      .getConnection()
      .execute<SessionRow[]>(`select ${COLUMNS} from mcp_session where id_hash = ? and key_hash = ?`, [
        idHash,
        keyHash,
      ]);
    const row = rows[0];
    if (!row) return undefined;
    const entry = this.entryOf(id, idHash, row);
    const raced = this.cache.get(id);
    if (raced) return raced.record.keyHash === keyHash ? raced.record : undefined;
    if (endings === this.endings) this.remember(entry);
    return entry.record;
  }

  /**
   * Notes activity on a cached session: in memory only. The row learns of it at most once per
   * `touchIntervalMs`, in one batched statement for every session due (a few seconds later).
   */
  touch(id: string): void {
    const entry = this.cache.get(id);
    if (!entry) return;
    const now = this.clock.now();
    entry.record.lastActivityAt = now;
    if (now.getTime() - entry.persistedActivity < this.touchIntervalMs) return;
    this.markDirty(entry, now.getTime());
  }

  /**
   * Changes the session's log level or subscriptions: the row first, then the cache. Returns false (and
   * forgets the session) when its row is gone, e.g. ended by another process.
   */
  async update(id: string, patch: SessionPatch): Promise<boolean> {
    const logLevel = patch.logLevel === undefined ? null : boundedLogLevel(patch.logLevel);
    const subscriptions =
      patch.subscriptions === undefined ? null : boundedSubscriptions(patch.subscriptions);
    if (id.length > SESSION_LIMITS.idLength) return false;
    const idHash = sessionIdHash(id);
    const result = await this.orm.em.getConnection().execute<{ affectedRows?: number }>(
      `update mcp_session set log_level = coalesce(?, log_level),
         subscriptions = coalesce(?::jsonb, subscriptions)
       where id_hash = ?`,
      [logLevel, subscriptions && JSON.stringify(subscriptions), idHash],
      'run',
    );
    const entry = this.cache.get(id);
    if (!result.affectedRows) {
      if (entry) this.forget(id, entry.idHash);
      return false;
    }
    if (entry) {
      if (logLevel) entry.record.logLevel = logLevel;
      if (subscriptions) entry.record.subscriptions = subscriptions;
    }
    return true;
  }

  /** Ends the session: deletes its row and forgets it here. False when no row was there. */
  async end(id: string): Promise<boolean> {
    if (id.length > SESSION_LIMITS.idLength) return false;
    const idHash = sessionIdHash(id);
    this.forget(id, idHash);
    const result = await this.orm.em
      .getConnection()
      .execute<{ affectedRows?: number }>(`delete from mcp_session where id_hash = ?`, [idHash], 'run');
    return (result.affectedRows ?? 0) > 0;
  }

  /** Sessions of `clientId` open in every process (one read; for the per-client session limit). */
  async countForClient(clientId: string): Promise<number> {
    const rows = await this.orm.em
      .getConnection()
      .execute<{ n: number }[]>(`select count(*)::int as n from mcp_session where client_id = ?`, [clientId]);
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Ends every session, of every process, idle since before `olderThan` (one delete), after writing this
   * process's own unwritten activity. Another process's activity can be up to `touchIntervalMs` behind, so
   * the idle timeout must be well above it.
   */
  async expireIdle(olderThan: Date): Promise<ExpiredSessions> {
    for (const entry of this.cache.values()) {
      const at = entry.record.lastActivityAt.getTime();
      if (at > entry.persistedActivity) this.markDirty(entry, at);
    }
    await this.flushTouches();
    this.endings++;
    const rows = await this.orm.em
      .getConnection()
      .execute<{ id_hash: string; client_id: string; user_id: string; last_activity_at: Date | string }[]>(
        `delete from mcp_session where last_activity_at < ?
         returning id_hash, client_id, user_id, last_activity_at`,
        [olderThan],
      );
    const sessions = rows.map((row) => ({
      idHash: row.id_hash,
      clientId: row.client_id,
      userId: row.user_id,
      lastActivityAt: new Date(row.last_activity_at),
    }));
    const expired = new Set(rows.map((row) => row.id_hash));
    const local: string[] = [];
    for (const [id, entry] of this.cache) {
      if (!expired.has(entry.idHash)) continue;
      local.push(id);
      this.forget(id, entry.idHash);
    }
    return { count: rows.length, sessions, local };
  }

  /** Writes every touch due, in one statement; waits for a flush already under way. */
  flushTouches(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flushing = this.flushing.then(() => this.writeTouches());
    return this.flushing;
  }

  /** For shutdown: writes what is due and stops the batching timer. */
  async close(): Promise<void> {
    await this.flushTouches();
  }

  /** Sessions held in memory (for metrics and tests). */
  get cachedCount(): number {
    return this.cache.size;
  }

  private async writeTouches(): Promise<void> {
    if (this.dirty.size === 0) return;
    const batch = [...this.dirty].map(([h, at]) => ({ h, at: new Date(at).toISOString() }));
    this.dirty.clear();
    try {
      await this.orm.em.getConnection().execute(
        `update mcp_session set last_activity_at = greatest(last_activity_at, t.at)
         from jsonb_to_recordset(?::jsonb) as t(h text, at timestamptz)
         where mcp_session.id_hash = t.h`,
        [JSON.stringify(batch)],
        'run',
      );
    } catch (error) {
      // Kept for the next flush (unless newer activity replaced them meanwhile).
      for (const { h, at } of batch) {
        const time = Date.parse(at);
        if ((this.dirty.get(h) ?? 0) < time) this.dirty.set(h, time);
      }
      throw error;
    }
  }

  private markDirty(entry: Entry, at: number): void {
    entry.persistedActivity = at;
    this.dirty.set(entry.idHash, at);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushTouches().catch((error: unknown) => this.options.onFlushError?.(error));
    }, this.flushDelayMs);
    this.timer.unref();
  }

  private remember(entry: Entry): void {
    this.cache.set(entry.record.id, entry);
    for (const id of this.cache.keys()) {
      if (this.cache.size <= this.maxCached) break;
      this.cache.delete(id);
    }
  }

  private forget(id: string, idHash: string): void {
    this.endings++;
    this.cache.delete(id);
    this.dirty.delete(idHash);
  }

  private entryOf(id: string, idHash: string, row: SessionRow): Entry {
    const lastActivityAt = new Date(row.last_activity_at);
    return {
      idHash,
      persistedActivity: lastActivityAt.getTime(),
      record: {
        id,
        keyHash: row.key_hash,
        clientId: row.client_id,
        userId: row.user_id,
        view: row.view,
        protocolVersion: row.protocol_version,
        clientCapabilities: Object.freeze(row.client_capabilities),
        clientInfo: Object.freeze(row.client_info),
        logLevel: row.log_level,
        subscriptions: Object.freeze([...row.subscriptions]),
        createdAt: new Date(row.created_at),
        lastActivityAt,
      },
    };
  }
}
