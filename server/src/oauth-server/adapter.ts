import type { EntityManager } from '@mikro-orm/postgresql';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { sha256Hex } from '../crypto/index.js';
import type { Clock } from '../platform/clock.js';
import type { Orm } from '../platform/db.js';

/** Marks a stored payload whose `jti` (the id itself, often the token value) was stripped before storing. */
const HAD_JTI = '__jti';
const TABLE = 'oauth_server_record';
const PRUNE_INTERVAL_MS = 3_600_000;
const PRUNE_GRACE_MS = 86_400_000;
/** How long a registered client lives past its registration or the last grant or token issued to it. */
const CLIENT_TTL_MS = 30 * 86_400_000;
/** The models that belong to a grant and die with it. */
const GRANT_BOUND = new Set(['AccessToken', 'RefreshToken', 'AuthorizationCode']);

export interface StoredRecord {
  readonly model: string;
  readonly payload: AdapterPayload;
  readonly grantId: string | null;
  readonly expiresAt: Date | null;
}

const hashOf = (id: string) => sha256Hex(id);

/**
 * An interaction carries its session's id (`session.cookie`: the live session cookie's value). oidc-provider
 * never reads it back, so it is stored as its SHA-256 only (`cookieHash`) and not handed back on read.
 */
function withoutSessionCookie(payload: AdapterPayload): AdapterPayload {
  const session = payload.session as (Record<string, unknown> & { cookie?: unknown }) | undefined;
  if (typeof session?.cookie !== 'string') return payload;
  const { cookie, ...rest } = session;
  return { ...payload, session: { ...rest, cookieHash: sha256Hex(cookie) } } as AdapterPayload;
}

function withoutCookieHash(payload: AdapterPayload): AdapterPayload {
  const session = payload.session as (Record<string, unknown> & { cookieHash?: unknown }) | undefined;
  if (session?.cookieHash === undefined) return payload;
  const { cookieHash: _hash, ...rest } = session;
  return { ...payload, session: rest } as AdapterPayload;
}

/**
 * oidc-provider's persistence in PostgreSQL (ADR 0033): one table for every model, keyed by the SHA-256 of the
 * id, so the stored rows hand out no live token, code or session id (the opaque token value is its id; its
 * `jti` is stripped from the stored payload and put back on read). Expiry is computed with Gatehouse's clock
 * when a record is written and checked with it when one is read, so a test can expire a token by moving its
 * clock.
 */
export class OAuthRecords {
  private prunedAt = Number.NEGATIVE_INFINITY;
  private readonly revokedListeners: (() => void)[] = [];

  constructor(
    private readonly orm: Orm,
    private readonly clock: Clock,
  ) {}

  private get connection() {
    return this.orm.em.getConnection();
  }

  async upsert(model: string, id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const { jti, ...rest } = payload as AdapterPayload & { jti?: string };
    const stored = withoutSessionCookie(jti === id ? { ...rest, [HAD_JTI]: true } : payload);
    const now = this.clock.now().getTime();
    // A registered client lives 30 days unless a grant or token issued to it keeps it (see below).
    const expiresAt =
      expiresIn > 0
        ? new Date(now + expiresIn * 1000)
        : model === 'Client'
          ? new Date(now + CLIENT_TTL_MS)
          : null;
    const grantId = model === 'Grant' ? id : (payload.grantId ?? null);
    const accountId = payload.accountId ?? payload.session?.accountId ?? null;
    const clientId = model === 'Client' ? id : (payload.clientId ?? null);
    // A token or code is stored only while its grant lives: one issued by a request that raced a revocation
    // (a refresh token consumed twice at once) is never stored, so it never works.
    const grantLives = GRANT_BOUND.has(model) && grantId !== null;
    await this.connection.execute(
      `insert into ${TABLE} (model, id_hash, payload, grant_id, uid, expires_at, consumed_at, account_id, client_id)
       select ?, ?, ?::jsonb, ?, ?, ?::timestamptz, null, ?, ?
       ${grantLives ? `where exists (select 1 from ${TABLE} where model = 'Grant' and grant_id = ? for share)` : ''}
       on conflict (model, id_hash) do update
         set payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
             expires_at = excluded.expires_at, account_id = excluded.account_id,
             client_id = excluded.client_id`,
      [
        model,
        hashOf(id),
        JSON.stringify(stored),
        grantId,
        payload.uid ?? null,
        expiresAt,
        accountId,
        clientId,
        ...(grantLives ? [grantId] : []),
      ],
      'run',
    );
    if ((model === 'Grant' || GRANT_BOUND.has(model)) && clientId !== null) {
      // The registration lives at least as long as what was issued to it, and 30 days past its last use;
      // rewritten at most once a day per client (a day ahead, so it never expires before its tokens).
      const keep = new Date(Math.max(now + CLIENT_TTL_MS, expiresAt?.getTime() ?? 0) + PRUNE_GRACE_MS);
      await this.connection.execute(
        `update ${TABLE} set expires_at = ? where model = 'Client' and client_id = ? and expires_at < ?`,
        [keep, clientId, new Date(keep.getTime() - PRUNE_GRACE_MS)],
        'run',
      );
    }
  }

  /**
   * The live record of `id`: null when absent or expired by Gatehouse's clock (with `includeExpired`, an
   * expired record not yet pruned is returned too: its `expiresAt` tells).
   */
  async find(model: string, id: string, includeExpired = false): Promise<StoredRecord | null> {
    const rows = await this.connection.execute<
      {
        payload: AdapterPayload;
        grant_id: string | null;
        expires_at: Date | null;
        consumed_at: Date | null;
      }[]
    >(
      `select payload, grant_id, expires_at, consumed_at from ${TABLE}
       where model = ? and id_hash = ? and (? or expires_at is null or expires_at > ?)`,
      [model, hashOf(id), includeExpired, this.clock.now()],
      'all',
    );
    const row = rows[0];
    return row ? this.toRecord(model, id, row) : null;
  }

  async findByUid(model: string, uid: string): Promise<AdapterPayload | undefined> {
    const rows = await this.connection.execute<
      {
        payload: AdapterPayload;
        grant_id: string | null;
        expires_at: Date | null;
        consumed_at: Date | null;
      }[]
    >(
      `select payload, grant_id, expires_at, consumed_at from ${TABLE}
       where model = ? and uid = ? and (expires_at is null or expires_at > ?) limit 1`,
      [model, uid, this.clock.now()],
      'all',
    );
    const row = rows[0];
    if (!row) return undefined;
    // The session's id is its jti: it is not stored, so a session found by uid is returned without one
    // (oidc-provider looks sessions up by uid only to end them; it keeps the id it was given otherwise).
    const { [HAD_JTI]: _had, ...payload } = row.payload as AdapterPayload & { [HAD_JTI]?: boolean };
    return this.withConsumed(payload, row.consumed_at);
  }

  private toRecord(
    model: string,
    id: string,
    row: {
      payload: AdapterPayload;
      grant_id: string | null;
      expires_at: Date | null;
      consumed_at: Date | null;
    },
  ): StoredRecord {
    const { [HAD_JTI]: had, ...rest } = row.payload as AdapterPayload & { [HAD_JTI]?: boolean };
    const payload = this.withConsumed(had ? { ...rest, jti: id } : rest, row.consumed_at);
    return {
      model,
      payload,
      grantId: row.grant_id,
      expiresAt: row.expires_at ? new Date(row.expires_at) : null,
    };
  }

  private withConsumed(stored: AdapterPayload, consumedAt: Date | null): AdapterPayload {
    const payload = withoutCookieHash(stored);
    return consumedAt ? { ...payload, consumed: Math.floor(new Date(consumedAt).getTime() / 1000) } : payload;
  }

  /** Calls `listener` whenever this adapter revokes a grant on its own (a lost race to consume a token). */
  onGrantRevoked(listener: () => void): void {
    this.revokedListeners.push(listener);
  }

  /**
   * Marks a code or refresh token used, atomically: only the request whose update changes the row may go on.
   * Two requests racing with the same token both read it unconsumed; the loser finds it already consumed (or
   * gone) here, and then the whole grant is revoked and the request refused with `invalid_grant`, exactly as
   * a later reuse is (ADR 0034).
   */
  async consume(model: string, id: string): Promise<void> {
    const result = await this.connection.execute<{ affectedRows?: number }>(
      `update ${TABLE} set consumed_at = ? where model = ? and id_hash = ? and consumed_at is null`,
      [this.clock.now(), model, hashOf(id)],
      'run',
    );
    if ((result.affectedRows ?? 0) > 0) return;
    const [row] = await this.connection.execute<{ grant_id: string | null }[]>(
      `select grant_id from ${TABLE} where model = ? and id_hash = ?`,
      [model, hashOf(id)],
      'all',
    );
    if (row?.grant_id) await this.revokeGrant(row.grant_id);
    for (const listener of this.revokedListeners) listener();
    // oidc-provider is loaded only when the authorization server is first used (its import prints a warning
    // on Node 20 and costs startup time); here it is loaded already, since this runs inside one of its requests.
    const { errors } = await import('oidc-provider');
    throw new errors.InvalidGrant('token already used');
  }

  /** Deletes the records of a model with this uid (a session found by uid carries no id to destroy it by). */
  async destroyByUid(model: string, uid: string): Promise<void> {
    await this.connection.execute(`delete from ${TABLE} where model = ? and uid = ?`, [model, uid], 'run');
  }

  async destroy(model: string, id: string): Promise<void> {
    await this.connection.execute(
      `delete from ${TABLE} where model = ? and id_hash = ?`,
      [model, hashOf(id)],
      'run',
    );
  }

  /**
   * Deletes records expired (by Gatehouse's clock) for more than a day, at most once an hour, from whichever
   * request calls it: no timer keeps an idle Gatehouse awake (ADR 0029). Returns the rows deleted.
   */
  async pruneExpired(): Promise<number> {
    const now = this.clock.now().getTime();
    if (now - this.prunedAt < PRUNE_INTERVAL_MS) return 0;
    this.prunedAt = now;
    const result = await this.connection.execute<{ affectedRows?: number }>(
      `delete from ${TABLE} where expires_at < ?`,
      [new Date(now - PRUNE_GRACE_MS)],
      'run',
    );
    return result.affectedRows ?? 0;
  }

  /**
   * Deletes a grant and everything bound to it. The grant goes first: a token being stored for it holds a
   * share lock on it (see `upsert`), so this waits for that insert to commit, and the second statement, with
   * a fresh snapshot, deletes the token too; a token stored after finds no grant and is not stored.
   */
  private async revokeGrant(grantId: string): Promise<void> {
    await this.connection.execute(
      `delete from ${TABLE} where model = 'Grant' and grant_id = ?`,
      [grantId],
      'run',
    );
    await this.connection.execute(`delete from ${TABLE} where grant_id = ?`, [grantId], 'run');
  }

  async revokeByGrantId(model: string, grantId: string): Promise<void> {
    await this.connection.execute(
      `delete from ${TABLE} where model = ? and grant_id = ?`,
      [model, grantId],
      'run',
    );
  }

  /** The adapter class oidc-provider instantiates once per model (`new Adapter('AccessToken')`). */
  adapterClass(): new (model: string) => Adapter {
    const records = this;
    return class RecordsAdapter implements Adapter {
      constructor(private readonly model: string) {}
      upsert(id: string, payload: AdapterPayload, expiresIn: number) {
        return records.upsert(this.model, id, payload, expiresIn);
      }
      async find(id: string) {
        return (await records.find(this.model, id))?.payload;
      }
      findByUid(uid: string) {
        return records.findByUid(this.model, uid);
      }
      async findByUserCode() {
        return undefined;
      }
      consume(id: string) {
        return records.consume(this.model, id);
      }
      destroy(id: string) {
        return records.destroy(this.model, id);
      }
      revokeByGrantId(grantId: string) {
        return records.revokeByGrantId(this.model, grantId);
      }
    };
  }
}

/**
 * Deletes every grant of one person (optionally for one OAuth client) and every token and code bound to those
 * grants, in the caller's transaction: revoking a Gatehouse client, or suspending or deleting its person,
 * revokes the OAuth grant at once (ADR 0034). Returns the number of grants deleted.
 */
export async function revokeOAuthGrants(
  em: EntityManager,
  filter: { userId: string; oauthClientId?: string | undefined },
): Promise<number> {
  const connection = em.getConnection();
  const tx = em.getTransactionContext();
  const params: string[] = [filter.userId];
  let where = `model = 'Grant' and account_id = ?`;
  if (filter.oauthClientId !== undefined) {
    where += ` and client_id = ?`;
    params.push(filter.oauthClientId);
  }
  const grants = await connection.execute<{ grant_id: string }[]>(
    `select grant_id from ${TABLE} where ${where}`,
    params,
    'all',
    tx,
  );
  // A person's own sign-in state at the authorization server (sessions, interactions) goes with them.
  if (filter.oauthClientId === undefined) {
    await connection.execute(
      `delete from ${TABLE} where account_id = ? and model in ('Session', 'Interaction')`,
      [filter.userId],
      'run',
      tx,
    );
  }
  if (grants.length === 0) return 0;
  await connection.execute(
    `delete from ${TABLE} where grant_id in (${grants.map(() => '?').join(', ')})`,
    grants.map((g) => g.grant_id),
    'run',
    tx,
  );
  return grants.length;
}
